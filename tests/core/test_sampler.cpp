// Sampler filters on hand-made distributions, counter-based seeding, and a
// chi-square test that draws follow the filtered distribution.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/random.h"
#include "core/sampler.h"

namespace {

// Logits whose softmax is exactly probs.
std::vector<float> logits_of(const std::vector<double>& probs) {
  std::vector<float> l;
  for (double p : probs) l.push_back(static_cast<float>(std::log(p)));
  return l;
}

std::map<int32_t, double> as_map(std::span<const sb::Sampler::Candidate> d) {
  std::map<int32_t, double> m;
  for (const auto& c : d) m[c.id] = c.p;
  return m;
}

}  // namespace

TEST_CASE("greedy takes the argmax, the lowest id on ties") {
  const std::vector<float> l = {0.5f, 2.0f, -1.0f, 2.0f};
  CHECK(sb::argmax(l.data(), 4) == 1);
  sb::Sampler s(4);
  sb::SamplingParams p;
  p.temperature = 0;
  CHECK(s.sample(l.data(), p, 0.99) == 1);
}

TEST_CASE("top-k, top-p, min-p and temperature on a hand-made distribution") {
  const std::vector<double> probs = {0.05, 0.4, 0.1, 0.25, 0.2};
  const auto l = logits_of(probs);
  sb::Sampler s(5);
  sb::SamplingParams p;

  auto d = as_map(s.distribution(l.data(), p));  // no filter
  for (int i = 0; i < 5; ++i) CHECK(d[i] == doctest::Approx(probs[i]).epsilon(1e-6));

  p.top_k = 2;  // {1: .4, 3: .25}
  d = as_map(s.distribution(l.data(), p));
  CHECK(d.size() == 2);
  CHECK(d[1] == doctest::Approx(0.4 / 0.65).epsilon(1e-6));
  CHECK(d[3] == doctest::Approx(0.25 / 0.65).epsilon(1e-6));

  p = {};
  p.top_p = 0.7f;  // .4 + .25 = .65 < .7, so .2 joins: {1, 3, 4}
  d = as_map(s.distribution(l.data(), p));
  CHECK(d.size() == 3);
  CHECK(d[4] == doctest::Approx(0.2 / 0.85).epsilon(1e-6));
  p.top_p = 0.65f - 1e-4f;  // reached by the first two exactly
  CHECK(s.distribution(l.data(), p).size() == 2);
  p.top_p = 0.01f;  // never empty
  CHECK(s.distribution(l.data(), p).size() == 1);

  p = {};
  p.min_p = 0.5f;  // keep p >= 0.2: {1, 3, 4}
  d = as_map(s.distribution(l.data(), p));
  CHECK(d.size() == 3);
  CHECK(d.count(4) == 1);

  p = {};
  p.temperature = 0.5f;  // p^2 renormalised
  d = as_map(s.distribution(l.data(), p));
  double z = 0;
  for (double q : probs) z += q * q;
  for (int i = 0; i < 5; ++i) CHECK(d[i] == doctest::Approx(probs[i] * probs[i] / z).epsilon(1e-5));

  p.top_k = 3;  // order: temperature, then top-k, then top-p, then min-p
  p.top_p = 0.9f;
  p.min_p = 0.3f;
  d = as_map(s.distribution(l.data(), p));
  // t=0.5: .16,.0625,.04 (ids 1,3,4) / .2625 -> .6095,.2381,.1524; top-p .9 keeps all three
  // (.6095+.2381 = .8476 < .9); min-p .3 * .6095 = .183 drops id 4.
  CHECK(d.size() == 2);
  CHECK(d[1] == doctest::Approx(0.16 / 0.2225).epsilon(1e-5));
}

