#include "kernels/cpu/thread_pool.h"

#include <immintrin.h>

namespace sb::cpu {

namespace {
// Workers spin this many polls before sleeping on the generation counter: long
// enough to catch the next op of a step, short enough not to burn an idle core.
constexpr int kSpinPolls = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  // Workers start from generation 0 even if they first run after a dispatch.
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(0); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  publish();
  for (auto& w : workers_) w.join();
}

void ThreadPool::publish() {
  // seq_cst on both sides: either a worker about to sleep sees the new
  // generation, or this sees its sleepers_ increment and wakes it.
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(wake_mutex_); }
    wake_.notify_all();
  }
}

void ThreadPool::drain() {
  for (;;) {
    const int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
    if (t >= n_tasks_) return;
    fn_(ctx_, t);
  }
}

void ThreadPool::dispatch(int64_t n_tasks, TaskFn fn, void* ctx) {
  fn_ = fn;
  ctx_ = ctx;
  n_tasks_ = n_tasks;
  next_task_.store(0, std::memory_order_relaxed);
  busy_workers_.store(n_threads_ - 1, std::memory_order_relaxed);
  publish();
  drain();
  while (busy_workers_.load(std::memory_order_acquire) != 0) _mm_pause();
}

void ThreadPool::worker_loop(uint32_t seen) {
  for (;;) {
    int polls = 0;
    uint32_t now;
    while ((now = generation_.load(std::memory_order_acquire)) == seen) {
      if (++polls < kSpinPolls) {
        _mm_pause();
      } else {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_.load() != seen; });
        sleepers_.fetch_sub(1);
      }
    }
    seen = now;
    if (stop_.load()) return;
    drain();
    busy_workers_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace sb::cpu
