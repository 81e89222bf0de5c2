// Benchmark: the CPU backend's batch-invariant matmul against OpenBLAS sgemm,
// both measured in the same run on the same threads and shapes. Prints GFLOP/s
// and the ratio (ours / OpenBLAS); > 1 means ours is faster. Then the Q8_0 and
// Q4_0 kernels against our F32 kernel on stories110M's shapes, with weights
// streamed from memory (copies cycled past the caches, as decode walks the
// layers): GB/s of weight bytes and the speed-up over F32. Not a test: it
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

#include "core/base/tensor.h"
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

// One row of the quantized table: F32, Q8_0 and Q4_0 matmul on the same shape.
void bench_quant(sb::cpu::ThreadPool& pool, const Shape& s, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(s.n * s.k)), w(static_cast<size_t>(s.m * s.k));
  std::vector<float> y(static_cast<size_t>(s.n * s.m)), y_ref(y.size());
  for (float& v : x) v = dist(rng);
  for (float& v : w) v = dist(rng);
  const double f32_bytes = static_cast<double>(w.size()) * 4;
  const int f32_copies = static_cast<int>(kStreamBytes / (w.size() * 4)) + 1;
  double f32_s;
  {
    std::vector<std::vector<float>> copies(static_cast<size_t>(f32_copies), w);
    f32_s = streamed_seconds(
        [&](int c) { (void)sb::cpu::matmul(pool, x.data(), copies[c].data(), nullptr, y.data(), s.n, s.k, s.m); },
        f32_copies);
  }
  std::printf("%-20s %4lld %5lld %6lld %9.1f", s.what, static_cast<long long>(s.n), static_cast<long long>(s.k),
              static_cast<long long>(s.m), f32_bytes / f32_s / 1e9);
  bool differ = false;
  for (sb::DType dtype : {sb::DType::kQ8_0, sb::DType::kQ4_0}) {
    const size_t row_bytes = sb::dtype_row_bytes(dtype, s.k);
    std::vector<uint8_t> q(row_bytes * static_cast<size_t>(s.m));
    std::vector<float> deq(w.size());
    for (int64_t r = 0; r < s.m; ++r) {
      sb::quantize_row(dtype, w.data() + r * s.k, q.data() + r * row_bytes, s.k);
      sb::dequantize_row(dtype, q.data() + r * row_bytes, deq.data() + r * s.k, s.k);
    }
    const auto format = dtype == sb::DType::kQ8_0 ? sb::cpu::QuantFormat::kQ8_0 : sb::cpu::QuantFormat::kQ4_0;
    const int n_copies = static_cast<int>(kStreamBytes / q.size()) + 1;
    std::vector<std::vector<uint8_t>> copies(static_cast<size_t>(n_copies), q);
    const double secs = streamed_seconds(
        [&](int c) {
          (void)sb::cpu::matmul_quant(pool, format, x.data(), copies[c].data(), nullptr, y.data(), s.n, s.k, s.m);
        },
        n_copies);
    // Sanity: the quantized kernel gives the F32 kernel's bits on the dequantized weights.
    (void)sb::cpu::matmul(pool, x.data(), deq.data(), nullptr, y_ref.data(), s.n, s.k, s.m);
    differ |= y != y_ref;
    std::printf(" %9.1f %6.2fx", static_cast<double>(q.size()) / secs / 1e9, f32_s / secs);
  }
  std::printf("%s\n", differ ? "  (RESULTS DIFFER)" : "");
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
  const Shape quant_shapes[] = {
      {1, 768, 2048, "110M ffn up"},   {1, 2048, 768, "110M ffn down"},   {1, 768, 32000, "110M lm_head"},
      {8, 768, 2048, "110M ffn up"},   {8, 2048, 768, "110M ffn down"},   {8, 768, 32000, "110M lm_head"},
      {32, 768, 2048, "110M ffn up"},  {128, 768, 2048, "110M ffn up"},
  };
  std::printf("\nweights streamed from memory; GB/s of weight bytes, speed x our F32 kernel\n"
              "%-20s %4s %5s %6s %9s %9s %7s %9s %7s\n",
              "shape", "n", "k", "m", "F32 GB/s", "Q8_0 GB/s", "x F32", "Q4_0 GB/s", "x F32");
  for (const Shape& s : quant_shapes) bench_quant(pool, s, rng);
  return 0;
}
