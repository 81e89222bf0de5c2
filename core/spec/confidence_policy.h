// Confidence scheduling of draft tokens (DESIGN.md section 7). Raw drafter
// confidences are calibrated online, per draft position, against the accept /
// reject outcomes the speculator observes (core/spec/speculator.h); the step's cost is a measured table
// seconds(B) over batch token counts (SPS(B) = 1 / seconds(B), interpolated)
// plus the drafter's own seconds; the planner picks how deep to draft before
// the drafter runs (none when drafting cannot pay at the current load), and
// admission takes candidates in decreasing survival probability a_rj and stops
// at the first that lowers Theta = expected emitted tokens / step seconds.
// Nothing here allocates after construction.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace sb {

// The two ways a request's draft tokens are verified, calibrated apart: a
// greedy request accepts a draft token when it is the target's argmax, a
// sampled one with probability min(1, p/q). A drafter's raw confidence (DSpark's
// head is trained for temperature-1 acceptance) means a different thing in each.
enum class DraftRegime { kGreedy, kSampled };

class ConfidenceCalibrator {
 public:
  explicit ConfidenceCalibrator(int max_k);
  // Estimated probability that draft token j of a request in `regime` is
  // accepted given that the ones before it were, for raw confidence `raw` in
  // [0, 1]: the regime's observed rate in raw's bin, shrunk towards raw while
  // the bin has few observations.
  float calibrated(DraftRegime regime, int j, float raw) const;
  // One verification of n_verified draft tokens with these raw confidences:
  // [0, n_accepted) accepted, token n_accepted rejected when n_accepted < n_verified.
  void observe(DraftRegime regime, std::span<const float> raw, int n_verified, int n_accepted);

 private:
  static constexpr int kBins = 10;
  static constexpr int kRegimes = 2;
  static constexpr float kPriorWeight = 4.0f;  // observations the raw value counts as
  // The counters' index of (regime, j, raw's bin).
  size_t cell(DraftRegime regime, int j, float raw) const;
  int max_k_;
  std::vector<uint32_t> seen_;      // [kRegimes, max_k, kBins]
  std::vector<uint32_t> accepted_;  // [kRegimes, max_k, kBins]
};

// Seconds of one target step (or draft pass) by its token count: a profile of
// measured points, corrected by the steps the run itself times. Each
// power-of-two bucket of token counts keeps a factor, observed seconds over the
// profile's: an average of its observations in which the profile counts as one
// (factor 1), then, past kWindow observations, an exponential average with
// weight 1 / (kWindow + 1). So a profile taken on a busier or another machine,
// a short profile that underprices big steps, or a cost curve with a cliff
// misleads only briefly. A bucket the run has not stepped in keeps the
// profile: a step size that looks cheaper than the ones observed gets tried
// (drafting less), and is then priced by what it took.
class StepCost {
 public:
  // points: (tokens, seconds), tokens strictly increasing from >= 1, seconds > 0.
  explicit StepCost(std::vector<std::pair<int, double>> points);
  // The profile times the correction of n_tokens' bucket.
  double seconds(int n_tokens) const;
  // The profile alone: linear between points; the first point's value below
  // it; the last two points' slope (never below 0) beyond the last; one point: constant.
  double profiled(int n_tokens) const;
  // A step of n_tokens (>= 1) that took `seconds` (> 0) in the run.
  void observe(int n_tokens, double seconds);
  std::span<const std::pair<int, double>> points() const { return points_; }

  // A cold first step (page faults, caches) is forgotten within a few dozen.
  static constexpr uint32_t kWindow = 8;

 private:
  static constexpr int kBuckets = 32;  // floor(log2(n_tokens)) of an int
  static int bucket(int n_tokens);
  std::vector<std::pair<int, double>> points_;
  double factor_[kBuckets];       // by bucket
  uint32_t seen_[kBuckets] = {};  // observations, saturating at kWindow
};

class DraftAdmission {
 public:
  explicit DraftAdmission(int max_requests);
  // confidence[r]: request r's calibrated conditional confidences c_r0, c_r1, ...
  // (each in [0, 1]). base_tokens: the step's tokens without drafts (>= 1);
  // base_emitted: tokens the step emits without drafts (one per sampling request);
  // budget: draft tokens the step can still take; draft_seconds: what the
  // drafter already spent on this step (it counts in every Theta). Writes the
  // admitted count of each request to n_admitted [confidence.size()].
  void admit(std::span<const std::span<const float>> confidence, int base_tokens, int base_emitted, int budget,
             const StepCost& cost, double draft_seconds, std::span<int> n_admitted);
  // The marginal survival probability of the last admit(): that of the first
  // candidate it refused for lowering Theta (every later one was lower), or 0
  // when it refused none. Drafting a token below it is likely wasted.
  double marginal() const { return marginal_; }

 private:
  struct Candidate {
    double a;  // survival probability of the request's next draft token
    int r;
  };
  std::vector<Candidate> heap_;  // [max_requests]
  double marginal_ = 0;
};

// How deep a step drafts, decided before the drafter runs: its work is spent
// before admission sees a confidence, so it is priced up front. The planner
// estimates abar_j, the survival of draft position j over recent drafting
// requests: observed outcomes where verified (1 accepted, 0 rejected or after a
// rejection, 0 where a draft stopped short), the calibrated survival where not.
// For a step whose R drafting requests ride on B0 tokens that emit E0 without
// drafts, it picks the depth d maximizing
//   Theta(d) = (E0 + R (abar_0 + ... + abar_{d-1})) / (seconds(B0 + R d) + draft_seconds[d]),
// 0 (the drafter does not run) when no depth beats Theta(0) = E0 / seconds(B0).
// All verified, every request alike: at saturated load a costly drafter is
// skipped, at low load it drafts as deep as its survival pays for. A drafter
// that costs nothing always drafts to the deepest depth (admission decides).
class DraftPlanner {
 public:
  explicit DraftPlanner(int max_k);
  // One drafting request's survival a_0, a_1, ... (as above) of a draft asked
  // for `asked` tokens; positions past survival.size() count 0.
  void observe(std::span<const float> survival, int asked);
  // abar_j: the mean of the last kWindow observations of position j, shrunk
  // towards abar_{j-1} * kPrior as if that were kPriorWeight more (abar_{-1} = 1),
  // and never above abar_{j-1}. A position not yet drafted is abar_{j-1} * kPrior.
  double mean_survival(int j) const;
  // draft_seconds[d] for d = 0 .. max depth (draft_seconds[0] = 0; max depth
  // <= max_k). n_requests >= 1, base_tokens >= 1.
  int depth(int n_requests, int base_tokens, int base_emitted, const StepCost& target,
            std::span<const double> draft_seconds) const;

  // Conditional acceptance assumed before observations: optimistic enough that
  // a drafter gets tried wherever a good one would pay, and a useless one is
  // given up after a few steps.
  static constexpr double kPrior = 0.8;
  static constexpr double kPriorWeight = 4;  // observations the prior counts as
  static constexpr int kWindow = 64;          // observations the mean is an average over, at most

 private:
  int max_k_;
  std::vector<double> mean_;    // [max_k] observed mean
  std::vector<uint32_t> seen_;  // [max_k] observations, saturating at kWindow
};

}  // namespace sb
