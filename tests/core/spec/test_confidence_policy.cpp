// Confidence scheduling with synthetic confidences and cost tables: the
// admitted set is what the early-stop rule of DESIGN.md section 7 says, a flat
// cost table admits everything the budget allows, near-zero confidence gets
// nothing, the marginal survival probability; the step-cost interpolation and
// what it learns from the run; the online calibration, per regime.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "core/spec/confidence_policy.h"

namespace {

std::vector<int> admit(const std::vector<std::vector<float>>& conf, int base_tokens, int base_emitted, int budget,
                       const sb::StepCost& cost) {
  std::vector<std::span<const float>> rows;
  for (const auto& c : conf) rows.emplace_back(c);
  std::vector<int> n(conf.size(), -1);
  sb::DraftAdmission a(static_cast<int>(conf.size()));
  a.admit(rows, base_tokens, base_emitted, budget, cost, 0.0, n);
  return n;
}

}  // namespace

TEST_CASE("step cost: linear between points, flat below, the last slope beyond") {
  const sb::StepCost c({{1, 1.0}, {4, 2.5}, {8, 4.5}});
  CHECK(c.seconds(1) == doctest::Approx(1.0));
  CHECK(c.seconds(0) == doctest::Approx(1.0));
  CHECK(c.seconds(2) == doctest::Approx(1.5));
  CHECK(c.seconds(4) == doctest::Approx(2.5));
  CHECK(c.seconds(6) == doctest::Approx(3.5));
  CHECK(c.seconds(10) == doctest::Approx(5.5));
  const sb::StepCost one({{1, 2.0}});
  CHECK(one.seconds(50) == doctest::Approx(2.0));
}

TEST_CASE("admission: decreasing survival probability, early stop at the first candidate that lowers Theta") {
  // seconds(B) = 2 + B. Base: 2 tokens, 2 emitted. Candidates by a: 0.9 (r0), 0.6 (r1), 0.45 (r0's second).
  // 0.9: 2.9 / 5 > 2 / 4; 0.6: 3.5 / 6 > 2.9 / 5; 0.45: 3.95 / 7 < 3.5 / 6 -> stop.
  std::vector<std::pair<int, double>> pts;
  for (int b = 1; b <= 64; ++b) pts.emplace_back(b, 2.0 + b);
  const sb::StepCost linear(pts);
  CHECK(admit({{0.9f, 0.5f}, {0.6f}}, 2, 2, 100, linear) == std::vector<int>{1, 1});
  // A request's token j only after j - 1, even when c_j is higher than a rival's c_0.
  CHECK(admit({{0.5f, 1.0f}, {0.45f}}, 2, 2, 100, sb::StepCost({{1, 1.0}})) == std::vector<int>{2, 1});
  // The budget bounds the total.
  CHECK(admit({{0.9f, 0.9f, 0.9f}, {0.8f, 0.8f}}, 2, 2, 3, sb::StepCost({{1, 1.0}})) == std::vector<int>{2, 1});
  // Empty rows get nothing.
  CHECK(admit({{}, {0.7f}}, 1, 1, 10, linear) == std::vector<int>{0, 1});
}

TEST_CASE("admission: a flat cost table admits every draft token; near-zero confidence gets nothing") {
  const sb::StepCost flat({{1, 0.01}, {512, 0.01}});
  const std::vector<std::vector<float>> conf = {{0.9f, 0.8f, 0.7f, 0.6f}, {0.1f, 0.1f}, {0.5f}};
  CHECK(admit(conf, 3, 3, 512, flat) == std::vector<int>{4, 2, 1});
  std::vector<std::pair<int, double>> pts;
  for (int b = 1; b <= 512; b *= 2) pts.emplace_back(b, 0.01 + 0.001 * b);
  const sb::StepCost rising(pts);
  CHECK(admit({{0.001f, 0.001f}, {0.0f}}, 2, 2, 512, rising) == std::vector<int>{0, 0});
  // Saturated load, cost proportional to tokens: a draft token pays only when its a
  // beats the step's emitted tokens per token (60 / 500).
  std::vector<std::pair<int, double>> prop;
  for (int b = 1; b <= 1024; b *= 2) prop.emplace_back(b, 0.001 * b);
  CHECK(admit({{0.1f, 0.1f}, {0.1f}}, 500, 60, 12, sb::StepCost(prop)) == std::vector<int>{0, 0});
  CHECK(admit({{0.9f, 0.9f}, {0.1f}}, 500, 60, 12, sb::StepCost(prop)) == std::vector<int>{2, 0});
}

