#include "core/spec/confidence_policy.h"

#include <algorithm>
#include <bit>
#include <iterator>

#include "core/base/status.h"

namespace sb {

ConfidenceCalibrator::ConfidenceCalibrator(int max_k) : max_k_(max_k) {
  SB_CHECK(max_k >= 1);
  seen_.assign(static_cast<size_t>(kRegimes) * static_cast<size_t>(max_k) * kBins, 0);
  accepted_.assign(seen_.size(), 0);
}

size_t ConfidenceCalibrator::cell(DraftRegime regime, int j, float raw) const {
  SB_CHECK(j >= 0 && j < max_k_);
  const int bin = std::clamp(static_cast<int>(raw * kBins), 0, kBins - 1);
  return (static_cast<size_t>(regime) * static_cast<size_t>(max_k_) + static_cast<size_t>(j)) * kBins +
         static_cast<size_t>(bin);
}

float ConfidenceCalibrator::calibrated(DraftRegime regime, int j, float raw) const {
  const size_t i = cell(regime, j, raw);
  return (static_cast<float>(accepted_[i]) + kPriorWeight * std::clamp(raw, 0.0f, 1.0f)) /
         (static_cast<float>(seen_[i]) + kPriorWeight);
}

void ConfidenceCalibrator::observe(DraftRegime regime, std::span<const float> raw, int n_verified, int n_accepted) {
  SB_CHECK(n_accepted <= n_verified && n_verified <= static_cast<int>(raw.size()) && n_verified <= max_k_);
  const int last = std::min(n_accepted, n_verified - 1);  // the rejected one, if any, is observed too
  for (int j = 0; j <= last; ++j) {
    const size_t i = cell(regime, j, raw[static_cast<size_t>(j)]);
    ++seen_[i];
    accepted_[i] += j < n_accepted;
  }
}

StepCost::StepCost(std::vector<std::pair<int, double>> points) : points_(std::move(points)) {
  SB_CHECK(!points_.empty() && points_[0].first >= 1);
  for (size_t i = 0; i < points_.size(); ++i) {
    SB_CHECK(points_[i].second > 0);
    SB_CHECK(i == 0 || points_[i].first > points_[i - 1].first);
  }
  std::fill(std::begin(factor_), std::end(factor_), 1.0);
}

int StepCost::bucket(int n) { return std::bit_width(static_cast<unsigned>(std::max(n, 1))) - 1; }

double StepCost::seconds(int n) const { return profiled(n) * factor_[bucket(n)]; }

double StepCost::profiled(int n) const {
  if (n <= points_.front().first || points_.size() == 1) return points_.front().second;
  const auto hi = std::lower_bound(points_.begin(), points_.end(), n,
                                   [](const std::pair<int, double>& p, int v) { return p.first < v; });
  if (hi != points_.end() && hi->first == n) return hi->second;
  const auto b = hi == points_.end() ? points_.end() - 1 : hi;
  const auto a = b - 1;
  const double slope = (b->second - a->second) / (b->first - a->first);
  if (hi == points_.end()) return b->second + std::max(0.0, slope) * (n - b->first);
  return a->second + slope * (n - a->first);
}

void StepCost::observe(int n, double seconds) {
  SB_CHECK(n >= 1 && seconds > 0);
  const int b = bucket(n);
  seen_[b] = std::min(seen_[b] + 1, kWindow);
  factor_[b] += (seconds / profiled(n) - factor_[b]) / (seen_[b] + 1);
}

DraftAdmission::DraftAdmission(int max_requests) { heap_.reserve(static_cast<size_t>(max_requests)); }

void DraftAdmission::admit(std::span<const std::span<const float>> confidence, int base_tokens, int base_emitted,
                           int budget, const StepCost& cost, double draft_seconds, std::span<int> n_admitted) {
  SB_CHECK(n_admitted.size() == confidence.size() && confidence.size() <= heap_.capacity() && base_tokens >= 1);
  // The highest a first; the lower request index on ties (deterministic).
  const auto lower = [](const Candidate& x, const Candidate& y) { return x.a < y.a || (x.a == y.a && x.r > y.r); };
  heap_.clear();
  for (size_t r = 0; r < confidence.size(); ++r) {
    n_admitted[r] = 0;
    if (!confidence[r].empty()) heap_.push_back({confidence[r][0], static_cast<int>(r)});
  }
  std::make_heap(heap_.begin(), heap_.end(), lower);
  double tau = base_emitted;
  int b = base_tokens;
  marginal_ = 0;
  while (!heap_.empty() && budget > 0) {
    const Candidate c = heap_.front();
    // Theta = tau / (seconds(B) + draft) must grow.
    if (!((tau + c.a) * (cost.seconds(b) + draft_seconds) > tau * (cost.seconds(b + 1) + draft_seconds))) {
      marginal_ = c.a;
      break;
    }
    std::pop_heap(heap_.begin(), heap_.end(), lower);
    heap_.pop_back();
    tau += c.a;
    ++b;
    --budget;
    const size_t r = static_cast<size_t>(c.r);
    const int j = ++n_admitted[r];
    if (j < static_cast<int>(confidence[r].size())) {
      heap_.push_back({c.a * confidence[r][static_cast<size_t>(j)], c.r});
      std::push_heap(heap_.begin(), heap_.end(), lower);
    }
  }
}

DraftPlanner::DraftPlanner(int max_k) : max_k_(max_k), mean_(static_cast<size_t>(max_k), 0), seen_(static_cast<size_t>(max_k), 0) {
  SB_CHECK(max_k >= 1);
}

void DraftPlanner::observe(std::span<const float> survival, int asked) {
  SB_CHECK(survival.size() <= static_cast<size_t>(asked) && asked <= max_k_);
  for (int j = 0; j < asked; ++j) {
    const size_t i = static_cast<size_t>(j);
    const double a = i < survival.size() ? survival[i] : 0.0;
    if (seen_[i] < kWindow) ++seen_[i];
    mean_[i] += (a - mean_[i]) / seen_[i];
  }
}

double DraftPlanner::mean_survival(int j) const {
  SB_CHECK(j >= 0 && j < max_k_);
  double before = 1;
  double abar = 1;
  for (int i = 0; i <= j; ++i) {
    const double n = seen_[static_cast<size_t>(i)];
    const double prior = before * kPrior;
    abar = std::min(before, (kPriorWeight * prior + n * mean_[static_cast<size_t>(i)]) / (kPriorWeight + n));
    before = abar;
  }
  return abar;
}

int DraftPlanner::depth(int n_requests, int base_tokens, int base_emitted, const StepCost& target,
                        std::span<const double> draft_seconds) const {
  SB_CHECK(n_requests >= 1 && base_tokens >= 1 && !draft_seconds.empty() &&
           draft_seconds.size() <= static_cast<size_t>(max_k_) + 1);
  const int max_depth = static_cast<int>(draft_seconds.size()) - 1;
  if (std::all_of(draft_seconds.begin(), draft_seconds.end(), [](double s) { return s == 0; })) return max_depth;
  int best = 0;
  double best_theta = base_emitted / target.seconds(base_tokens);
  double tau = base_emitted;
  for (int d = 1; d <= max_depth; ++d) {
    tau += n_requests * mean_survival(d - 1);
    const double theta =
        tau / (target.seconds(base_tokens + n_requests * d) + draft_seconds[static_cast<size_t>(d)]);
    if (theta > best_theta) {
      best = d;
      best_theta = theta;
    }
  }
  return best;
}

}  // namespace sb
