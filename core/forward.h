// One forward pass of a decoder-only transformer (Llama, Mistral, Qwen2/3,
// Qwen3-MoE, Phi-3, Gemma 2/3; the differences are ModelConfig data) over a ragged batch: the new tokens of
// several sequences, each at its own position, prompt chunks, decode tokens and
// draft tokens alike. Weights are uploaded once at create(); workspaces are
// sized by ForwardLimits; run() allocates nothing and syncs once (the logits).
// On request it also keeps the residual stream of chosen layers for every
// batch token (hidden-state capture, for drafters conditioned on the target).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/base/status.h"
#include "core/device_arena.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/rope.h"
#include "core/step_plan.h"

namespace sb {

struct ForwardLimits {
  int max_tokens = 512;     // tokens per step, all sequences together
  int max_seqs = 64;        // distinct sequences per step
  int max_logit_rows = 64;  // tokens per step whose logits are returned
};

// One step. Token i is tokens[i] at positions[i] of KvCache sequence seqs[i];
// the caller has grown each sequence to cover its positions (seq_grow), and a
// sequence's earlier positions are either in the cache or earlier in this batch.
struct ForwardBatch {
  std::span<const int32_t> tokens;      // [n_tokens]
  std::span<const int32_t> positions;   // [n_tokens]
  std::span<const int32_t> seqs;        // [n_tokens]
  std::span<const int32_t> logit_rows;  // [n_logits] indices into tokens
};

// The scratch of a mixture-of-experts MLP over n rows, each routed to n_used
// experts (n_pairs = n * n_used grouped rows); backend memory.
struct MoeScratch {
  float* logits = nullptr;          // [n, n_expert]
  int32_t* choice_expert = nullptr; // [n, n_used]
  float* weights = nullptr;         // [n, n_used]
  int32_t* expert_rows = nullptr;   // [n_expert + 1]
  int32_t* row_token = nullptr;     // [n_pairs]
  int32_t* choice_row = nullptr;    // [n_pairs]
  float* x = nullptr;               // [n_pairs, dim] grouped inputs, then the experts' outputs
  float* gate = nullptr;            // [n_pairs, expert_ffn_dim]
  float* up = nullptr;              // [n_pairs, expert_ffn_dim]
};

// The scratch a decoder layer runs in: backend memory of at least n rows each.
struct LayerScratch {
  float* xn;    // [n, dim]
  float* q;     // [n, n_head * head_dim]
  float* k;     // [n, n_kv_head * head_dim]
  float* v;     // [n, n_kv_head * head_dim]
  float* att;   // [n, n_head * head_dim]
  float* gate;  // [n, ffn_dim]
  float* up;    // [n, ffn_dim]
  MoeScratch moe{};  // MoE layers only
};
// Scratch for `rows` rows of a model of config c, from arena.
StatusOr<LayerScratch> alloc_layer_scratch(DeviceArena& arena, const ModelConfig& c, size_t rows);

// One pre-norm decoder layer over the n rows of x [n, dim], in place: q/k/v
// (q/k norms with qk_norm), RoPE at pos, K/V stored at slots, attention as att
// describes (its q, out and caches are set here: att.pos is the attention
// limit, which may differ from pos; att.window the layer's sliding window),
// output projection, then the gated MLP (SwiGLU or GELU-tanh; on MoE layers the
// routed experts'); with post_norms both block outputs are normed before their
// residual adds.
Status run_decoder_layer(Backend& b, const ModelConfig& c, const DeviceLayer& L, float* x, const LayerScratch& s,
                         const int32_t* pos, const int32_t* slots, const DeviceRope& rope, AttentionOp att, int64_t n);

class Forward {
 public:
  // The KV storage covers kv's blocks; run() must be given a KvCache of the
  // same geometry. Positions are bounded by kv.max_blocks_per_seq() * block_size.
  // run() keeps the output of capture_layers in captured(): -1 the embedding
  // output, i the output of decoder layer i. None: nothing is captured (no cost).
  static StatusOr<std::unique_ptr<Forward>> create(const Model& model, Backend& backend, const KvCache& kv,
                                                   const ForwardLimits& limits,
                                                   std::span<const int> capture_layers = {});
  ~Forward();
  Forward(const Forward&) = delete;
  Forward& operator=(const Forward&) = delete;

  const ModelConfig& config() const { return model_.config; }
  const ForwardLimits& limits() const { return limits_; }
  // Backend memory [max_tokens, capture_layers.size() * dim]: after run(), row i
  // holds batch token i's hidden states of capture_layers, concatenated in that
  // order. Valid until the next run(); null without capture_layers.
  const float* captured() const { return captured_; }

  // Computes the batch, appending every token's K/V to the cache, and writes
  // the logits of batch.logit_rows to host memory logits [n_logits, n_vocab].
  Status run(const ForwardBatch& batch, const KvCache& kv, float* logits);

 private:
  Forward(const Model& model, Backend& backend, const KvCache& kv, const ForwardLimits& limits,
          std::span<const int> capture_layers);
  Status init();
  // Checks the batch and lays it out in plan_ (logit rows as its kept rows).
  Status plan(const ForwardBatch& batch, const KvCache& kv);
  // Copies the residual rows of x_ into captured_ when layer (-1: the embedding) is captured.
  Status capture(int layer, int64_t n_tokens);

  Model model_;  // keeps the mapped weights alive (F32 weights are used in place)
  Backend& backend_;
  ForwardLimits limits_;
  std::vector<int> capture_layers_;
  int kv_block_size_;
  int kv_max_blocks_;  // per sequence
  int64_t n_slots_;

  DeviceArena arena_;  // everything below that lives in backend memory
  DeviceWeight tok_embd_, out_norm_, lm_head_;
  std::vector<DeviceLayer> layers_;
  DeviceRope rope_;
  DeviceRope rope_local_;  // sliding layers' table (rope_'s unless rope_local_theta)

  // Device workspace.
  float* x_ = nullptr;       // [max_tokens, dim] residual stream
  LayerScratch scratch_{};   // [max_tokens] rows
  float* xl_ = nullptr;      // [max_logit_rows, dim] rows that need logits
  float* logits_ = nullptr;  // [max_logit_rows, n_vocab]
  float* captured_ = nullptr;// [max_tokens, capture_layers_.size() * dim]
  std::vector<int> capture_column_;  // [n_layer + 1] block of captured_ of layer l at l + 1, -1 if none

  StepPlan plan_;                 // the step's tokens; logit rows are its kept rows
  std::vector<int32_t> seq_row_;  // [kv.max_seqs()] batch row of a KvCache seq, -1 if absent
};

// Seconds of one run() by its token count n = 1, 2, 4, ... up to max_tokens
// (<= forward.limits().max_tokens) or until the curve is clear, timed as
// core/step_profiler.h says: n tokens
// spread over min(n, max_seqs) new sequences of kv from position 0, freed
// afterwards. The grid stops early where the cache has no room. Set-up only (it
// allocates); kv must be the cache forward was created for, still empty.
StatusOr<std::vector<std::pair<int, double>>> profile_forward(Forward& forward, KvCache& kv, int max_tokens,
                                                              int max_seqs);

}  // namespace sb