TEST_CASE("calibration: starts at the raw value and moves to the observed acceptance rate, per regime") {
  using sb::DraftRegime;
  sb::ConfidenceCalibrator cal(4);
  CHECK(cal.calibrated(DraftRegime::kSampled, 0, 0.75f) == doctest::Approx(0.75));
  // Sampled: raw 0.75 at position 0 is accepted 1 time in 4; position 1 is seen
  // only after position 0 is accepted.
  const std::vector<float> raw = {0.75f, 0.75f, 0.75f};
  for (int i = 0; i < 400; ++i) cal.observe(DraftRegime::kSampled, raw, 3, i % 4 == 0 ? 3 : 0);
  CHECK(cal.calibrated(DraftRegime::kSampled, 0, 0.75f) == doctest::Approx(0.25).epsilon(0.02));
  CHECK(cal.calibrated(DraftRegime::kSampled, 1, 0.75f) == doctest::Approx(1.0).epsilon(0.05));
  CHECK(cal.calibrated(DraftRegime::kSampled, 0, 0.15f) == doctest::Approx(0.15));  // another bin: untouched
  cal.observe(DraftRegime::kSampled, raw, 1, 0);  // one verified, rejected: only position 0 observed
  CHECK(cal.calibrated(DraftRegime::kSampled, 2, 0.75f) == doctest::Approx(1.0).epsilon(0.05));
  // Greedy requests' outcomes are their own: the sampled ones left them at raw,
  // and theirs leave the sampled calibration where it was.
  CHECK(cal.calibrated(DraftRegime::kGreedy, 0, 0.75f) == doctest::Approx(0.75));
  for (int i = 0; i < 400; ++i) cal.observe(DraftRegime::kGreedy, raw, 1, 1);
  CHECK(cal.calibrated(DraftRegime::kGreedy, 0, 0.75f) == doctest::Approx(1.0).epsilon(0.02));
  CHECK(cal.calibrated(DraftRegime::kSampled, 0, 0.75f) == doctest::Approx(0.25).epsilon(0.02));
}

TEST_CASE("step cost: learns the run's timings per power-of-two bucket, the profile stays") {
  sb::StepCost cost({{1, 0.010}, {8, 0.012}, {64, 0.030}});
  CHECK(cost.seconds(16) == doctest::Approx(cost.profiled(16)));  // nothing observed: the profile
  // The run is twice as slow as profiled at 16..31 tokens: the factor averages
  // the observations with the profile's 1, then follows them.
  cost.observe(20, 2 * cost.profiled(20));
  CHECK(cost.seconds(24) == doctest::Approx(1.5 * cost.profiled(24)));
  for (int i = 0; i < 60; ++i) cost.observe(17 + i % 15, 2 * cost.profiled(17 + i % 15));
  CHECK(cost.seconds(24) == doctest::Approx(2 * cost.profiled(24)).epsilon(0.01));
  CHECK(cost.seconds(15) == doctest::Approx(cost.profiled(15)));  // other buckets keep the profile
  CHECK(cost.seconds(32) == doctest::Approx(cost.profiled(32)));
  // A cold first step is forgotten: the bucket follows what the run does since.
  cost.observe(300, 10 * cost.profiled(300));
  for (int i = 0; i < 60; ++i) cost.observe(300, 3 * cost.profiled(300));
  CHECK(cost.seconds(400) == doctest::Approx(3 * cost.profiled(400)).epsilon(0.01));
}

TEST_CASE("admission: the marginal is the survival probability of the first refused candidate") {
  std::vector<std::pair<int, double>> pts;
  for (int b = 1; b <= 64; ++b) pts.emplace_back(b, 2.0 + b);
  const sb::StepCost linear(pts);
  sb::DraftAdmission a(2);
  std::vector<int> n(2);
  // As above: 0.9 and 0.6 admitted, r0's second (a = 0.9 * 0.5) refused.
  const std::vector<float> r0 = {0.9f, 0.5f}, r1 = {0.6f};
  const std::vector<std::span<const float>> rows = {r0, r1};
  a.admit(rows, 2, 2, 100, linear, 0.0, n);
  CHECK(n == std::vector<int>{1, 1});
  CHECK(a.marginal() == doctest::Approx(0.45));
  // Everything admitted (flat cost) or the budget ran out: no refusal, no marginal.
  a.admit(rows, 2, 2, 100, sb::StepCost({{1, 1.0}}), 0.0, n);
  CHECK(n == std::vector<int>{2, 1});
  CHECK(a.marginal() == 0.0);
  a.admit(rows, 2, 2, 1, sb::StepCost({{1, 1.0}}), 0.0, n);
  CHECK(a.marginal() == 0.0);
}

