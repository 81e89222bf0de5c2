// A fixed set of worker threads for the CPU kernels (no globals: the CPU backend
// owns one). run() splits [0, n_tasks) over the workers and the calling thread
// and returns when all tasks are done; it never allocates. Not reentrant.
// The caller waits only for tasks a worker actually claimed, never for an idle
// worker to wake up, so a descheduled worker (cores shared with other jobs)
// costs nothing unless it holds a task.
#pragma once

#include <algorithm>
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
    // A job holds fewer than kClosed tasks; larger ranges go in slices.
    for (int64_t first = 0; first < n_tasks; first += kMaxJobTasks) {
      auto slice = [&fn, first](int64_t t) { fn(first + t); };
      using Slice = decltype(slice);
      dispatch(std::min<int64_t>(kMaxJobTasks, n_tasks - first),
               [](void* ctx, int64_t t) { (*static_cast<Slice*>(ctx))(t); }, &slice);
    }
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t task);
  // job_ packs (generation << 32) | next unclaimed task. A task is claimed by a
  // compare-exchange on the whole word, so a worker that wakes late can never
  // claim a task of a job other than the one it read fn_/ctx_/n_tasks_ for.
  static constexpr uint64_t kClosed = 0xffffffffu;  // "no task left" marker
  static constexpr int64_t kMaxJobTasks = 0x7fffffff;
  static uint32_t generation_of(uint64_t job) { return static_cast<uint32_t>(job >> 32); }

  void dispatch(int64_t n_tasks, TaskFn fn, void* ctx);
  // Claims and runs tasks of the job `job` was read from until none are left.
  void work_on(uint64_t job);
  void worker_loop();
  void publish(uint64_t job);  // stores job_ and wakes sleeping workers

  int n_threads_;
  std::vector<std::thread> workers_;
  uint32_t generation_ = 0;  // the caller's count of jobs published
  // The current job's parameters; rewritten only after the previous job is
  // closed (release stores, acquire loads: see work_on).
  std::atomic<TaskFn> fn_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> n_tasks_{0};
  std::atomic<uint64_t> job_{kClosed};
  std::atomic<int64_t> done_{0};  // tasks of the current job finished
  std::atomic<bool> stop_{false};
  // Workers that stopped spinning wait on wake_ (not atomic::wait: libstdc++ 12
  // was seen to lose that wake-up at shutdown). sleepers_ lets publish() skip
  // the mutex while every worker is still spinning.
  std::atomic<int> sleepers_{0};
  std::mutex wake_mutex_;
  std::condition_variable wake_;
};

}  // namespace sb::cpu
