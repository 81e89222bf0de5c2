// Quantized weights (Q8_0, Q4_0) with int8 activations on every kernel path
// this CPU runs, on awkward sizes (1, 3, 17 and 70 tokens: past one 64-row
// activation chunk; odd and even block counts; output counts off the tile and
// thread splits): every path bit for bit equal to the portable one, and within
// the bound kernel_table.h states of a float64 loop over the dequantized
// weights and the unquantized activations; rows bitwise identical alone and in
// a batch; activation quantization equal on every path; embedding rows
// converted exactly from every stored format.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/base/tensor.h"
#include "kernels/cpu/ops.h"
#include "kernels/kernel_test_util.h"

namespace {

using sb::DType;
using sb::cpu::KernelStatus;
using sb::cpu::KernelTable;
using sb::cpu::WeightFormat;
using sb::test::random_vec;

// A [rows, cols] matrix stored in dtype by core/base/tensor.h, and its exact F32 values.
struct Stored {
  std::vector<uint8_t> bytes;
  std::vector<float> values;
};

Stored store(DType dtype, const std::vector<float>& w, int64_t rows, int64_t cols) {
  Stored s;
  const size_t row_bytes = sb::dtype_row_bytes(dtype, cols);
  s.bytes.resize(static_cast<size_t>(rows) * row_bytes);
  s.values.resize(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    uint8_t* dst = s.bytes.data() + r * row_bytes;
    sb::store_row(dtype, w.data() + r * cols, dst, cols);
    sb::dequantize_row(dtype, dst, s.values.data() + r * cols, cols);
  }
  return s;
}

WeightFormat format_of(DType dtype) {
  switch (dtype) {
    case DType::kF16: return WeightFormat::kF16;
    case DType::kBF16: return WeightFormat::kBF16;
    case DType::kQ8_0: return WeightFormat::kQ8_0;
    case DType::kQ4_0: return WeightFormat::kQ4_0;
    default: return WeightFormat::kF32;
  }
}

std::vector<float> run(sb::cpu::ThreadPool& pool, const KernelTable& t, DType dtype, const float* x, const void* w,
                       const float* bias, int64_t n, int64_t k, int64_t m) {
  std::vector<float> y(static_cast<size_t>(n * m));
  std::vector<uint64_t> scratch(sb::cpu::matmul_scratch_bytes(format_of(dtype), k) / 8 + 8);
  REQUIRE(sb::cpu::matmul(pool, t, format_of(dtype), x, w, bias, y.data(), n, k, m, scratch.data()) ==
          KernelStatus::kOk);
  return y;
}

}  // namespace

TEST_CASE("int8 matmul: every path bitwise equal to portable, within the stated bound of float64") {
  sb::cpu::ThreadPool pool(2);
  const auto tables = sb::test::all_kernel_tables();
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0})
    for (int64_t n : {1, 3, 17, 70})
      for (int64_t k : {32, 64, 96, 800})
        for (int64_t m : {1, 5, 17, 130}) {
          const auto x = random_vec(static_cast<size_t>(n * k), 1);
          const Stored w = store(dtype, random_vec(static_cast<size_t>(m * k), 2), m, k);
          const auto bias = random_vec(static_cast<size_t>(m), 3);
          for (bool with_bias : {false, true}) {
            const float* bp = with_bias ? bias.data() : nullptr;
            INFO(sb::dtype_name(dtype) << " n=" << n << " k=" << k << " m=" << m << " bias=" << with_bias);
            const std::vector<float> ref = run(pool, *tables[0], dtype, x.data(), w.bytes.data(), bp, n, k, m);
            for (int64_t t = 0; t < n; ++t)
              for (int64_t o = 0; o < m; ++o) {
                double want = bp ? bias[static_cast<size_t>(o)] : 0.0;
                for (int64_t i = 0; i < k; ++i) want += static_cast<double>(x[t * k + i]) * w.values[o * k + i];
                const double bound = sb::test::int8_error_bound(x.data() + t * k, w.values.data() + o * k, bp ? bp[o] : 0, k);
                CHECK(std::fabs(ref[t * m + o] - want) <= bound);
              }
            for (const KernelTable* t : tables) {
              INFO(sb::test::table_name(*t));
              CHECK(run(pool, *t, dtype, x.data(), w.bytes.data(), bp, n, k, m) == ref);
            }
          }
        }
}

