#include "kernels/cpu/thread_pool.h"

#include <immintrin.h>

namespace sb::cpu {

namespace {
// Polls before a worker sleeps, or before the caller starts yielding its core
// while workers finish claimed tasks: long enough to catch the next op of a
// step, short enough not to burn an idle core.
constexpr int kSpinPolls = 20000;
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads < 1 ? 1 : n_threads) {
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  publish(static_cast<uint64_t>(++generation_) << 32 | kClosed);
  for (auto& w : workers_) w.join();
}

void ThreadPool::publish(uint64_t job) {
  // seq_cst on both sides: either a worker about to sleep sees the new job, or
  // this sees its sleepers_ increment and wakes it.
  job_.store(job);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lock(wake_mutex_); }
    wake_.notify_all();
  }
}

void ThreadPool::work_on(uint64_t job) {
  // Acquire loads: if any of these reads a later job's value, the close of this
  // job happened before, and the compare-exchange below must fail.
  const TaskFn fn = fn_.load(std::memory_order_acquire);
  void* const ctx = ctx_.load(std::memory_order_acquire);
  const int64_t n_tasks = n_tasks_.load(std::memory_order_acquire);
  const uint32_t generation = generation_of(job);
  for (;;) {
    const uint64_t task = job & kClosed;
    if (static_cast<int64_t>(task) >= n_tasks) return;
    if (job_.compare_exchange_weak(job, job + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      fn(ctx, static_cast<int64_t>(task));
      done_.fetch_add(1, std::memory_order_release);
      ++job;
    } else if (generation_of(job) != generation) {
      return;
    }
  }
}

void ThreadPool::dispatch(int64_t n_tasks, TaskFn fn, void* ctx) {
  fn_.store(fn, std::memory_order_release);
  ctx_.store(ctx, std::memory_order_release);
  n_tasks_.store(n_tasks, std::memory_order_release);
  done_.store(0, std::memory_order_relaxed);
  const uint64_t job = static_cast<uint64_t>(++generation_) << 32;
  publish(job);
  work_on(job);
  for (int polls = 0; done_.load(std::memory_order_acquire) != n_tasks; ++polls) {
    if (polls < kSpinPolls) {
      _mm_pause();
    } else {
      std::this_thread::yield();
    }
  }
  // Close the job before the next one rewrites fn_/ctx_/n_tasks_.
  job_.store(job | kClosed, std::memory_order_release);
}

void ThreadPool::worker_loop() {
  uint32_t seen = 0;
  for (;;) {
    uint64_t job;
    int polls = 0;
    while (generation_of(job = job_.load(std::memory_order_acquire)) == seen) {
      if (++polls < kSpinPolls) {
        _mm_pause();
      } else {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return generation_of(job_.load()) != seen; });
        sleepers_.fetch_sub(1);
      }
    }
    seen = generation_of(job);
    if (stop_.load()) return;
    work_on(job);
  }
}

}  // namespace sb::cpu
