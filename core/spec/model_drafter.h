// Model drafters (DESIGN.md section 7): a smaller model with the target's
// vocabulary (--draft PATH) or the target quantized at load (self:q8_0,
// self:q4_0) proposes tokens autoregressively, one draft forward per draft
// position for all requests of the step together. Its own paged KV cache is
// kept in step with the target's tokens without hooks: each request's state
// remembers which tokens its cache holds (the verified ones, then the draft
// tokens it fed), so the next call keeps the prefix the request's tokens still
// agree with, truncates the rest and catches up on the newly verified tokens.
// q is the draft's distribution under the request's sampling settings (one-hot
// argmax for greedy), drawn with RandomPurpose::kDraft. The raw confidence is
// the draft's largest probability at that position (for greedy, at temperature
// 1: the probability of its token), not that of a sampled token: admission and
// early stop decide from confidences whether a token is verified, and a decision
// that looks at the drawn token itself would bias the sampled output.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/sampler.h"
#include "core/spec/drafter.h"

namespace sb {

class Tokenizer;

// The draft model of a --draft value that needs one (DraftSpec::needs_model()):
// kSelf, the target quantized (core/model/model_quantize.h), or kModel, a GGUF
// file / Hugging Face directory whose vocabulary must equal the target's (an
// error names the first differing token).
StatusOr<Model> load_draft_model(const DraftSpec& spec, const Model& target, const Tokenizer& target_tokenizer);

class ModelDrafter : public Drafter {
 public:
  // target_vocab: the target's logit width, which the draft's must equal.
  static StatusOr<std::unique_ptr<ModelDrafter>> create(const Model& draft, Backend& backend,
                                                        const DrafterLimits& limits, int target_vocab);
  Status propose(std::span<const DraftRequest> requests, const DraftStop& stop) override;
  void release(uint64_t id) override;
  // One pass: a draft forward with one token per request.
  StatusOr<std::vector<std::pair<int, double>>> profile_pass_cost(int max_requests) override;

 private:
  // A request's draft cache: tokens [0, base) of the request, then fed[0, n_fed)
  // at positions base, base + 1, ...
  struct State {
    bool live = false;
    uint64_t id = 0;
    int seq = -1;                 // draft KvCache sequence
    int base = 0;
    int n_fed = 0;
    std::vector<int32_t> fed;     // [max_k]
    uint64_t last_call = 0;       // for eviction when the cache is full
  };
  // A request drafting in this call.
  struct Active {
    size_t m;         // index into the call's requests
    State* s;
    int n;            // the request's known tokens
    double survival;  // product of calibrated confidences so far
  };

  ModelDrafter(const Model& draft, const DrafterLimits& limits, int64_t kv_tokens);
  // The state of request id, created (evicting one not used in this call if need
  // be) when absent; null when none can be had.
  State* state_for(uint64_t id);
  void free_state(State* s);
  // Grows s's sequence to len, evicting states not used in this call for room.
  bool grow(State* s, int len);
  // Brings each request's state in step with its tokens (the prefix they still
  // agree with) and lists the requests that draft in active_.
  void keep_in_step(std::span<const DraftRequest> requests);
  // Computes the tokens each active cache lacks, in forwards of at most
  // max_batch_tokens; each request's last known token gives a logit row in next_.
  Status catch_up(std::span<const DraftRequest> requests);
  // One forward per draft position over the requests still drafting.
  Status draft_positions(std::span<const DraftRequest> requests, const DraftStop& stop);
  // Appends one proposed token for request r from its next-token logits (which
  // r's rule may mask); true when drafting r goes on.
  bool draw(const DraftRequest& r, float* logits, int j, const DraftStop& stop, Active* a);
  // Frees the least recently used state not used in this call; false when none.
  bool evict_one();
  // Runs the batch in tokens_/positions_/seqs_/rows_; its logit rows become
  // next_ rows first_row, first_row + 1, ...
  Status run_batch(size_t first_row);

  DrafterLimits limits_;
  int n_vocab_;
  KvCache kv_;
  std::unique_ptr<Forward> forward_;
  Sampler sampler_;
  uint64_t call_ = 0;
  std::vector<State> states_;     // [max_seqs]

  // Workspace, sized at creation.
  std::vector<Active> active_;    // [max_seqs]
  std::vector<int32_t> tokens_;   // [max_batch_tokens]
  std::vector<int32_t> positions_;
  std::vector<int32_t> seqs_;
  std::vector<int32_t> rows_;     // [max_seqs]
  std::vector<float> next_;       // [max_seqs, n_vocab] each active request's next-token logits
  std::vector<Sampler::Candidate> q_;  // [n_vocab] a sampled token's q
};

}  // namespace sb
