// ThreadPool: every task runs exactly once per job, across many back-to-back
// jobs of varied sizes (the pattern of a forward step), with more threads than
// cores so workers are regularly descheduled mid-protocol.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdint>
#include <vector>

#include "kernels/cpu/thread_pool.h"

TEST_CASE("thread pool: each task of each job runs exactly once") {
  for (int threads : {2, 3, 8}) {
    sb::cpu::ThreadPool pool(threads);
    std::vector<std::atomic<int>> hits(257);
    for (int job = 0; job < 3000; ++job) {
      const int64_t n = 1 + (job * 37) % 257;
      for (int64_t i = 0; i < n; ++i) hits[static_cast<size_t>(i)].store(0, std::memory_order_relaxed);
      pool.run(n, [&](int64_t t) { hits[static_cast<size_t>(t)].fetch_add(1, std::memory_order_relaxed); });
      int wrong = 0;
      for (int64_t i = 0; i < n; ++i) wrong += hits[static_cast<size_t>(i)].load() != 1;
      REQUIRE(wrong == 0);
    }
  }
}

TEST_CASE("thread pool: results of a job are visible when run() returns") {
  sb::cpu::ThreadPool pool(4);
  std::vector<int64_t> out(1000);
  for (int job = 0; job < 200; ++job) {
    pool.run(static_cast<int64_t>(out.size()), [&](int64_t t) { out[static_cast<size_t>(t)] = t * job; });
    int64_t sum = 0;
    for (int64_t v : out) sum += v;
    REQUIRE(sum == job * 999 * 1000 / 2);
  }
}
