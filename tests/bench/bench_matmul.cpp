// Benchmark: the CPU backend's batch-invariant matmul against OpenBLAS sgemm,
// both measured in the same run on the same threads and shapes. Prints GFLOP/s
// and the ratio (ours / OpenBLAS); > 1 means ours is faster. Then every stored
// weight format (F32, F16, BF16, Q8_0, Q4_0) on stories110M's shapes, with
// weights streamed from memory (copies cycled past the caches, as decode walks
// the layers): GB/s of weight bytes and the speed-up over F32, next to the
// machine's copy bandwidth measured in the same run. The kernel path is
// SPECBATCH_CPU's, else the best this CPU runs. Not a test: it asserts nothing
// about time. Usage: bench_matmul [threads] (default: all cores).
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/base/tensor.h"
#include "kernels/cpu/ops.h"

namespace {

using sb::cpu::WeightFormat;

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

// Bytes of weights cycled per format: well past any last-level cache.
constexpr size_t kStreamBytes = size_t{256} << 20;

// Seconds of the least disturbed call(copy), each call on the next of
// `copies` weight copies so that it reads its weights from memory.
template <typename F>
double streamed_seconds(F&& call, int copies) {
  double best = 1e30;
  for (int sweep = 0; sweep < 3; ++sweep)
    for (int c = 0; c < copies; ++c) best = std::min(best, best_seconds([&] { call(c); }, 1));
  return best;
}

// Copy bandwidth on the pool's threads: bytes read + bytes written per second
// (STREAM's convention) of a memcpy of kStreamBytes, split over the threads.
double copy_gbps(sb::cpu::ThreadPool& pool) {
  std::vector<char> a(kStreamBytes, 1), b(kStreamBytes, 2);
  const int64_t parts = pool.n_threads();
  const double s = best_seconds(
      [&] {
        pool.run(parts, [&](int64_t p) {
          const size_t lo = kStreamBytes * static_cast<size_t>(p) / static_cast<size_t>(parts);
          const size_t hi = kStreamBytes * static_cast<size_t>(p + 1) / static_cast<size_t>(parts);
          std::memcpy(b.data() + lo, a.data() + lo, hi - lo);
        });
      },
      5);
  return 2.0 * static_cast<double>(kStreamBytes) / s / 1e9;
}

constexpr sb::DType kStored[] = {sb::DType::kF32, sb::DType::kF16, sb::DType::kBF16, sb::DType::kQ8_0,
                                 sb::DType::kQ4_0};

// w stored as dtype (core/base/tensor.h's conversions).
std::vector<uint8_t> store(sb::DType dtype, const std::vector<float>& w, int64_t rows, int64_t cols) {
  const size_t row_bytes = sb::dtype_row_bytes(dtype, cols);
  std::vector<uint8_t> out(row_bytes * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) sb::store_row(dtype, w.data() + r * cols, out.data() + r * row_bytes, cols);
  return out;
}

WeightFormat format_of(sb::DType d) {
  switch (d) {
    case sb::DType::kF16: return WeightFormat::kF16;
    case sb::DType::kBF16: return WeightFormat::kBF16;
    case sb::DType::kQ8_0: return WeightFormat::kQ8_0;
    case sb::DType::kQ4_0: return WeightFormat::kQ4_0;
    default: return WeightFormat::kF32;
  }
}

// One row of the streamed table: every stored format on the same shape.
void bench_streamed(sb::cpu::ThreadPool& pool, const sb::cpu::KernelTable& kt, const Shape& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.n * s.k)), w(static_cast<size_t>(s.m * s.k));
  std::vector<float> y(static_cast<size_t>(s.n * s.m));
  for (float& v : x) v = dist(rng);
  for (float& v : w) v = dist(rng);
  std::vector<uint64_t> scratch(sb::cpu::matmul_scratch_bytes(WeightFormat::kQ8_0, s.k) / 8 + 8);
  std::printf("%-16s %4lld %5lld %6lld", s.what, static_cast<long long>(s.n), static_cast<long long>(s.k),
              static_cast<long long>(s.m));
  double f32_s = 0;
  for (sb::DType dtype : kStored) {
    const std::vector<uint8_t> stored = store(dtype, w, s.m, s.k);
    const int n_copies = static_cast<int>(kStreamBytes / stored.size()) + 1;
    std::vector<std::vector<uint8_t>> copies(static_cast<size_t>(n_copies), stored);
    const double secs = streamed_seconds(
        [&](int c) {
          (void)sb::cpu::matmul(pool, kt, format_of(dtype), x.data(), copies[static_cast<size_t>(c)].data(), nullptr,
                                y.data(), s.n, s.k, s.m, scratch.data());
        },
        n_copies);
    if (dtype == sb::DType::kF32) f32_s = secs;
    std::printf(" %7.1f %5.2fx", static_cast<double>(stored.size()) / secs / 1e9, f32_s / secs);
  }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : static_cast<int>(std::thread::hardware_concurrency());
  sb::cpu::CpuIsa isa;
  std::string error;
  if (!sb::cpu::cpu_isa_parse(std::getenv("SPECBATCH_CPU"), &isa, &error)) {
    std::fprintf(stderr, "bench_matmul: %s\n", error.c_str());
    return 2;
  }
  const sb::cpu::KernelTable& kt = sb::cpu::kernel_table(isa);
  openblas_set_num_threads(threads);
  sb::cpu::ThreadPool pool(threads);
  const Shape shapes[] = {
      {1, 768, 2048, "decode, 110M-shape ffn"},  {1, 1024, 4096, "decode, 0.6B-shape ffn"},
      {8, 768, 2048, "8 sequences"},             {32, 768, 2048, "32 sequences"},
      {128, 1024, 2816, "prefill chunk"},        {512, 896, 4864, "long prefill chunk"},
  };
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::printf("threads %d, kernels %s\n%-26s %5s %5s %5s %12s %12s %8s\n", threads,
              sb::cpu::cpu_isa_describe(isa).c_str(), "shape", "n", "k", "m", "ours GF/s", "OpenBLAS GF/s", "ratio");
  for (const Shape& s : shapes) {
    std::vector<float> x(static_cast<size_t>(s.n * s.k)), w(static_cast<size_t>(s.m * s.k));
    std::vector<float> y(static_cast<size_t>(s.n * s.m)), y_ref(y.size());
    for (float& v : x) v = dist(rng);
    for (float& v : w) v = dist(rng);
    const double flops = 2.0 * static_cast<double>(s.n * s.k * s.m);
    const int reps = std::max(3, static_cast<int>(2e9 / flops));
    const double ours = best_seconds(
        [&] {
          (void)sb::cpu::matmul(pool, kt, WeightFormat::kF32, x.data(), w.data(), nullptr, y.data(), s.n, s.k, s.m);
        },
        reps);
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
  const Shape streamed[] = {
      {1, 768, 2048, "110M ffn up"},  {1, 2048, 768, "110M ffn down"},  {1, 768, 32000, "110M lm_head"},
      {8, 768, 2048, "110M ffn up"},  {8, 2048, 768, "110M ffn down"},  {8, 768, 32000, "110M lm_head"},
      {32, 768, 2048, "110M ffn up"}, {128, 768, 2048, "110M ffn up"},
  };
  std::printf("\nweights streamed from memory: GB/s of weight bytes read, speed x our F32 kernel;\n"
              "copy bandwidth (bytes read + written per second, memcpy on %d threads): %.1f GB/s\n"
              "%-16s %4s %5s %6s %13s %13s %13s %13s %13s\n",
              threads, copy_gbps(pool), "shape", "n", "k", "m", "F32", "F16", "BF16", "Q8_0", "Q4_0");
  for (const Shape& s : streamed) bench_streamed(pool, kt, s, rng);
  return 0;
}
