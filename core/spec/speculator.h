// Speculative decoding's part of an engine step (DESIGN.md section 7), in two
// calls. propose(), once the scheduler has planned the running requests' known
// tokens and before it admits new ones: plans how deep to draft at this load,
// runs the drafter for the requests whose chunk reaches their last known token,
// and adds the draft tokens the policy admits to those chunks
// (Scheduler::extend). observe(), after verification: each proposal's outcome
// goes to the confidence calibration and the depth planner, and the verified
// positions' hidden states to a drafter that reads them. The speculator owns
// the drafter, calibration, planner, admission, the cost tables and the step's
// drafts; the engine verifies and emits, and the scheduler rolls rejected
// tokens back. Allocates nothing per step (a sampled draft's q grows its buffer
// on first use).
//
// Calibration is kept per regime (greedy / sampled: DraftRegime), and per
// drafter since each speculator owns one. The cost tables start from the
// profile and learn the run's own timings: the target forward's (handed to
// observe()) and the drafter's passes (Drafter::pass_times()). A per-request
// rule on draft tokens (DraftRule: an output constraint) is applied inside the
// drafters through DraftRequest::rule and again between the drafter's proposal
// and admission in propose(), which cuts each draft at the first token the
// rule refuses.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/scheduler.h"
#include "core/spec/confidence_policy.h"
#include "core/spec/draft_spec.h"
#include "core/spec/drafter.h"

namespace sb {

class Forward;
class KvCache;

struct SpeculatorOptions {
  SpecPolicy policy = SpecPolicy::kConfidence;  // kFixed or kConfidence
  int spec_max = 8;                             // draft tokens per request and step, in [1, 64]
  int max_seqs = 64;                            // requests per step
  int max_batch_tokens = 512;                   // tokens per target step
  // kConfidence: (tokens, seconds) of one target step and of one draft pass, as
  // StepCost takes them. An empty step_cost is profiled at creation (the draft
  // pass too); an empty draft_pass_cost beside a given step_cost: the drafter costs nothing.
  std::vector<std::pair<int, double>> step_cost;
  std::vector<std::pair<int, double>> draft_pass_cost;
};

// A running request that may draft in this step: its chunk, index `chunk` of
// the running plan, reaches its last known token. request.k is the most draft
// tokens the request can take (its max_tokens, the context end; <= 0: none);
// request.out is set by the speculator.
struct SpecCandidate {
  size_t chunk = 0;
  DraftRequest request;
};

// How chunk i of the step's plan ended, reported after verification: positions
// position .. position + n_final - 1, at batch rows row .., are now final (known
// tokens and accepted draft tokens; 0 when the request finished), and
// n_accepted of its n_verified draft tokens were accepted.
struct SpecOutcome {
  uint64_t id = 0;
  int position = 0;
  int row = 0;
  int n_final = 0;
  int n_verified = 0;
  int n_accepted = 0;
};

class Speculator {
 public:
  // target and kv are the engine's forward and its still empty cache, needed
  // (else null) to profile the step cost when the confidence policy has none.
  static StatusOr<std::unique_ptr<Speculator>> create(std::unique_ptr<Drafter> drafter,
                                                      const SpeculatorOptions& options, Forward* target = nullptr,
                                                      KvCache* kv = nullptr);
  Speculator(const Speculator&) = delete;
  Speculator& operator=(const Speculator&) = delete;

  // Target layers whose hidden states the drafter reads (Forward's capture_layers).
  std::span<const int> hidden_layers() const { return drafter_->hidden_layers(); }
  // The confidence policy's step cost (given or profiled, corrected by the
  // run's timings); null under kFixed.
  const StepCost* step_cost() const { return step_cost_.get(); }
  // Its draft pass cost; null under kFixed or for a drafter that costs nothing.
  const StepCost* draft_pass_cost() const { return draft_pass_cost_.get(); }
  // Steps in which the drafter ran.
  uint64_t drafter_steps() const { return drafter_steps_; }

  // Before the forward; running is the plan of Scheduler::plan_running(),
  // candidates its chunks that reach their request's last known token, in plan
  // order. Errors are the drafter's backend failures.
  [[nodiscard]] Status propose(std::span<const ScheduledChunk> running, std::span<const SpecCandidate> candidates,
                               Scheduler& scheduler);
  // The draft behind the draft tokens of chunk i of the step's plan, or null
  // when propose() gave it none. Valid until the next propose().
  const Draft* draft(size_t chunk) const { return chunk < chunk_draft_.size() ? chunk_draft_[chunk] : nullptr; }
  // After verification: outcomes[i] is chunk i's of the step's plan; captured
  // is the target forward's Forward::captured(); the forward took
  // forward_seconds over forward_tokens tokens (the step cost learns it).
  // Errors are the drafter's backend failures.
  [[nodiscard]] Status observe(std::span<const SpecOutcome> outcomes, const float* captured, int forward_tokens,
                               double forward_seconds);
  // Forgets a request's drafter state (finished or preempted).
  void release(uint64_t id) { drafter_->release(id); }

 private:
  Speculator(std::unique_ptr<Drafter> drafter, const SpeculatorOptions& options);
  // Prices the confidence policy's steps (profiled when not given).
  Status init_costs(const SpeculatorOptions& options, Forward* target, KvCache* kv);
  // The confidence policy: the depth worth drafting, 0 when none pays.
  int plan_depth(int base_tokens, int base_emitted);
  // The confidence policy after drafting: adds the admitted draft tokens to the plan.
  void admit(int base_tokens, int base_emitted, int depth, Scheduler& scheduler);
  // Tells the planner how a proposal of a request in `regime` fared.
  void learn(const Draft& d, DraftRegime regime, int asked, int n_verified, int n_accepted);
  // Seconds the drafter spends on `depth` tokens for each of n_requests.
  double draft_seconds(int n_requests, int depth) const;

  std::unique_ptr<Drafter> drafter_;
  SpecPolicy policy_;
  int spec_max_;
  ConfidenceCalibrator calibrator_;
  DraftPlanner planner_;
  DraftAdmission admission_;
  std::unique_ptr<StepCost> step_cost_;        // kConfidence: given or profiled
  std::unique_ptr<StepCost> draft_pass_cost_;  // kConfidence with a drafter that costs something
  uint64_t drafter_steps_ = 0;

  // The step's proposals, sized at creation.
  std::vector<Draft> drafts_;               // [max_seqs] one per drafting request
  std::vector<DraftRequest> requests_;      // [max_seqs] this step's drafting requests
  std::vector<size_t> request_chunk_;       // [max_seqs] each one's chunk in the plan
  std::vector<const Draft*> chunk_draft_;   // [max_seqs] by running chunk: its draft or null
  bool learns_ = false;                     // the planner learns this step's proposals' outcomes
  std::vector<float> confidence_;           // [max_seqs, spec_max] calibrated, per nonempty proposal
  std::vector<std::span<const float>> confidence_rows_;  // [max_seqs]
  std::vector<size_t> admitted_chunk_;      // [max_seqs] the chunk of each confidence row
  std::vector<int> n_admitted_;             // [max_seqs]
  std::vector<double> draft_seconds_;       // [spec_max + 1] by depth
  std::vector<float> survival_;             // [spec_max] one proposal's a_r0, a_r1, ...
  std::vector<VerifiedRows> verified_;      // [max_seqs] this step's, for a hidden-state drafter
};

}  // namespace sb