TEST_CASE("admission: the drafter's spent seconds count in every Theta, so it admits more") {
  // seconds(B) = 2 + B; base 2 tokens emitting 2. Without drafter seconds a = 0.45 is refused (above);
  // with 10 spent: (3.5 + 0.45) / (7 + 10) > 3.5 / (6 + 10), admitted.
  std::vector<std::pair<int, double>> pts;
  for (int b = 1; b <= 64; ++b) pts.emplace_back(b, 2.0 + b);
  const sb::StepCost linear(pts);
  const std::vector<float> r0 = {0.9f, 0.5f}, r1 = {0.6f};
  const std::vector<std::span<const float>> rows = {r0, r1};
  sb::DraftAdmission a(2);
  std::vector<int> n(2);
  a.admit(rows, 2, 2, 100, linear, 10.0, n);
  CHECK(n == std::vector<int>{2, 1});
}

TEST_CASE("planner: survival means shrunk towards the prior, never rising with depth, windowed") {
  using P = sb::DraftPlanner;
  sb::DraftPlanner p(4);
  CHECK(p.mean_survival(0) == doctest::Approx(P::kPrior));
  CHECK(p.mean_survival(2) == doctest::Approx(P::kPrior * P::kPrior * P::kPrior));
  // Two drafts asked for 2 tokens: one survived as (1, 0.5), one stopped after 0.6.
  const std::vector<float> full = {1.0f, 0.5f}, short_one = {0.6f};
  p.observe(full, 2);
  p.observe(short_one, 2);
  const double a0 = (P::kPriorWeight * P::kPrior + 2 * 0.8) / (P::kPriorWeight + 2);
  const double a1 = (P::kPriorWeight * a0 * P::kPrior + 2 * 0.25) / (P::kPriorWeight + 2);
  CHECK(p.mean_survival(0) == doctest::Approx(a0));
  CHECK(p.mean_survival(1) == doctest::Approx(a1));
  CHECK(p.mean_survival(2) == doctest::Approx(a1 * P::kPrior));  // never drafted: the prior rate
  // Deeper positions never survive more often than shallower ones.
  sb::DraftPlanner q(3);
  for (int i = 0; i < 8; ++i) q.observe(std::vector<float>{0.2f, 0.2f, 0.2f}, 3);
  CHECK(q.mean_survival(1) <= q.mean_survival(0));
  CHECK(q.mean_survival(2) <= q.mean_survival(1));
  // The mean is over the last kWindow observations at most: new behaviour wins.
  for (int i = 0; i < 10 * P::kWindow; ++i) p.observe(std::vector<float>{}, 1);
  CHECK(p.mean_survival(0) < 0.1);
}

TEST_CASE("planner: drafts deep when the target step is flat and drafting cheap, not at all when it cannot pay") {
  sb::DraftPlanner p(8);
  const std::vector<float> good = {0.9f, 0.81f, 0.73f, 0.66f, 0.59f, 0.53f, 0.48f, 0.43f};
  for (int i = 0; i < 8; ++i) p.observe(good, 8);
  // Memory-bound target: 10 ms for any token count up to 16.
  const sb::StepCost flat({{1, 0.010}, {16, 0.010}, {512, 0.5}});
  std::vector<double> cheap(9), dear(9);
  for (int d = 0; d <= 8; ++d) {
    cheap[static_cast<size_t>(d)] = 0.001 * d;  // 1 ms per pass
    dear[static_cast<size_t>(d)] = 0.020 * d;   // 20 ms per pass: more than the target step
  }
  // One request: Theta(d) = (1 + sum a) / (0.010 + 0.001 d) rises to d = 8.
  CHECK(p.depth(1, 1, 1, flat, cheap) == 8);
  // Dear passes: (1 + 0.9) / (0.010 + 0.020) < 1 / 0.010, no depth pays.
  CHECK(p.depth(1, 1, 1, flat, dear) == 0);
  // Saturated: cost proportional to tokens, 64 decoding requests; even a cheap
  // drafter cannot pay for doubling the verified tokens at a < 1.
  std::vector<std::pair<int, double>> prop;
  for (int b = 1; b <= 1024; b *= 2) prop.emplace_back(b, 0.001 * b);
  CHECK(p.depth(64, 64, 64, sb::StepCost(prop), cheap) == 0);
  // A drafter that costs nothing always drafts to the deepest depth: admission decides.
  CHECK(p.depth(64, 64, 64, sb::StepCost(prop), std::vector<double>(9, 0.0)) == 8);
  // Useless drafts (survival 0) stop paying after a few observations, however cheap.
  sb::DraftPlanner useless(8);
  for (int i = 0; i < 64; ++i) useless.observe(std::vector<float>{}, 8);
  CHECK(useless.depth(1, 1, 1, flat, cheap) == 0);
  // Before any observation the prior gets a drafter tried where a good one would pay.
  CHECK(sb::DraftPlanner(8).depth(1, 1, 1, flat, cheap) > 0);
}