TEST_CASE("typical-p keeps the most typical tokens, after min-p, on a hand-made distribution") {
  const std::vector<double> probs = {0.05, 0.4, 0.1, 0.25, 0.2};
  const auto l = logits_of(probs);
  sb::Sampler s(5);
  sb::SamplingParams p;
  // H = 1.4151; |-log p - H| by id: 1.581, 0.499, 0.888, 0.029, 0.194, so the
  // order is 3, 4, 1, 2, 0 (mass .25, .45, .85, ...).
  p.typical_p = 0.5f;
  auto d = as_map(s.distribution(l.data(), p));
  CHECK(d.size() == 3);
  CHECK(d[1] == doctest::Approx(0.4 / 0.85).epsilon(1e-6));
  p.typical_p = 0.4f;
  d = as_map(s.distribution(l.data(), p));
  CHECK(d.size() == 2);
  CHECK(d[3] == doctest::Approx(0.25 / 0.45).epsilon(1e-6));
  p.typical_p = 0.01f;  // never empty
  CHECK(s.distribution(l.data(), p).size() == 1);
  p.min_p = 0.6f;  // min-p first: {1: .4, 3: .25} (H over those two), then typical-p
  p.typical_p = 0.5f;
  const double a = 0.4 / 0.65, b = 0.25 / 0.65, h = -a * std::log(a) - b * std::log(b);
  const int32_t first = std::fabs(-std::log(a) - h) < std::fabs(-std::log(b) - h) ? 1 : 3;
  d = as_map(s.distribution(l.data(), p));
  REQUIRE(d.size() == 1);
  CHECK(d.count(first) == 1);
}

TEST_CASE("counter-based randomness is reproducible and keyed by every field") {
  const double u = sb::random_uniform(7, 3, 10, sb::RandomPurpose::kSample);
  CHECK(u == sb::random_uniform(7, 3, 10, sb::RandomPurpose::kSample));
  CHECK(u >= 0.0);
  CHECK(u < 1.0);
  CHECK(u != sb::random_uniform(8, 3, 10, sb::RandomPurpose::kSample));
  CHECK(u != sb::random_uniform(7, 4, 10, sb::RandomPurpose::kSample));
  CHECK(u != sb::random_uniform(7, 3, 11, sb::RandomPurpose::kSample));
  CHECK(u != sb::random_uniform(7, 3, 10, sb::RandomPurpose::kAccept));
  // Seeded sampling gives the same tokens on a second run.
  const auto l = logits_of({0.1, 0.2, 0.3, 0.4});
  sb::Sampler s(4);
  sb::SamplingParams p;
  p.seed = 42;
  std::vector<int32_t> a, b;
  for (int pos = 0; pos < 50; ++pos) a.push_back(s.sample(l.data(), p, sb::random_uniform(42, 0, pos, sb::RandomPurpose::kSample)));
  for (int pos = 0; pos < 50; ++pos) b.push_back(s.sample(l.data(), p, sb::random_uniform(42, 0, pos, sb::RandomPurpose::kSample)));
  CHECK(a == b);
}

TEST_CASE("sampled tokens follow the filtered distribution (chi-square)") {
  const std::vector<double> probs = {0.02, 0.3, 0.08, 0.25, 0.15, 0.2};
  const auto l = logits_of(probs);
  sb::Sampler s(6);
  sb::SamplingParams p;
  p.top_k = 5;  // drops id 0; the rest renormalised by 0.98
  const int n = 40000;
  std::vector<int> counts(6, 0);
  for (int i = 0; i < n; ++i)
    ++counts[s.sample(l.data(), p, sb::random_uniform(1, 0, i, sb::RandomPurpose::kSample))];
  CHECK(counts[0] == 0);
  double chi2 = 0;
  for (int i = 1; i < 6; ++i) {
    const double expected = n * probs[i] / 0.98;
    chi2 += (counts[i] - expected) * (counts[i] - expected) / expected;
  }
  // 4 degrees of freedom: P(chi2 > 18.47) = 0.001.
  CHECK(chi2 < 18.47);
}
