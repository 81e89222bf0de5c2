// Quantized CPU kernels (Q8_0, Q4_0) against a naive double-precision reference
// over weights dequantized by core/base/tensor.h, on awkward sizes: 1, 3, 17, 64
// rows, widths that are multiples of 32 but not of 64, output counts that are
// not multiples of the 6-row tile or the thread split; plus bitwise batch
// invariance and the ops.h contract (same bits as matmul() on the dequantized
// weights).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "kernels/cpu/ops.h"

namespace {

using sb::DType;
using sb::cpu::KernelStatus;
using sb::cpu::QuantFormat;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// A [rows, cols] matrix quantized by core/base/tensor.h, and its exact dequantization.
struct QuantMatrix {
  std::vector<uint8_t> blocks;
  std::vector<float> dequantized;
};

QuantMatrix quantize(DType dtype, const std::vector<float>& w, int64_t rows, int64_t cols) {
  QuantMatrix q;
  const size_t row_bytes = sb::dtype_row_bytes(dtype, cols);
  q.blocks.resize(static_cast<size_t>(rows) * row_bytes);
  q.dequantized.resize(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    sb::quantize_row(dtype, w.data() + r * cols, q.blocks.data() + r * row_bytes, cols);
    sb::dequantize_row(dtype, q.blocks.data() + r * row_bytes, q.dequantized.data() + r * cols, cols);
  }
  return q;
}

QuantFormat format_of(DType dtype) { return dtype == DType::kQ8_0 ? QuantFormat::kQ8_0 : QuantFormat::kQ4_0; }

}  // namespace

TEST_CASE("matmul_quant matches a double-precision loop over the dequantized weights") {
  sb::cpu::ThreadPool pool(2);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0})
    for (int64_t n : {1, 3, 17, 64})
      for (int64_t k : {32, 96, 800})
        for (int64_t m : {1, 5, 17, 130}) {
          const auto x = random_vec(static_cast<size_t>(n * k), 1);
          const QuantMatrix w = quantize(dtype, random_vec(static_cast<size_t>(m * k), 2), m, k);
          const auto bias = random_vec(static_cast<size_t>(m), 3);
          for (bool with_bias : {false, true}) {
            std::vector<float> y(static_cast<size_t>(n * m));
            REQUIRE(sb::cpu::matmul_quant(pool, format_of(dtype), x.data(), w.blocks.data(),
                                          with_bias ? bias.data() : nullptr, y.data(), n, k, m) == KernelStatus::kOk);
            INFO(std::string(sb::dtype_name(dtype)) << " n=" << n << " k=" << k << " m=" << m << " bias=" << with_bias);
            for (int64_t t = 0; t < n; ++t)
              for (int64_t o = 0; o < m; ++o) {
                double want = with_bias ? bias[static_cast<size_t>(o)] : 0.0, magnitude = std::fabs(want);
                for (int64_t i = 0; i < k; ++i) {
                  const double p = static_cast<double>(x[t * k + i]) * w.dequantized[o * k + i];
                  want += p;
                  magnitude += std::fabs(p);
                }
                // Activations stay F32, so the only error is float rounding: each
                // lane adds k/16 products by FMA, then a 4-level tree and the bias.
                const double bound = static_cast<double>(k / 16 + 6) * 0x1p-24 * magnitude;
                CHECK(std::fabs(y[t * m + o] - want) <= bound);
              }
          }
        }
}

TEST_CASE("matmul_quant gives matmul's bits on the dequantized weights") {
  sb::cpu::ThreadPool pool(2);
  const int64_t n = 17, k = 160, m = 133;
  const auto x = random_vec(static_cast<size_t>(n * k), 4);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    const QuantMatrix w = quantize(dtype, random_vec(static_cast<size_t>(m * k), 5), m, k);
    std::vector<float> got(static_cast<size_t>(n * m)), want(got.size());
    REQUIRE(sb::cpu::matmul_quant(pool, format_of(dtype), x.data(), w.blocks.data(), nullptr, got.data(), n, k, m) ==
            KernelStatus::kOk);
    REQUIRE(sb::cpu::matmul(pool, x.data(), w.dequantized.data(), nullptr, want.data(), n, k, m) == KernelStatus::kOk);
    INFO(std::string(sb::dtype_name(dtype)));
    CHECK(std::memcmp(got.data(), want.data(), got.size() * 4) == 0);
  }
}

TEST_CASE("matmul_quant rows are bitwise identical alone and in a batch of 17") {
  sb::cpu::ThreadPool pool(2);
  sb::cpu::ThreadPool single(1);
  const int64_t k = 416, m = 517;  // k = 13 blocks; m large enough to split over threads
  const auto x = random_vec(static_cast<size_t>(17 * k), 6);
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    const QuantMatrix w = quantize(dtype, random_vec(static_cast<size_t>(m * k), 7), m, k);
    std::vector<float> batch(static_cast<size_t>(17 * m));
    REQUIRE(sb::cpu::matmul_quant(pool, format_of(dtype), x.data(), w.blocks.data(), nullptr, batch.data(), 17, k,
                                  m) == KernelStatus::kOk);
    for (int64_t t : {0, 5, 16}) {
      std::vector<float> alone(static_cast<size_t>(m));
      REQUIRE(sb::cpu::matmul_quant(single, format_of(dtype), x.data() + t * k, w.blocks.data(), nullptr,
                                    alone.data(), 1, k, m) == KernelStatus::kOk);
      INFO(std::string(sb::dtype_name(dtype)) << " row " << t);
      CHECK(std::memcmp(alone.data(), batch.data() + t * m, alone.size() * 4) == 0);
    }
  }
}

TEST_CASE("gather_rows_quant dequantizes the chosen rows exactly") {
  sb::cpu::ThreadPool pool(2);
  const int64_t rows = 11, dim = 96;
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    const QuantMatrix table = quantize(dtype, random_vec(static_cast<size_t>(rows * dim), 8), rows, dim);
    const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
    std::vector<float> out(ids.size() * dim);
    REQUIRE(sb::cpu::gather_rows_quant(pool, format_of(dtype), table.blocks.data(), ids.data(), out.data(),
                                       static_cast<int64_t>(ids.size()), rows, dim) == KernelStatus::kOk);
    INFO(std::string(sb::dtype_name(dtype)));
    for (size_t i = 0; i < ids.size(); ++i)
      CHECK(std::memcmp(out.data() + i * dim, table.dequantized.data() + ids[i] * dim, dim * 4) == 0);
    const int32_t bad = static_cast<int32_t>(rows);
    CHECK(sb::cpu::gather_rows_quant(pool, format_of(dtype), table.blocks.data(), &bad, out.data(), 1, rows, dim) ==
          KernelStatus::kBadShape);
  }
}

TEST_CASE("quantized kernels reject widths that are not whole blocks") {
  sb::cpu::ThreadPool pool(1);
  std::vector<float> x(48), y(2);
  std::vector<uint8_t> w(2 * 34 * 2);
  const int32_t id = 0;
  CHECK(sb::cpu::matmul_quant(pool, QuantFormat::kQ8_0, x.data(), w.data(), nullptr, y.data(), 1, 48, 2) ==
        KernelStatus::kBadShape);
  CHECK(sb::cpu::gather_rows_quant(pool, QuantFormat::kQ4_0, w.data(), &id, x.data(), 1, 2, 48) ==
        KernelStatus::kBadShape);
}
