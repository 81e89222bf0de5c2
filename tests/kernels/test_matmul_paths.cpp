// The float-weight matmul (F32, F16, BF16) on every kernel path this CPU runs,
// on awkward sizes (1, 3, 17 tokens; k not a multiple of 16): the portable
// path against a naive double loop, every other path bit for bit against the
// portable one, F16/BF16 bit for bit against F32 on the widened weights, and
// rows bitwise identical alone, in a batch and on any thread count.
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/base/tensor.h"
#include "kernels/cpu/ops.h"
#include "kernels/kernel_test_util.h"

namespace {

using sb::cpu::KernelStatus;
using sb::cpu::KernelTable;
using sb::cpu::WeightFormat;
using sb::test::random_vec;

// w narrowed to F16 or BF16 (round to nearest even), and those values widened back.
struct Narrowed {
  std::vector<uint16_t> bits;
  std::vector<float> widened;
};
Narrowed narrow(const std::vector<float>& w, WeightFormat f) {
  const sb::DType dtype = f == WeightFormat::kF16 ? sb::DType::kF16 : sb::DType::kBF16;
  const int64_t n = static_cast<int64_t>(w.size());
  Narrowed r{std::vector<uint16_t>(w.size()), std::vector<float>(w.size())};
  sb::store_row(dtype, w.data(), r.bits.data(), n);
  sb::dequantize_row(dtype, r.bits.data(), r.widened.data(), n);
  return r;
}

std::vector<float> run(sb::cpu::ThreadPool& pool, const KernelTable& t, WeightFormat f, const std::vector<float>& x,
                       const void* w, const float* bias, int64_t n, int64_t k, int64_t m) {
  std::vector<float> y(static_cast<size_t>(n * m));
  REQUIRE(sb::cpu::matmul(pool, t, f, x.data(), w, bias, y.data(), n, k, m) == KernelStatus::kOk);
  return y;
}

}  // namespace

TEST_CASE("float matmul: portable against a double loop, every path bitwise equal to portable") {
  sb::cpu::ThreadPool pool(2);
  const auto tables = sb::test::all_kernel_tables();
  for (int64_t n : {1, 3, 17})
    for (int64_t k : {1, 7, 16, 33, 100})
      for (int64_t m : {1, 5, 17, 130}) {
        const auto x = random_vec(static_cast<size_t>(n * k), 1);
        const auto w = random_vec(static_cast<size_t>(m * k), 2);
        const auto bias = random_vec(static_cast<size_t>(m), 3);
        const Narrowed h = narrow(w, WeightFormat::kF16), b = narrow(w, WeightFormat::kBF16);
        for (bool with_bias : {false, true}) {
          const float* bp = with_bias ? bias.data() : nullptr;
          INFO("n=" << n << " k=" << k << " m=" << m << " bias=" << with_bias);
          const std::vector<float> ref = run(pool, *tables[0], WeightFormat::kF32, x, w.data(), bp, n, k, m);
          for (int64_t t = 0; t < n; ++t)
            for (int64_t o = 0; o < m; ++o) {
              double want = with_bias ? bias[static_cast<size_t>(o)] : 0.0, magnitude = std::fabs(want);
              for (int64_t i = 0; i < k; ++i) {
                want += static_cast<double>(x[t * k + i]) * w[o * k + i];
                magnitude += std::fabs(static_cast<double>(x[t * k + i]) * w[o * k + i]);
              }
              // Each lane adds k/16 products by FMA, then a 4-level tree and the bias.
              CHECK(std::fabs(ref[t * m + o] - want) <= static_cast<double>(k / 16 + 6) * 0x1p-24 * magnitude);
            }
          const std::vector<float> ref_h = run(pool, *tables[0], WeightFormat::kF32, x, h.widened.data(), bp, n, k, m);
          const std::vector<float> ref_b = run(pool, *tables[0], WeightFormat::kF32, x, b.widened.data(), bp, n, k, m);
          for (const KernelTable* t : tables) {
            INFO(sb::test::table_name(*t));
            CHECK(run(pool, *t, WeightFormat::kF32, x, w.data(), bp, n, k, m) == ref);
            CHECK(run(pool, *t, WeightFormat::kF16, x, h.bits.data(), bp, n, k, m) == ref_h);
            CHECK(run(pool, *t, WeightFormat::kBF16, x, b.bits.data(), bp, n, k, m) == ref_b);
          }
        }
      }
}

TEST_CASE("float matmul rows are bitwise identical alone, in a batch of 17 and on any thread count, on every path") {
  sb::cpu::ThreadPool pool(2), single(1);
  const int64_t k = 333, m = 517;  // big enough to split over threads
  const auto x = random_vec(static_cast<size_t>(17 * k), 4);
  const auto w = random_vec(static_cast<size_t>(m * k), 5);
  const Narrowed b = narrow(w, WeightFormat::kBF16);
  const auto tables = sb::test::all_kernel_tables();
  const std::vector<float> batch = run(pool, *tables.back(), WeightFormat::kF32, x, w.data(), nullptr, 17, k, m);
  const std::vector<float> batch_b = run(pool, *tables.back(), WeightFormat::kBF16, x, b.bits.data(), nullptr, 17, k, m);
  for (const KernelTable* t : tables)
    for (int64_t tok : {0, 5, 16}) {
      INFO(sb::test::table_name(*t) << " token " << tok);
      const std::vector<float> row(x.begin() + tok * k, x.begin() + (tok + 1) * k);
      const std::vector<float> alone = run(single, *t, WeightFormat::kF32, row, w.data(), nullptr, 1, k, m);
      CHECK(std::memcmp(alone.data(), batch.data() + tok * m, alone.size() * 4) == 0);
      const std::vector<float> alone_b = run(single, *t, WeightFormat::kBF16, row, b.bits.data(), nullptr, 1, k, m);
      CHECK(std::memcmp(alone_b.data(), batch_b.data() + tok * m, alone_b.size() * 4) == 0);
    }
}

TEST_CASE("dot gives the same bits on every path") {
  for (int64_t k : {1, 15, 16, 17, 64, 333}) {
    const auto a = random_vec(static_cast<size_t>(k), 6), b = random_vec(static_cast<size_t>(k), 7);
    const auto tables = sb::test::all_kernel_tables();
    const float ref = tables[0]->dot(a.data(), b.data(), k);
    for (const KernelTable* t : tables) {
      INFO(sb::test::table_name(*t) << " k=" << k);
      CHECK(std::bit_cast<uint32_t>(t->dot(a.data(), b.data(), k)) == std::bit_cast<uint32_t>(ref));
    }
  }
}
