// Drafters for speculative decoding (DESIGN.md section 7): for every drafting
// request of a step at once, propose up to k continuation tokens, each with the
// draft distribution q it was drawn from (one-hot for model-free drafters) and a
// raw, uncalibrated confidence that the target accepts it. An empty draft is
// normal. A stateful drafter keys its per-request state by the engine's request
// id; it is told through release() when a request finishes or is preempted. A
// drafter conditioned on the target's hidden states names the target layers it
// needs and is shown, after every step, the captured rows of the positions
// that step verified.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/sampler.h"
#include "core/spec/confidence_policy.h"
#include "core/spec/draft_spec.h"

namespace sb {

class Backend;
struct Model;
struct ModelConfig;

// Up to k proposed tokens. Token j's q is q[q_begin[j], q_begin[j + 1]): candidates
// with p summing to 1, including tokens[j] with p > 0.
struct Draft {
  std::vector<int32_t> tokens;            // [n]
  std::vector<float> confidence;          // [n] raw, in (0, 1]
  std::vector<Sampler::Candidate> q;      // [sum of the per-token candidate counts]
  std::vector<int32_t> q_begin;           // [n + 1]

  int size() const { return static_cast<int>(tokens.size()); }
  std::span<const Sampler::Candidate> q_of(int j) const {
    return std::span<const Sampler::Candidate>(q).subspan(static_cast<size_t>(q_begin[static_cast<size_t>(j)]),
                                                          static_cast<size_t>(q_begin[static_cast<size_t>(j) + 1] -
                                                                              q_begin[static_cast<size_t>(j)]));
  }
  // Sizes the buffers for k one-hot tokens and empties the draft (a full q
  // grows the candidate buffer on first use).
  void reserve_one_hot(int k);
  void clear();
  // Keeps the first n tokens (n <= size()).
  void truncate(int n);
  // Appends a token whose q is one-hot.
  void push_one_hot(int32_t token, float confidence);
  // Appends a token drawn from q (q holds it with p > 0).
  void push(int32_t token, float confidence, std::span<const Sampler::Candidate> q);
};

// A rule one request's draft tokens must follow (its output constraint): a
// drafter masks the logits of each draft token with it before drawing, so the
// draft stays within the rule and q is the distribution under it.
class DraftRule {
 public:
  virtual ~DraftRule() = default;
  // Masks logits [n_vocab] of the token after `drafted` (the draft so far);
  // false when the rule allows no token there (the draft ends).
  virtual bool mask(std::span<const int32_t> drafted, float* logits, int n_vocab) = 0;
  // How many leading draft tokens the rule accepts in turn (the Speculator cuts
  // the rest: drafters that do not draw from logits, n-gram lookup, ignore the mask).
  virtual int valid_prefix(std::span<const int32_t> tokens) = 0;
};

// One request's part of a step's proposal.
struct DraftRequest {
  uint64_t id = 0;                          // the engine's request id
  std::span<const int32_t> tokens;          // prompt + generated so far, non-empty
  int k = 0;                                // at most this many tokens, >= 1
  const SamplingParams* sampling = nullptr;  // the request's; temperature 0 is greedy
  uint64_t index = 0;                       // record index, a randomness key
  Draft* out = nullptr;                     // replaced by the proposal
  DraftRule* rule = nullptr;                // null: none
};

// The calibration regime of a request with these sampling settings.
inline DraftRegime draft_regime(const SamplingParams& sampling) {
  return sampling.temperature <= 0.0f ? DraftRegime::kGreedy : DraftRegime::kSampled;
}

// Early stop of autoregressive drafting (the confidence policy): a request is
// not extended past the token where its survival estimate
// a_j = calibrated(0, raw_0) * ... * calibrated(j, raw_j), calibrated in the
// request's regime, falls under min_survival.
struct DraftStop {
  const ConfidenceCalibrator* calibrator = nullptr;  // null: draft k tokens
  double min_survival = 0;

