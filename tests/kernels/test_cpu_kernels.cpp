// CPU kernels against naive reference loops (double precision), on awkward
// sizes: 1, 3, 17 rows, lengths that are not multiples of 16 or of the KV block
// size, grouped-query attention; plus bitwise batch invariance of matmul.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"

namespace {

using sb::cpu::KernelStatus;

std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(got[i] - want[i]) <= tol * (1.0 + std::fabs(want[i])));
  }
}

}  // namespace

TEST_CASE("matmul matches a naive loop on awkward sizes") {
  sb::cpu::ThreadPool pool(2);
  for (int64_t n : {1, 3, 17})
    for (int64_t k : {1, 7, 16, 33, 100})
      for (int64_t m : {1, 5, 17, 130}) {
        const auto x = random_vec(static_cast<size_t>(n * k), 1);
        const auto w = random_vec(static_cast<size_t>(m * k), 2);
        const auto bias = random_vec(static_cast<size_t>(m), 3);
        for (bool with_bias : {false, true}) {
          std::vector<float> y(static_cast<size_t>(n * m));
          REQUIRE(sb::cpu::matmul(pool, x.data(), w.data(), with_bias ? bias.data() : nullptr, y.data(), n, k, m) ==
                  KernelStatus::kOk);
          std::vector<double> want(y.size());
          for (int64_t t = 0; t < n; ++t)
            for (int64_t o = 0; o < m; ++o) {
              double s = with_bias ? bias[static_cast<size_t>(o)] : 0.0;
              for (int64_t i = 0; i < k; ++i) s += static_cast<double>(x[t * k + i]) * w[o * k + i];
              want[static_cast<size_t>(t * m + o)] = s;
            }
          INFO("n=" << n << " k=" << k << " m=" << m << " bias=" << with_bias);
          check_close(y, want, 1e-5);
        }
      }
}

TEST_CASE("matmul rows are bitwise identical alone and in a batch of 17") {
  sb::cpu::ThreadPool pool(2);
  const int64_t k = 333, m = 517;  // big enough to split over threads
  const auto x = random_vec(static_cast<size_t>(17 * k), 4);
  const auto w = random_vec(static_cast<size_t>(m * k), 5);
  std::vector<float> batch(static_cast<size_t>(17 * m));
  REQUIRE(sb::cpu::matmul(pool, x.data(), w.data(), nullptr, batch.data(), 17, k, m) == KernelStatus::kOk);
  sb::cpu::ThreadPool single(1);
  for (int64_t t : {0, 5, 16}) {
    std::vector<float> alone(static_cast<size_t>(m));
    REQUIRE(sb::cpu::matmul(single, x.data() + t * k, w.data(), nullptr, alone.data(), 1, k, m) == KernelStatus::kOk);
    CHECK(std::memcmp(alone.data(), batch.data() + t * m, alone.size() * 4) == 0);
  }
}

TEST_CASE("rms_norm, silu_mul, add, gather_rows") {
  sb::cpu::ThreadPool pool(2);
  const int64_t rows = 3, dim = 37;
  const auto x = random_vec(static_cast<size_t>(rows * dim), 6);
  const auto w = random_vec(static_cast<size_t>(dim), 7);
  std::vector<float> y(x.size());
  REQUIRE(sb::cpu::rms_norm(pool, x.data(), w.data(), y.data(), rows, dim, 1e-5f) == KernelStatus::kOk);
  std::vector<double> want(y.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t i = 0; i < dim; ++i) ss += static_cast<double>(x[r * dim + i]) * x[r * dim + i];
    const double inv = 1.0 / std::sqrt(ss / dim + 1e-5);
    for (int64_t i = 0; i < dim; ++i) want[r * dim + i] = x[r * dim + i] * inv * w[i];
  }
  check_close(y, want, 1e-5);

  const auto g = random_vec(101, 8, 5.0f), u = random_vec(101, 9);
  std::vector<float> out(101);
  REQUIRE(sb::cpu::silu_mul(pool, g.data(), u.data(), out.data(), 101) == KernelStatus::kOk);
  std::vector<double> want_s(101);
  for (size_t i = 0; i < 101; ++i) want_s[i] = g[i] / (1.0 + std::exp(-static_cast<double>(g[i]))) * u[i];
  check_close(out, want_s, 1e-6);

  std::vector<float> acc = g;
  REQUIRE(sb::cpu::add(pool, acc.data(), u.data(), 101) == KernelStatus::kOk);
  for (size_t i = 0; i < 101; ++i) CHECK(acc[i] == g[i] + u[i]);

  const int32_t ids[] = {2, 0, 2};
  std::vector<float> rows_out(static_cast<size_t>(3 * dim));
  REQUIRE(sb::cpu::gather_rows(pool, x.data(), ids, rows_out.data(), 3, rows, dim) == KernelStatus::kOk);
  CHECK(std::memcmp(rows_out.data(), x.data() + 2 * dim, dim * 4) == 0);
  CHECK(std::memcmp(rows_out.data() + dim, x.data(), dim * 4) == 0);
  const int32_t bad[] = {3};
  CHECK(sb::cpu::gather_rows(pool, x.data(), bad, rows_out.data(), 1, rows, dim) == KernelStatus::kBadShape);
}

