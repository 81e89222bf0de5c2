// Mixture-of-experts kernels (kernels/cpu/moe.h and the CPU backend's
// moe_matmul) against naive loops: top-k routing with ties, NaN and -inf,
// renormalised or not; the grouping by expert; grouped matmuls bitwise equal
// to each row's own matmul (F32 and Q8_0 experts); the weighted sum.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cpu/cpu_backend.h"
#include "kernels/cpu/moe.h"

namespace {

using sb::cpu::KernelStatus;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

struct Routing {
  std::vector<int32_t> choice_expert, expert_rows, row_token, choice_row;
  std::vector<float> weights;
};

Routing route(const std::vector<float>& logits, int64_t n_tokens, int64_t n_expert, int64_t n_used, bool norm) {
  sb::cpu::ThreadPool pool(2);
  Routing r;
  const size_t pairs = static_cast<size_t>(n_tokens * n_used);
  r.choice_expert.resize(pairs);
  r.weights.resize(pairs);
  r.expert_rows.resize(static_cast<size_t>(n_expert + 1));
  r.row_token.resize(pairs);
  r.choice_row.resize(pairs);
  REQUIRE(sb::cpu::moe_route(pool, logits.data(), r.choice_expert.data(), r.weights.data(), r.expert_rows.data(),
                             r.row_token.data(), r.choice_row.data(), n_tokens, n_expert, n_used,
                             norm) == KernelStatus::kOk);
  return r;
}

// The naive rule: a stable sort by logit (NaN as -infinity), softmax in double.
void check_token(const float* l, int64_t n_expert, int64_t n_used, bool norm, const int32_t* got_e,
                 const float* got_w) {
  std::vector<int32_t> order(static_cast<size_t>(n_expert));
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](int32_t e) { return std::isnan(l[e]) ? -kInf : l[e]; };
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return key(a) > key(b); });
  double max = key(order[0]), all = 0, chosen = 0;
  for (int64_t e = 0; e < n_expert; ++e) all += std::exp(l[e] - max);
  for (int64_t j = 0; j < n_used; ++j) chosen += std::exp(l[order[static_cast<size_t>(j)]] - max);
  for (int64_t j = 0; j < n_used; ++j) {
    const int32_t e = order[static_cast<size_t>(j)];
    CHECK(got_e[j] == e);
    const double want = std::exp(l[e] - max) / (norm ? chosen : all);
    if (std::isnan(want)) {
      CHECK(std::isnan(got_w[j]));
    } else {
      CHECK(got_w[j] == doctest::Approx(want).epsilon(1e-6));
    }
  }
}

// Every pair sits in its expert's rows, in (token, choice) order, and maps back to its token.
void check_grouping(const Routing& r, int64_t n_tokens, int64_t n_expert, int64_t n_used) {
  CHECK(r.expert_rows[0] == 0);
  CHECK(r.expert_rows[static_cast<size_t>(n_expert)] == n_tokens * n_used);
  for (int64_t e = 0; e < n_expert; ++e) CHECK(r.expert_rows[static_cast<size_t>(e)] <= r.expert_rows[static_cast<size_t>(e + 1)]);
  std::vector<int> seen(static_cast<size_t>(n_tokens * n_used), 0);
  for (int64_t p = 0; p < n_tokens * n_used; ++p) {
    const int32_t row = r.choice_row[static_cast<size_t>(p)], e = r.choice_expert[static_cast<size_t>(p)];
    REQUIRE(row >= 0);
    REQUIRE(row < n_tokens * n_used);
    ++seen[static_cast<size_t>(row)];
    CHECK(r.row_token[static_cast<size_t>(row)] == p / n_used);
    CHECK(row >= r.expert_rows[static_cast<size_t>(e)]);
    CHECK(row < r.expert_rows[static_cast<size_t>(e + 1)]);
    // Earlier pairs of the same expert come first.
    for (int64_t q = 0; q < p; ++q)
      if (r.choice_expert[static_cast<size_t>(q)] == e) CHECK(r.choice_row[static_cast<size_t>(q)] < row);
  }
  for (int x : seen) CHECK(x == 1);
}

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

}  // namespace

