#include "core/spec/speculator.h"

#include <algorithm>

#include "core/forward.h"
#include "core/kv_cache.h"

namespace sb {

Speculator::Speculator(std::unique_ptr<Drafter> drafter, const SpeculatorOptions& o)
    : drafter_(std::move(drafter)),
      policy_(o.policy),
      spec_max_(o.spec_max),
      calibrator_(o.spec_max),
      planner_(o.spec_max),
      admission_(o.max_seqs) {
  const size_t ms = static_cast<size_t>(o.max_seqs);
  drafts_.resize(ms);
  for (Draft& d : drafts_) d.reserve_one_hot(o.spec_max);
  requests_.reserve(ms);
  request_chunk_.reserve(ms);
  chunk_draft_.reserve(ms);
  confidence_.resize(ms * static_cast<size_t>(o.spec_max));
  confidence_rows_.reserve(ms);
  admitted_chunk_.reserve(ms);
  n_admitted_.resize(ms);
  draft_seconds_.reserve(static_cast<size_t>(o.spec_max) + 1);
  survival_.resize(static_cast<size_t>(o.spec_max));
  verified_.reserve(ms);
}

StatusOr<std::unique_ptr<Speculator>> Speculator::create(std::unique_ptr<Drafter> drafter,
                                                         const SpeculatorOptions& options, Forward* target,
                                                         KvCache* kv) {
  SB_CHECK(drafter != nullptr && options.policy != SpecPolicy::kOff);
  if (options.spec_max < 1 || options.spec_max > 64 || options.max_seqs < 1 || options.max_batch_tokens < 1)
    return invalid_argument("speculator: spec_max must be in [1, 64], max_seqs and max_batch_tokens positive");
  std::unique_ptr<Speculator> s(new Speculator(std::move(drafter), options));
  if (options.policy == SpecPolicy::kConfidence) SB_RETURN_IF_ERROR(s->init_costs(options, target, kv));
  return s;
}

Status Speculator::init_costs(const SpeculatorOptions& o, Forward* target, KvCache* kv) {
  std::vector<std::pair<int, double>> step = o.step_cost, pass = o.draft_pass_cost;
  if (step.empty()) {
    if (target == nullptr || kv == nullptr)
      return invalid_argument("speculator: the confidence policy needs a step cost or a target to profile");
    SB_ASSIGN_OR_RETURN(step, profile_forward(*target, *kv, o.max_batch_tokens, o.max_seqs));
    if (step.empty()) return internal_error("engine: the KV cache has no room to profile a one-token step");
    SB_ASSIGN_OR_RETURN(pass, drafter_->profile_pass_cost(o.max_seqs));
  }
  step_cost_ = std::make_unique<StepCost>(std::move(step));
  if (!pass.empty()) draft_pass_cost_ = std::make_unique<StepCost>(std::move(pass));
  return ok_status();
}

Status Speculator::propose(std::span<const ScheduledChunk> running, std::span<const SpecCandidate> candidates,
                           Scheduler& scheduler) {
  SB_CHECK(running.size() <= chunk_draft_.capacity() && candidates.size() <= requests_.capacity());
  requests_.clear();
  request_chunk_.clear();
  chunk_draft_.assign(running.size(), nullptr);
  learns_ = false;
  int base_tokens = 0, base_emitted = 0;
  for (const ScheduledChunk& c : running) {
    base_tokens += c.count;
    base_emitted += c.start + c.count == c.seq->n_tokens;
  }
  for (const SpecCandidate& c : candidates) {
    if (c.request.k <= 0) continue;
    DraftRequest r = c.request;
    r.k = std::min(r.k, spec_max_);
    r.out = &drafts_[requests_.size()];
    requests_.push_back(r);
    request_chunk_.push_back(c.chunk);
  }
  if (requests_.empty()) return ok_status();
  DraftStop stop;
  int depth = spec_max_;
  if (policy_ == SpecPolicy::kConfidence) {
    // How deep drafting pays at this load, the drafter's cost included (none:
    // the drafter does not run); autoregressive drafting stops early where the
    // last step's admission stopped.
    depth = plan_depth(base_tokens, base_emitted);
    if (depth == 0) {
      requests_.clear();
      return ok_status();
    }
    for (DraftRequest& r : requests_) r.k = std::min(r.k, depth);
    stop = {&calibrator_, admission_.marginal()};
  }
  SB_RETURN_IF_ERROR(drafter_->propose(requests_, stop));
  ++drafter_steps_;
  if (draft_pass_cost_)
    for (const auto& [tokens, seconds] : drafter_->pass_times()) draft_pass_cost_->observe(tokens, seconds);
  // A request with a rule keeps its draft up to the first token the rule refuses.
  for (const DraftRequest& r : requests_)
    if (r.rule != nullptr && r.out->size() > 0) r.out->truncate(r.rule->valid_prefix(r.out->tokens));
  for (size_t m = 0; m < requests_.size(); ++m)
    if (requests_[m].out->size() > 0) chunk_draft_[request_chunk_[m]] = requests_[m].out;
  if (policy_ == SpecPolicy::kFixed) {
    for (size_t m = 0; m < requests_.size(); ++m)
      if (requests_[m].out->size() > 0) scheduler.extend(request_chunk_[m], requests_[m].out->size());
    return ok_status();
  }
  admit(base_tokens, base_emitted, depth, scheduler);
  return ok_status();
}

int Speculator::plan_depth(int base_tokens, int base_emitted) {
  const int n_requests = static_cast<int>(requests_.size());
  draft_seconds_.clear();
  for (int d = 0; d <= spec_max_; ++d) draft_seconds_.push_back(draft_seconds(n_requests, d));
  return planner_.depth(n_requests, base_tokens, base_emitted, *step_cost_, draft_seconds_);
}

void Speculator::admit(int base_tokens, int base_emitted, int depth, Scheduler& scheduler) {
  // Calibrated confidences of each nonempty proposal; the planner learns every
  // proposal's outcome (an empty one too) in observe().
  learns_ = true;
  confidence_rows_.clear();
  admitted_chunk_.clear();
  for (size_t m = 0; m < requests_.size(); ++m) {
    const Draft& draft = *requests_[m].out;
    if (draft.size() == 0) continue;
    const DraftRegime regime = draft_regime(*requests_[m].sampling);
    float* c = confidence_.data() + confidence_rows_.size() * static_cast<size_t>(spec_max_);
    for (int j = 0; j < draft.size(); ++j)
      c[j] = calibrator_.calibrated(regime, j, draft.confidence[static_cast<size_t>(j)]);
    confidence_rows_.emplace_back(c, static_cast<size_t>(draft.size()));
    admitted_chunk_.push_back(request_chunk_[m]);
  }
  if (confidence_rows_.empty()) return;
  const std::span<int> n_admitted(n_admitted_.data(), confidence_rows_.size());
  admission_.admit(confidence_rows_, base_tokens, base_emitted, scheduler.budget_left(), *step_cost_,
                   draft_seconds(static_cast<int>(requests_.size()), depth), n_admitted);
  for (size_t m = 0; m < n_admitted.size(); ++m)
    if (n_admitted[m] > 0) scheduler.extend(admitted_chunk_[m], n_admitted[m]);
}

Status Speculator::observe(std::span<const SpecOutcome> outcomes, const float* captured, int forward_tokens,
                           double forward_seconds) {
  if (step_cost_ && forward_tokens > 0 && forward_seconds > 0) step_cost_->observe(forward_tokens, forward_seconds);
  // Proposals in plan order: the planner learns each outcome, then the
  // calibrator (the next proposal's survival reads the calibration so far).
  for (size_t m = 0; m < requests_.size(); ++m) {
    SB_CHECK(request_chunk_[m] < outcomes.size());
    const SpecOutcome& o = outcomes[request_chunk_[m]];
    const DraftRequest& r = requests_[m];
    const DraftRegime regime = draft_regime(*r.sampling);
    if (learns_) learn(*r.out, regime, r.k, o.n_verified, o.n_accepted);
    if (o.n_verified > 0) calibrator_.observe(regime, r.out->confidence, o.n_verified, o.n_accepted);
  }
  requests_.clear();
  if (drafter_->hidden_layers().empty()) return ok_status();
  verified_.clear();
  for (const SpecOutcome& o : outcomes)
    if (o.n_final > 0) verified_.push_back({o.id, o.position, o.row, o.n_final});
  if (verified_.empty()) return ok_status();
  return drafter_->observe(captured, verified_);
}

void Speculator::learn(const Draft& d, DraftRegime regime, int asked, int n_verified, int n_accepted) {
  double a = 1;  // past the verified tokens: their calibrated survival, given those survived
  for (int j = 0; j < d.size(); ++j) {
    if (j < n_verified) {
      a = j < n_accepted ? 1 : 0;
    } else {
      a *= calibrator_.calibrated(regime, j, d.confidence[static_cast<size_t>(j)]);
    }
    survival_[static_cast<size_t>(j)] = static_cast<float>(a);
  }
  planner_.observe(std::span<const float>(survival_.data(), static_cast<size_t>(d.size())), asked);
}

double Speculator::draft_seconds(int n_requests, int depth) const {
  if (!draft_pass_cost_ || depth == 0) return 0;
  const DraftPasses p = drafter_->passes(depth);
  return p.passes * draft_pass_cost_->seconds(n_requests * p.tokens_per_request);
}

}  // namespace sb
