// The batch generation engine: requests (prompt ids + parameters) go in, each
// step() runs the scheduler, ONE ragged forward over every scheduled token and
// the sampling of every request whose known tokens are all computed, and hands
// back the requests that finished. Randomness is keyed by (seed, index,
// position), so a request's output does not depend on its batch-mates, chunking
// or preemption. With a drafter, each decoding request's draft tokens are
// verified in that same forward (core/spec/verifier.h): greedy output is unchanged
// token for token, sampled output keeps its distribution (its draws then depend
// on how many draft tokens the budget let through). Drafting and learning from
// the outcomes is the Speculator's (core/spec/speculator.h), rolling back
// rejected tokens the Scheduler's. With the prefix cache, requests sharing
// leading prompt blocks (n samples of one prompt, a common preamble) compute
// them once; outputs are the same as without it. The caller bounds the queue:
// add() never blocks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/constrain/constraint.h"
#include "core/kv_cache.h"
#include "core/request.h"
#include "core/sampler.h"
#include "core/scheduler.h"
#include "core/spec/draft_spec.h"
#include "core/spec/speculator.h"
#include "core/spec/verifier.h"

namespace sb {

class Backend;
class Forward;
struct Model;
struct ModelConfig;
class Tokenizer;

struct EngineOptions {
  int max_batch_tokens = 512;   // tokens per forward step, all requests together
  int max_seqs = 64;            // requests running at once
  int max_ctx = 0;              // tokens per request (prompt + generated); 0 = the model's
  int64_t kv_cache_tokens = 0;  // KV pool size in tokens; 0 = default_kv_cache_tokens()
  int kv_block_size = 16;       // tokens per KV block
  bool prefix_cache = true;     // share the KV blocks of common prompt prefixes (core/kv_cache.h)
  DraftSpec draft;              // the drafter (core/spec/draft_spec.h); kNone: no speculation
  SpecPolicy spec_policy = SpecPolicy::kConfidence;  // with a drafter
  int spec_max = 8;             // draft tokens per request and step, >= 1
  // kConfidence: (tokens, seconds) of one target step and of one draft pass
  // (Drafter::profile_pass_cost), e.g. loaded with --spec-profile: see
  // SpeculatorOptions (core/spec/speculator.h).
  std::vector<std::pair<int, double>> step_cost;
  std::vector<std::pair<int, double>> draft_pass_cost;
  // The run's own step and pass times correct those costs (Speculator); false
  // keeps them as given (tests that set the costs to pin the policy's choices).
  bool learn_costs = true;
};

// K and V bytes one token occupies over all layers (F32 cache).
int64_t kv_bytes_per_token(const ModelConfig& config);
// Enough for max_seqs full contexts, capped at a quarter of physical memory
// (never under one context). The default on a backend whose memory is the host's.
int64_t default_kv_cache_tokens(const ModelConfig& config, int max_seqs, int max_ctx);

// A backend with memory of its own (a GPU), before the engine uploads anything:
// free_bytes free; the weights to upload (target and draft model), the step's
// workspaces and each KV token (all caches, draft model's included) take the rest.
struct DeviceMemoryPlan {
  int64_t free_bytes = 0;
  int64_t weight_bytes = 0;
  int64_t workspace_bytes = 0;
  int64_t kv_bytes_per_token = 1;
  // Kept back for what is not counted (the drafter's own buffers, cuBLAS and
  // allocator slack), besides 10% of the rest.
  static constexpr int64_t kReserve = int64_t{512} << 20;
};
// KV tokens that fit: 90% of what free_bytes leaves after the weights,
// workspaces and kReserve, in tokens (0 when nothing is left).
int64_t device_kv_tokens_that_fit(const DeviceMemoryPlan& plan);

struct FinishedRequest {
  uint64_t id = 0;  // as returned by add()
  GenerationResult result;
};

struct EngineStats {
  uint64_t steps = 0;             // forward passes
  uint64_t preemptions = 0;       // requests evicted and recomputed later
  uint64_t computed_tokens = 0;   // tokens through the forward, recomputation included
  uint64_t prompt_tokens = 0;     // of accepted requests
  uint64_t cached_prompt_tokens = 0;  // of them taken from the prefix cache, not computed
  uint64_t generated_tokens = 0;  // sampled so far, finished or not
  uint64_t drafted_tokens = 0;    // draft tokens verified
  uint64_t accepted_tokens = 0;   // of them accepted
  uint64_t sampled_steps = 0;       // request-steps that sampled (one per sampling request and step)
  uint64_t spec_verifications = 0;  // of them, those that verified >= 1 draft token
  uint64_t drafter_steps = 0;       // steps in which the drafter ran
};

class Engine {
 public:
  // Sizes every workspace (options.max_batch_tokens, max_seqs) and the KV pool up front.
  // A model drafter (options.draft.needs_model()) runs draft_model, from
  // load_draft_model() (core/spec/model_drafter.h), on the same backend. A drafter
  // reading the target's hidden states (dspark:DIR) turns the prefix cache off:
  // a cached prefix has none.
  static StatusOr<std::unique_ptr<Engine>> create(const Model& model, const Tokenizer& tokenizer, Backend& backend,
                                                  const EngineOptions& options, const Model* draft_model = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  int max_ctx() const { return max_ctx_; }
  int64_t kv_cache_tokens() const { return static_cast<int64_t>(kv_.n_blocks()) * kv_.block_size(); }
  const EngineOptions& options() const { return options_; }
  // The confidence policy's step cost (given or profiled); null otherwise.
  const StepCost* step_cost() const { return speculator_ ? speculator_->step_cost() : nullptr; }
  // Its draft pass cost; null without the confidence policy or for a drafter that costs nothing.
  const StepCost* draft_pass_cost() const { return speculator_ ? speculator_->draft_pass_cost() : nullptr; }

  // An output constraint compiled over this engine's vocabulary, for
  // GenerationRequest::constraint; each distinct spec is compiled once (the
  // most recent 64 kept). Errors: the spec is malformed (kInvalidArgument) or
  // uses what is not supported (kUnsupported), the message naming where.
  StatusOr<std::shared_ptr<const constrain::Constraint>> constraint(const ConstraintSpec& spec);

  // Queues a request and returns its id. Errors, for this request only:
  // kInvalidArgument (empty prompt, token outside the vocabulary, sampling
  // parameter or penalty out of range, a logit_bias id outside the vocabulary,
  // a constraint with ignore_eos, stop strings or min_tokens),
  // kOutOfRange (the prompt exceeds the context, or prompt + max_tokens needs
  // more KV than the whole pool holds).
  StatusOr<uint64_t> add(GenerationRequest request);
  // Requests added and not yet returned by step().
  int n_pending() const { return static_cast<int>(requests_.size()); }
  int n_running() const { return scheduler_.n_running(); }
  bool has_work() const { return !requests_.empty(); }

  // Drops every request that has not started (queued, nothing of it computed yet)
  // and returns their ids, oldest first: after a stop, nothing new starts while
  // running (and preempted) requests finish.
  std::vector<uint64_t> cancel_waiting();
  // Runs one step and appends the requests that finished to *finished (in no
  // particular order). Errors are backend failures: fatal for the engine.
  Status step(std::vector<FinishedRequest>* finished);

  EngineStats stats() const;

 private:
  struct Request;
  // A request whose next tokens come from this step: its logit rows start at
  // `row`, n_draft + 1 of them (the last known token, then each draft token of
  // `draft`); its chunk is chunk `chunk` of the plan.
  struct Sampled {
    Request* r;
    int row;
    int n_draft;
    const Draft* draft;
    size_t chunk;
  };
  Engine(const Model& model, const Tokenizer& tokenizer, const EngineOptions& options, int max_ctx, int64_t kv_tokens);
  // The request a chunk of the plan computes (every SeqState the scheduler holds is one).
  static Request& request_of(const ScheduledChunk& c);
  // Hands r back (status not ok: it failed) and forgets it.
  void complete(Request* r, std::vector<FinishedRequest>* finished, Status status = ok_status());
  // The running chunks that reach their request's last known token, as drafting candidates.
  std::span<const SpecCandidate> draft_candidates(std::span<const ScheduledChunk> running);
  // Lays out the step's batch: every chunk's tokens, known ones then draft ones;
  // logit rows from the request's last known token on (the next token is
  // sampled from it) through its draft tokens. Also each chunk's outcome so far.
  void build_batch(std::span<const ScheduledChunk> chunks);
  // Verifies s's draft tokens against its logit rows, emits what is accepted and
  // the token after, rolls back rejected positions and completes r when it ends.
  void verify_and_emit(const Sampled& s, std::vector<FinishedRequest>* finished);
  // Appends one emitted token, chosen from the target logit row `logits`, to r
  // (and its logprobs when r asks); true when it ends r's generation.
  bool emit(Request* r, int32_t id, const float* logits);

  const Tokenizer& tokenizer_;
  EngineOptions options_;
  int max_ctx_;
  int n_vocab_;
  std::vector<int> eos_ids_;
  KvCache kv_;
  Scheduler scheduler_;
  Verifier verifier_;
  std::unique_ptr<Forward> forward_;
  std::unique_ptr<Speculator> speculator_;  // null without speculation
  uint64_t next_id_ = 0;
  std::unordered_map<uint64_t, std::unique_ptr<Request>> requests_;
  std::vector<Request*> done_at_add_;  // max_tokens == 0: finished without a step
  EngineStats stats_;
  std::unique_ptr<constrain::ConstraintCache> constraints_;  // on first use

  // Step workspace, sized at creation.
  std::vector<int32_t> tokens_;      // [max_batch_tokens]
  std::vector<int32_t> positions_;   // [max_batch_tokens]
  std::vector<int32_t> seqs_;        // [max_batch_tokens]
  std::vector<int32_t> rows_;        // [max_logit_rows] batch rows whose logits are returned
  std::vector<Sampled> sampled_;     // [max_seqs]
  std::vector<float> logits_;        // [max_logit_rows, n_vocab]
  std::vector<SpecCandidate> candidates_;  // [max_seqs]
  std::vector<SpecOutcome> outcomes_;      // [max_seqs] by chunk of the plan
  std::vector<TokenLogprob> logprob_work_;  // [n_vocab] top-K selection
};

}  // namespace sb