TEST_CASE("moe_route: the largest logits, ties to the lower expert, NaN last; grouped by expert") {
  const int64_t n_expert = 7, n_used = 3;
  std::vector<float> logits = random_vec(7, 5);                             // distinct
  for (float x : {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f}) logits.push_back(x);  // all tie: 0, 1, 2
  for (float x : {1.f, 3.f, 3.f, 0.f, 3.f, -1.f, 2.f}) logits.push_back(x); // 1, 2, 4
  for (float x : {5.f, kNaN, 4.f, 4.f, 1.f, 4.f, 0.f}) logits.push_back(x); // 0, 2, 3
  for (float x : {-kInf, 2.f, -kInf, -kInf, -kInf, -kInf, -kInf}) logits.push_back(x);  // 1, 0, 2
  for (float x : {2.f, 1.f, 2.f, 1.f, 2.f, 1.f, 2.f}) logits.push_back(x); // 0, 2, 4: a tie at the boundary
  const int64_t n_tokens = static_cast<int64_t>(logits.size()) / n_expert;
  for (bool norm : {true, false}) {
    INFO("norm_topk " << norm);
    const Routing r = route(logits, n_tokens, n_expert, n_used, norm);
    for (int64_t t = 0; t < n_tokens; ++t) {
      INFO("token " << t);
      check_token(logits.data() + t * n_expert, n_expert, n_used, norm, r.choice_expert.data() + t * n_used,
                  r.weights.data() + t * n_used);
    }
    CHECK(r.choice_expert[3] == 0);
    CHECK(r.choice_expert[4] == 1);
    CHECK(r.choice_expert[5] == 2);
    CHECK(r.choice_expert[15] == 0);
    CHECK(r.choice_expert[16] == 2);
    CHECK(r.choice_expert[17] == 4);
    check_grouping(r, n_tokens, n_expert, n_used);
  }
  // 17 tokens of random logits over 9 experts, 4 per token.
  const std::vector<float> many = random_vec(17 * 9, 11);
  const Routing r = route(many, 17, 9, 4, true);
  for (int64_t t = 0; t < 17; ++t)
    check_token(many.data() + t * 9, 9, 4, true, r.choice_expert.data() + t * 4, r.weights.data() + t * 4);
  check_grouping(r, 17, 9, 4);

  sb::cpu::ThreadPool pool(1);
  std::vector<int32_t> ints(64);
  std::vector<float> w(64);
  CHECK(sb::cpu::moe_route(pool, many.data(), ints.data(), w.data(), ints.data(), ints.data(), ints.data(), 1, 3, 4,
                           true) == KernelStatus::kBadShape);
}

TEST_CASE("grouped expert matmuls equal each row's own matmul bitwise; combine equals a naive sum") {
  auto backend = sb::make_cpu_backend(2);
  const int64_t n_expert = 5, n_used = 2, n_tokens = 17, k = 64, m = 19;
  for (sb::DType dtype : {sb::DType::kF32, sb::DType::kQ8_0}) {
    INFO("dtype " << sb::dtype_name(dtype));
    std::vector<std::vector<float>> f32(n_expert);
    std::vector<std::vector<uint8_t>> q8(n_expert);
    std::vector<sb::DeviceWeight> experts(n_expert);
    for (int64_t e = 0; e < n_expert; ++e) {
      f32[e] = random_vec(static_cast<size_t>(m * k), 100 + static_cast<uint32_t>(e));
      const void* data = f32[e].data();
      if (dtype == sb::DType::kQ8_0) {
        q8[e].resize(static_cast<size_t>(m) * sb::dtype_row_bytes(dtype, k));
        for (int64_t o = 0; o < m; ++o)
          sb::quantize_row(dtype, f32[e].data() + o * k, q8[e].data() + o * sb::dtype_row_bytes(dtype, k), k);
        data = q8[e].data();
      }
      auto up = backend->upload_weight(sb::TensorView{"expert", dtype, m, k, data});
      REQUIRE(up.ok());
      experts[e] = *up;
    }
    const std::vector<float> x = random_vec(static_cast<size_t>(n_tokens * k), 7);
    const Routing r = route(random_vec(static_cast<size_t>(n_tokens * n_expert), 8), n_tokens, n_expert, n_used, true);
    const int64_t pairs = n_tokens * n_used;
    std::vector<float> xs(static_cast<size_t>(pairs * k)), ys(static_cast<size_t>(pairs * m));
    REQUIRE(backend->gather_rows(x.data(), r.row_token.data(), xs.data(), pairs, n_tokens, k).ok());
    REQUIRE(backend->moe_matmul(xs.data(), experts.data(), n_expert, r.expert_rows.data(), ys.data(), pairs).ok());
    for (int64_t e = 0; e < n_expert; ++e)
      for (int32_t row = r.expert_rows[e]; row < r.expert_rows[e + 1]; ++row) {
        std::vector<float> one(static_cast<size_t>(m));
        REQUIRE(backend->matmul(x.data() + r.row_token[row] * k, experts[e], sb::DeviceWeight{}, one.data(), 1).ok());
        CHECK(std::memcmp(one.data(), ys.data() + row * m, sizeof(float) * static_cast<size_t>(m)) == 0);
      }
    std::vector<float> out(static_cast<size_t>(n_tokens * m));
    REQUIRE(backend->moe_combine(ys.data(), r.choice_row.data(), r.weights.data(), out.data(), n_tokens, n_used, m).ok());
    for (int64_t t = 0; t < n_tokens; ++t)
      for (int64_t o = 0; o < m; ++o) {
        double want = 0;
        for (int64_t j = 0; j < n_used; ++j)
          want += static_cast<double>(r.weights[t * n_used + j]) * ys[r.choice_row[t * n_used + j] * m + o];
        CHECK(out[t * m + o] == doctest::Approx(want).epsilon(1e-5));
      }
    for (const sb::DeviceWeight& w : experts) backend->release_weight(w);
  }
  std::vector<int32_t> bad_rows = {0, 3, 2};
  std::vector<float> buf(64);
  sb::DeviceWeight w{sb::DType::kF32, 1, 1, buf.data()};
  const sb::DeviceWeight two[2] = {w, w};
  CHECK(!backend->moe_matmul(buf.data(), two, 2, bad_rows.data(), buf.data(), 3).ok());
}