TEST_CASE("rope rotates pairs for both layouts") {
  sb::cpu::ThreadPool pool(1);
  const int64_t n = 3, heads = 2, hd = 6;
  const int32_t pos[] = {0, 7, 1000};
  const float inv_freq[] = {1.0f, 0.1f, 0.001f};
  for (auto layout : {sb::cpu::RopeLayout::kInterleaved, sb::cpu::RopeLayout::kHalf}) {
    auto x = random_vec(static_cast<size_t>(n * heads * hd), 10);
    const auto x0 = x;
    REQUIRE(sb::cpu::rope(pool, x.data(), pos, inv_freq, n, heads, hd, layout, 1.5f) == KernelStatus::kOk);
    std::vector<double> want(x.size());
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < hd / 2; ++i) {
          const int64_t a = layout == sb::cpu::RopeLayout::kHalf ? i : 2 * i;
          const int64_t b = layout == sb::cpu::RopeLayout::kHalf ? i + hd / 2 : 2 * i + 1;
          const double ang = pos[t] * static_cast<double>(inv_freq[i]);
          const double c = 1.5 * std::cos(ang), s = 1.5 * std::sin(ang);
          const int64_t base = (t * heads + h) * hd;
          want[base + a] = x0[base + a] * c - x0[base + b] * s;
          want[base + b] = x0[base + a] * s + x0[base + b] * c;
        }
    check_close(x, want, 1e-5);
  }
}

TEST_CASE("paged attention matches dense causal attention with GQA, sliding windows and soft-capping") {
  sb::cpu::ThreadPool pool(2);
  struct Variant {
    int64_t window;
    float softcap;
  };
  // Windows 4 and 7 cross the 5-slot blocks; 1 sees only the token itself.
  for (const Variant var : {Variant{0, 0.0f}, Variant{4, 0.0f}, Variant{7, 2.5f}, Variant{1, 0.0f}})
  for (int64_t hd : {8, 20, 64}) {
    const int64_t n_head = 6, n_kv = 2, bs = 5, n_blocks = 40, kv_dim = n_kv * hd;
    const int64_t n_slots = n_blocks * bs;
    // Three sequences of lengths 1, 13, 17 with scattered, non-contiguous blocks.
    const int64_t lens[] = {1, 13, 17};
    const int64_t max_blocks = 4;
    std::vector<int32_t> tables = {39, -1, -1, -1, 3, 17, 1, -1, 8, 2, 30, 11};
    const auto k_cache = random_vec(static_cast<size_t>(n_slots * kv_dim), 11);
    const auto v_cache = random_vec(static_cast<size_t>(n_slots * kv_dim), 12);
    // Queries: the last position of each sequence and a middle one of the longest.
    const std::vector<int32_t> token_seq = {0, 1, 2, 2};
    const std::vector<int32_t> pos = {0, 12, 16, 6};
    const int64_t n = 4;
    const auto q = random_vec(static_cast<size_t>(n * n_head * hd), 13);
    std::vector<float> out(q.size());
    sb::cpu::AttentionArgs a;
    a.q = q.data();
    a.k_cache = k_cache.data();
    a.v_cache = v_cache.data();
    a.pos = pos.data();
    a.token_seq = token_seq.data();
    a.block_tables = tables.data();
    a.out = out.data();
    a.n_tokens = n;
    a.n_seqs = 3;
    a.n_head = n_head;
    a.n_kv_head = n_kv;
    a.head_dim = hd;
    a.block_size = bs;
    a.max_blocks = max_blocks;
    a.n_slots = n_slots;
    a.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    a.window = var.window;
    a.softcap = var.softcap;
    REQUIRE(sb::cpu::attention(pool, a) == KernelStatus::kOk);
    std::vector<double> want(out.size());
    for (int64_t t = 0; t < n; ++t) {
      REQUIRE(pos[t] < lens[token_seq[t]]);
      const int64_t lo = var.window > 0 ? std::max<int64_t>(0, pos[t] - var.window + 1) : 0;
      for (int64_t h = 0; h < n_head; ++h) {
        const int64_t kvh = h / (n_head / n_kv);
        std::vector<double> s(static_cast<size_t>(pos[t] + 1), 0.0);
        double mx = -1e300;
        for (int64_t p = lo; p <= pos[t]; ++p) {
          const int64_t slot = tables[token_seq[t] * max_blocks + p / bs] * bs + p % bs;
          double d = 0;
          for (int64_t i = 0; i < hd; ++i) d += static_cast<double>(q[(t * n_head + h) * hd + i]) * k_cache[slot * kv_dim + kvh * hd + i];
          s[p] = d / std::sqrt(static_cast<double>(hd));
          if (var.softcap > 0) s[p] = var.softcap * std::tanh(s[p] / var.softcap);
          mx = std::max(mx, s[p]);
        }
        double z = 0;
        for (int64_t p = lo; p <= pos[t]; ++p) z += (s[p] = std::exp(s[p] - mx));
        for (int64_t i = 0; i < hd; ++i) {
          double o = 0;
          for (int64_t p = lo; p <= pos[t]; ++p) {
            const int64_t slot = tables[token_seq[t] * max_blocks + p / bs] * bs + p % bs;
            o += s[p] / z * v_cache[slot * kv_dim + kvh * hd + i];
          }
          want[(t * n_head + h) * hd + i] = o;
        }
      }
    }
    INFO("head_dim " << hd << " window " << var.window << " softcap " << var.softcap);
    check_close(out, want, 1e-5);
  }
}