TEST_CASE("int8 matmul rows are bitwise identical alone and in a batch of 17, on every path") {
  sb::cpu::ThreadPool pool(2), single(1);
  const int64_t k = 416, m = 517;  // k = 13 blocks; m large enough to split over threads
  const auto x = random_vec(static_cast<size_t>(17 * k), 6);
  const auto tables = sb::test::all_kernel_tables();
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    const Stored w = store(dtype, random_vec(static_cast<size_t>(m * k), 7), m, k);
    const std::vector<float> batch = run(pool, *tables.back(), dtype, x.data(), w.bytes.data(), nullptr, 17, k, m);
    for (const KernelTable* t : tables)
      for (int64_t tok : {0, 5, 16}) {
        INFO(sb::dtype_name(dtype) << " " << sb::test::table_name(*t) << " token " << tok);
        const std::vector<float> alone = run(single, *t, dtype, x.data() + tok * k, w.bytes.data(), nullptr, 1, k, m);
        CHECK(std::memcmp(alone.data(), batch.data() + tok * m, alone.size() * 4) == 0);
      }
  }
}

TEST_CASE("activation quantization: the same int8 rows on every path, each within half a step") {
  const int64_t n = 3, k = 96, stride = 4;  // 3 blocks, padded to 4
  auto x = random_vec(static_cast<size_t>(n * k), 8, 3.0f);
  x[5] = 0.0f;
  for (int i = 32; i < 64; ++i) x[static_cast<size_t>(i)] = 0.0f;  // an all-zero block: d = 0, q = 0
  std::vector<const KernelTable*> tables = sb::test::all_kernel_tables();
  std::vector<int8_t> q_ref;
  std::vector<float> d_ref;
  for (const KernelTable* t : tables) {
    std::vector<int8_t> q(static_cast<size_t>(n * stride * 32), 99);
    std::vector<float> d(static_cast<size_t>(n * stride), 99.0f);
    t->quantize_rows(x.data(), k, sb::cpu::Int8Rows{q.data(), d.data(), k / 32, stride}, 0, n);
    INFO(sb::test::table_name(*t));
    if (q_ref.empty()) {
      q_ref = q;
      d_ref = d;
      for (int64_t r = 0; r < n; ++r)
        for (int64_t i = 0; i < stride * 32; ++i) {
          const int8_t qi = q[static_cast<size_t>(r * stride * 32 + i)];
          const float di = d[static_cast<size_t>(r * stride + i / 32)];
          if (i >= k) {  // the padding block
            CHECK(qi == 0);
            CHECK(di == 0.0f);
            continue;
          }
          CHECK(qi >= -127);
          CHECK(std::fabs(x[static_cast<size_t>(r * k + i)] - di * qi) <= di * 0.5f * (1 + 1e-5f));
        }
      CHECK(d[1] == 0.0f);
    }
    CHECK(q == q_ref);
    CHECK(d == d_ref);
  }
}

TEST_CASE("gather_weight_rows converts rows of every stored format exactly") {
  sb::cpu::ThreadPool pool(2);
  const int64_t rows = 11, dim = 96;
  for (DType dtype : {DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    const Stored table = store(dtype, random_vec(static_cast<size_t>(rows * dim), 8), rows, dim);
    const std::vector<int32_t> ids = {3, 0, 10, 3, 7};
    std::vector<float> out(ids.size() * dim);
    REQUIRE(sb::cpu::gather_weight_rows(pool, format_of(dtype), table.bytes.data(), ids.data(), out.data(),
                                        static_cast<int64_t>(ids.size()), rows, dim) == KernelStatus::kOk);
    INFO(sb::dtype_name(dtype));
    for (size_t i = 0; i < ids.size(); ++i)
      CHECK(std::memcmp(out.data() + i * dim, table.values.data() + ids[i] * dim, dim * 4) == 0);
    const int32_t bad = static_cast<int32_t>(rows);
    CHECK(sb::cpu::gather_weight_rows(pool, format_of(dtype), table.bytes.data(), &bad, out.data(), 1, rows, dim) ==
          KernelStatus::kBadShape);
  }
}

TEST_CASE("quantized kernels reject widths that are not whole blocks and a missing scratch") {
  sb::cpu::ThreadPool pool(1);
  const KernelTable& t = sb::test::env_kernel_table();
  std::vector<float> x(64), y(2);
  std::vector<uint8_t> w(2 * 34 * 2);
  std::vector<uint64_t> scratch(sb::cpu::matmul_scratch_bytes(WeightFormat::kQ8_0, 64) / 8 + 8);
  const int32_t id = 0;
  CHECK(sb::cpu::matmul(pool, t, WeightFormat::kQ8_0, x.data(), w.data(), nullptr, y.data(), 1, 48, 2,
                        scratch.data()) == KernelStatus::kBadShape);
  CHECK(sb::cpu::matmul(pool, t, WeightFormat::kQ8_0, x.data(), w.data(), nullptr, y.data(), 1, 64, 2, nullptr) ==
        KernelStatus::kBadShape);
  CHECK(sb::cpu::gather_weight_rows(pool, WeightFormat::kQ4_0, w.data(), &id, x.data(), 1, 2, 48) ==
        KernelStatus::kBadShape);
}
