// Benchmark: the CPU backend's batch-invariant matmul against OpenBLAS sgemm,
// both measured in the same run on the same threads and shapes. Prints GFLOP/s
// and the ratio (ours / OpenBLAS); > 1 means ours is faster. Not a test: it
// asserts nothing about time. Usage: bench_matmul [threads] (default: all cores).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>
#include <vector>

#include "kernels/cpu/ops.h"

namespace {

struct Shape {
  int64_t n, k, m;  // tokens, input width, output rows
  const char* what;
};

// Best-of-reps seconds of fn(): the least disturbed measurement.
template <typename F>
double best_seconds(F&& fn, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
  openblas_set_num_threads(threads);
  sb::cpu::ThreadPool pool(threads);
  const Shape shapes[] = {
      {1, 768, 2048, "decode, 110M-shape ffn"},  {1, 1024, 4096, "decode, 0.6B-shape ffn"},
      {8, 768, 2048, "8 sequences"},             {32, 768, 2048, "32 sequences"},
      {128, 1024, 2816, "prefill chunk"},        {512, 896, 4864, "long prefill chunk"},
  };
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::printf("threads %d\n%-26s %5s %5s %5s %12s %12s %8s\n", threads, "shape", "n", "k", "m", "ours GF/s",
              "OpenBLAS GF/s", "ratio");
  for (const Shape& s : shapes) {
    std::vector<float> x(static_cast<size_t>(s.n * s.k)), w(static_cast<size_t>(s.m * s.k));
    std::vector<float> y(static_cast<size_t>(s.n * s.m)), y_ref(y.size());
    for (float& v : x) v = dist(rng);
    for (float& v : w) v = dist(rng);
    const double flops = 2.0 * static_cast<double>(s.n * s.k * s.m);
    const int reps = std::max(3, static_cast<int>(2e9 / flops));
    const double ours = best_seconds([&] { (void)sb::cpu::matmul(pool, x.data(), w.data(), nullptr, y.data(), s.n, s.k, s.m); }, reps);
    const double blas = best_seconds(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(s.n), static_cast<int>(s.m),
                      static_cast<int>(s.k), 1.0f, x.data(), static_cast<int>(s.k), w.data(), static_cast<int>(s.k),
                      0.0f, y_ref.data(), static_cast<int>(s.m));
        },
        reps);
    double max_err = 0, max_abs = 0;  // sanity: both computed the same product
    for (size_t i = 0; i < y.size(); ++i) {
      max_err = std::max(max_err, std::abs(double(y[i]) - y_ref[i]));
      max_abs = std::max(max_abs, std::abs(double(y_ref[i])));
    }
    std::printf("%-26s %5lld %5lld %5lld %12.1f %12.1f %7.2fx%s\n", s.what, static_cast<long long>(s.n),
                static_cast<long long>(s.k), static_cast<long long>(s.m), flops / ours / 1e9, flops / blas / 1e9,
                blas / ours, max_err > 1e-5 * max_abs ? "  (RESULTS DIFFER)" : "");
  }
  return 0;
}