  // Multiplies *survival by r's draft token j's calibrated confidence (raw
  // `raw`); false once it falls under min_survival (never without a calibrator).
  bool survives(const DraftRequest& r, int j, float raw, double* survival) const;
};

// The drafter's work for a step that drafts `depth` tokens to each request:
// `passes` runs of its model over tokens_per_request tokens per request.
struct DraftPasses {
  int passes = 0;
  int tokens_per_request = 1;
};

// One request's positions verified by a step: batch rows row .. row + count - 1
// of the target's captured hidden states (Forward::captured()) hold positions
// position .. position + count - 1, whose tokens are now known and final.
struct VerifiedRows {
  uint64_t id = 0;
  int position = 0;
  int row = 0;
  int count = 0;
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Proposes for every request (distinct ids). Errors are backend failures.
  [[nodiscard]] virtual Status propose(std::span<const DraftRequest> requests, const DraftStop& stop) = 0;
  // Forgets a request's state; unknown ids are ignored.
  virtual void release(uint64_t id) = 0;
  // What drafting `depth` (>= 1) tokens per request runs (an autoregressive
  // drafter: one pass per token).
  virtual DraftPasses passes(int depth) const { return {depth, 1}; }
  // Seconds of one pass by its token count, as StepCost takes them, measured on
  // the drafter's still-empty state for up to max_requests requests; empty when
  // a pass costs nothing worth scheduling around (model-free drafters).
  [[nodiscard]] virtual StatusOr<std::vector<std::pair<int, double>>> profile_pass_cost(int max_requests) {
    (void)max_requests;
    return std::vector<std::pair<int, double>>{};
  }
  // Target layers whose hidden states the drafter reads (Forward's capture_layers);
  // empty: none, and observe() is never called.
  virtual std::span<const int> hidden_layers() const { return {}; }
  // After each step's verification, once for all requests (distinct ids) with
  // verified positions: captured is Forward::captured() of that step's target
  // forward (backend memory). Errors are backend failures.
  [[nodiscard]] virtual Status observe(const float* captured, std::span<const VerifiedRows> rows) {
    (void)captured;
    (void)rows;
    return ok_status();
  }
  // (tokens, seconds) of each model pass the last propose() ran, timed like
  // profile_pass_cost()'s (none for model-free drafters): the run's own costs,
  // which correct the profile.
  std::span<const std::pair<int, double>> pass_times() const { return pass_times_; }

 protected:
  // Records a pass over n_tokens that began at `start` and has just ended.
  void record_pass(int n_tokens, std::chrono::steady_clock::time_point start);
  std::vector<std::pair<int, double>> pass_times_;  // a drafter clears it as propose() begins
};

// Appends draft token j of request r (position r.tokens.size() + j) drawn from
// its next-token logits [n_vocab] (masked in place by r.rule first) under r's
// sampling settings: one-hot argmax when greedy, else q after
// temperature/top-k/top-p/min-p (candidates that underflowed dropped), drawn
// with RandomPurpose::kDraft. Returns the largest probability of that
// distribution (for greedy, at temperature 1), the raw confidence of drafters
// without a head of their own; it is also the pushed confidence, which the
// caller may replace. Returns -1 and appends nothing when r.rule allows no
// token: the draft ends. q is scratch.
float draw_draft_token(const DraftRequest& r, float* logits, int n_vocab, int j, Sampler& sampler,
                       std::vector<Sampler::Candidate>& q);

// What a model drafter is sized for: the engine's limits.
struct DrafterLimits {
  int max_k = 8;                 // k in propose() is at most this
  int max_seqs = 64;             // requests drafting at once
  int max_ctx = 0;               // tokens per request
  int max_batch_tokens = 512;    // tokens per draft forward (catch-up is chunked)
  int64_t kv_cache_tokens = 0;   // the target's KV pool; the draft's holds this plus drafts
  int kv_block_size = 16;
};

// The drafter a --draft value names (core/spec/draft_spec.h; not kNone). kNgram:
// n-gram lookup, n from min(2, N) to N. kDSpark: the checkpoint, loaded and
// checked against the target (core/model/dspark_model.h). kSelf and kModel need
// draft_model (load_draft_model(), core/spec/model_drafter.h). Model and DSpark
// drafters run on the backend.
StatusOr<std::unique_ptr<Drafter>> make_drafter(const DraftSpec& spec, const DrafterLimits& limits,
                                                const Model* draft_model, Backend* backend,
                                                const ModelConfig& target);

}  // namespace sb
