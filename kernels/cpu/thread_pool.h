// A fixed set of worker threads for the CPU kernels (no globals: the CPU backend
// owns one). run() splits [0, n_tasks) over the workers and the calling thread
// and returns when all tasks are done; it never allocates. Not reentrant.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace sb::cpu {

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // n_threads >= 1, the caller included
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Calls fn(task) for every task in [0, n_tasks), spread over the threads.
  template <typename F>
  void run(int64_t n_tasks, F&& fn) {
    if (n_tasks <= 0) return;
    if (n_tasks == 1 || n_threads_ == 1) {
      for (int64_t t = 0; t < n_tasks; ++t) fn(t);
      return;
    }
    dispatch(n_tasks, [](void* ctx, int64_t t) { (*static_cast<F*>(ctx))(t); }, &fn);
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t task);
  void dispatch(int64_t n_tasks, TaskFn fn, void* ctx);
  void worker_loop(uint32_t seen);
  void drain();
  void publish();  // bumps generation_ and wakes sleeping workers

  int n_threads_;
  std::vector<std::thread> workers_;
  // The current job; published by bumping generation_.
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_tasks_ = 0;
  std::atomic<int64_t> next_task_{0};
  std::atomic<int> busy_workers_{0};
  std::atomic<uint32_t> generation_{0};
  std::atomic<bool> stop_{false};
  // Workers that stopped spinning wait on wake_ (not atomic::wait: libstdc++ 12
  // was seen to lose that wake-up at shutdown). sleepers_ lets publish() skip
  // the mutex while every worker is still spinning.
  std::atomic<int> sleepers_{0};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
};

}  // namespace sb::cpu