TEST_CASE("gelu_tanh_mul, softcap and scale match naive loops") {
  sb::cpu::ThreadPool pool(2);
  for (int64_t n : {1, 17, 70001}) {
    const auto gate = random_vec(static_cast<size_t>(n), 31, 6.0f), up = random_vec(static_cast<size_t>(n), 32);
    std::vector<float> out(static_cast<size_t>(n)), capped = gate, scaled = gate;
    REQUIRE(sb::cpu::gelu_tanh_mul(pool, gate.data(), up.data(), out.data(), n) == KernelStatus::kOk);
    REQUIRE(sb::cpu::softcap(pool, capped.data(), 2.5f, n) == KernelStatus::kOk);
    REQUIRE(sb::cpu::scale(pool, scaled.data(), 48.0f, n) == KernelStatus::kOk);
    std::vector<double> want_gelu(out.size()), want_cap(out.size()), want_scale(out.size());
    for (size_t i = 0; i < out.size(); ++i) {
      const double g = gate[i];
      want_gelu[i] = 0.5 * g * (1 + std::tanh(std::sqrt(2 / M_PI) * (g + 0.044715 * g * g * g))) * up[i];
      want_cap[i] = 2.5 * std::tanh(g / 2.5);
      want_scale[i] = 48.0 * g;
    }
    check_close(out, want_gelu, 1e-5);
    check_close(capped, want_cap, 1e-5);
    check_close(scaled, want_scale, 1e-6);
  }
  float x = 1;
  CHECK(sb::cpu::softcap(pool, &x, 0.0f, 1) == KernelStatus::kBadShape);
}

TEST_CASE("kv_store writes slots and rejects out-of-range ones") {
  sb::cpu::ThreadPool pool(1);
  const int64_t kv_dim = 3, n_slots = 10;
  std::vector<float> kc(n_slots * kv_dim, 0.0f), vc(n_slots * kv_dim, 0.0f);
  const std::vector<float> k = {1, 2, 3, 4, 5, 6}, v = {-1, -2, -3, -4, -5, -6};
  const int32_t slots[] = {9, 0};
  REQUIRE(sb::cpu::kv_store(pool, k.data(), v.data(), slots, kc.data(), vc.data(), 2, kv_dim, n_slots) ==
          KernelStatus::kOk);
  CHECK(kc[27] == 1);
  CHECK(kc[29] == 3);
  CHECK(vc[0] == -4);
  const int32_t bad[] = {10};
  CHECK(sb::cpu::kv_store(pool, k.data(), v.data(), bad, kc.data(), vc.data(), 1, kv_dim, n_slots) ==
        KernelStatus::kBadShape);
}
