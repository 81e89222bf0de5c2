// The DSpark block drafter (DESIGN.md section 8): drafts a block of up to gamma
// tokens per request in one batched forward, conditioned on the target's hidden
// states. observe() keeps each step's verified rows; they become context K/V
// (u = hidden_norm(fc(concat)), per layer k_norm(k_proj(u)) with RoPE and
// v_proj(u)) in the drafter's own paged cache once the request drafts or has
// max_pending_ rows waiting, so steps the planner does not draft cost a row
// copy rather than a forward, and waiting rows go through in one batch. propose() runs the block
// [last known token, mask x (gamma-1)] at positions p .. p+gamma-1 over that
// context for every drafting request together, then draws left to right with
// the Markov correction on the host. A request drafts only when its context
// holds exactly its verified positions 0 .. p-1 (p = tokens - 1); otherwise
// (its last prompt chunk is still being computed) it drafts nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/backend.h"
#include "core/base/status.h"
#include "core/device_arena.h"
#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/dspark_model.h"
#include "core/rope.h"
#include "core/sampler.h"
#include "core/spec/drafter.h"
#include "core/step_plan.h"

namespace sb {

class DSparkDrafter : public Drafter {
 public:
  // limits.max_batch_tokens is also the row count of the target's capture buffer.
  static StatusOr<std::unique_ptr<DSparkDrafter>> create(DSparkModel model, Backend& backend,
                                                         const DrafterLimits& limits);
  ~DSparkDrafter() override;
  DSparkDrafter(const DSparkDrafter&) = delete;
  DSparkDrafter& operator=(const DSparkDrafter&) = delete;

  Status propose(std::span<const DraftRequest> requests, const DraftStop& stop) override;
  void release(uint64_t id) override;
  std::span<const int> hidden_layers() const override { return m_.dspark.target_layer_ids; }
  Status observe(const float* captured, std::span<const VerifiedRows> rows) override;
  // One block forward drafts any depth: gamma tokens per request.
  DraftPasses passes(int depth) const override {
    (void)depth;
    return {1, gamma_};
  }
  // Block forwards of 1, 2, 4, ... requests (gamma tokens each) with no context,
  // timed as core/step_profiler.h says.
  StatusOr<std::vector<std::pair<int, double>>> profile_pass_cost(int max_requests) override;

  // The logits the last propose() drew drafts from, for tests: each drafting
  // request's block rows in request order, min(k, gamma) of them, U = lm_head(h)
  // plus the Markov correction [n_rows, n_vocab] (rows past a request's early
  // stop are not computed).
  std::span<const float> last_logits() const { return {host_.data(), n_out_ * static_cast<size_t>(n_vocab_)}; }

 private:
  // A request's context: its verified positions 0 .. ctx-1 are in seq, the
  // next `pending` ones wait as captured rows in its region of pending_.
  struct State {
    bool live = false;
    uint64_t id = 0;
    int seq = -1;
    int ctx = 0;
    int pending = 0;
  };
  struct Active {
    size_t m;         // index into the call's requests
    State* s;
    int n_draft;      // min(k, gamma)
    int row = 0;      // its first block row among the kept ones
    bool drafting = true;
    double survival = 1;
  };

  DSparkDrafter(DSparkModel model, Backend& backend, const DrafterLimits& limits);
  Status init();
  State* find(uint64_t id);
  void free_state(State* s);
  // Plans count source rows from src_row on as s's context positions ctx ..
  // (gathered by the plan's ids) and advances ctx; false when the cache is full.
  bool plan_context(State* s, int count, int32_t src_row);
  // Turns the planned rows of src [n_src, capture width] into context K/V and clears the plan.
  Status ingest(const float* src, int64_t n_src);
  // Plans s's pending rows as context, ingesting the plan first when it is full.
  Status flush(State* s);
  // Plans the block of request r (state s, drafting n_draft tokens); false when the cache is full.
  bool plan_block(const DraftRequest& r, State* s, int n_draft);
  // Runs the decoder layers over the block planned in plan_: h of its kept
  // rows, their base logits U and the confidence head's h part (copied back).
  Status run_block();
  // Draws every active request's drafts, block position by position.
  Status draw_blocks(std::span<const DraftRequest> requests, const DraftStop& stop);
  // The heads for n rows at once, on the backend: logits = U[row_i] +
  // markov_w2 . markov_w1[prev_i] (one gather, one embedding lookup, one
  // matmul) into those rows of host_, and the confidence head's Markov part.
  Status head_logits(int n);
  // The confidence of block row `row`, head row k of the last head_logits().
  float confidence(size_t row, size_t k) const;
  bool with_markov_confidence() const { return m_.dspark.confidence_head_with_markov && rank_ > 0; }

  DSparkModel m_;
  Backend& backend_;
  DrafterLimits limits_;
  int gamma_, dim_, n_vocab_, rank_;
  int64_t max_rows_;  // rows of every workspace: max(max_batch_tokens, max_seqs * gamma)
  int max_pending_;   // rows a request may keep waiting: min(64, max_rows_)
  KvCache kv_;
  Sampler sampler_;
  std::vector<State> states_;  // [max_seqs]

  DeviceArena arena_;  // everything below that lives in backend memory
  DeviceWeight tok_embd_, out_norm_, lm_head_, fc_, hidden_norm_;
  std::vector<DeviceLayer> layers_;
  DeviceWeight markov_w1_dev_, markov_w2_dev_;  // [n_vocab, r] each, rank > 0
  DeviceWeight conf_h_, conf_e_;                // [1, dim], [1, r]: the confidence head's parts
  std::vector<float> conf_w_;                   // [dim (+ r)] F32, what conf_h_ and conf_e_ were uploaded from
  float conf_b_ = 0;

  // Device workspace.
  float* concat_ = nullptr;   // [max_rows, n_capture * dim] gathered captured rows
  float* pending_ = nullptr;  // [max_seqs, max_pending, n_capture * dim] rows waiting per state
  float* x_ = nullptr;        // [max_rows, dim] u (context) or the block's residual stream
  LayerScratch scratch_{};    // [max_rows] rows
  float* out_ = nullptr;      // [max_rows, dim + n_vocab]: h rows, then their logits
  int32_t* head_ids_ = nullptr;   // [2, max_seqs]: prev_ then rows_, uploaded
  float* head_e_ = nullptr;       // [max_seqs, r] markov_w1 rows
  float* head_corr_ = nullptr;    // [max_seqs, n_vocab] the correction
  float* head_u_ = nullptr;       // [max_seqs, n_vocab] gathered U rows, then the logits
  float* conf_z_ = nullptr;       // [max_rows + max_seqs]: h part by block row, then Markov part by head row
  DeviceRope rope_;

  // The call's plan: context rows (ids: rows of the source to gather) or the
  // block (ids: tokens; limits: the block's end), its kept rows the drafted ones.
  StepPlan plan_;
  std::vector<Active> active_;    // [max_seqs]
  std::vector<float> host_;       // [max_rows, n_vocab] the drafts' logits
  std::vector<float> conf_z_host_;  // [max_rows + max_seqs] copy of conf_z_
  size_t n_out_ = 0;              // rows in host_
  std::vector<int32_t> head_host_;  // [2, max_seqs]: a head call's prev tokens, then its U rows
  std::vector<size_t> head_active_;  // [max_seqs] the active_ entry of each head row
  std::vector<float> head_out_;     // [max_seqs, n_vocab] a head call's logits
  std::vector<float> logits_;     // [n_vocab] a row the request's rule may mask
  std::vector<Sampler::Candidate> cand_;  // [n_vocab] a sampled token's q
};

}  // namespace sb
