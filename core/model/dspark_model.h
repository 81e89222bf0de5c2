// DSpark block-drafter checkpoints (DESIGN.md section 8): a Hugging Face
// directory with a Qwen3-style config.json plus the DSpark fields, and
// safetensors whose names may carry a leading "model." or none. The drafter's
// decoder (embed_tokens, layers.N.*, norm, lm_head) is held as a Model so the
// usual weight views serve it; fc, hidden_norm and the heads sit beside it.
#pragma once

#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "core/model/model.h"

namespace sb {

struct DSparkConfig {
  int block_size = 0;                 // gamma: tokens drafted per block, >= 1
  std::vector<int> target_layer_ids;  // -1: the target's embedding output; i: output of target decoder layer i
  int mask_token_id = -1;             // in [0, n_vocab)
  int markov_rank = 0;                // r; 0: no Markov head
  std::string markov_head_type;       // "vanilla" (the only type supported)
  bool confidence_head = false;       // enable_confidence_head
  bool confidence_head_with_markov = false;
};

struct DSparkModel {
  // The drafter's decoder: config (Arch::kQwen3, qk_norm, RopeStyle::kHalf), tok_embd
  // = embed_tokens [n_vocab, dim], layers, out_norm = norm, lm_head [n_vocab, dim].
  // storage keeps every view below alive.
  Model model;
  DSparkConfig dspark;
  TensorView fc;            // [dim, target_layer_ids.size() * dim]
  TensorView hidden_norm;   // [1, dim]
  TensorView markov_w1;     // [n_vocab, r]   markov_rank > 0 only
  TensorView markov_w2;     // [n_vocab, r]   markov_rank > 0 only
  TensorView confidence_w;  // [1, dim] or [1, dim + r] with confidence_head_with_markov; confidence_head only
  TensorView confidence_b;  // [1, 1]                                                      confidence_head only
};

// Loads a DSpark checkpoint directory and checks it against the target it drafts
// for: hidden size and vocabulary equal to the target's, every target layer id in
// [-1, target.n_layer), mask_token_id inside the vocabulary, every tensor present
// with its shape. Errors name the directory and the field or tensor.
StatusOr<DSparkModel> load_dspark(const std::string& dir, const ModelConfig& target);

}  // namespace sb
