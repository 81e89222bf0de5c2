// A loaded model: hyper-parameters plus views of every weight, backed by the
// memory-mapped file(s) it keeps alive. load_model() reads GGUF files and
// Hugging Face directories (config.json + safetensors, sharded or not).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "core/model/model_config.h"

namespace sb {

struct LayerWeights {
  TensorView attn_norm;  // [1, dim]
  TensorView wq;         // [n_head*head_dim, dim]
  TensorView wk;         // [n_kv_head*head_dim, dim]
  TensorView wv;         // [n_kv_head*head_dim, dim]
  TensorView wo;         // [dim, n_head*head_dim]
  TensorView bq;         // [1, n_head*head_dim]     attn_bias only
  TensorView bk;         // [1, n_kv_head*head_dim]  attn_bias only
  TensorView bv;         // [1, n_kv_head*head_dim]  attn_bias only
  TensorView q_norm;     // [1, head_dim]            qk_norm only
  TensorView k_norm;     // [1, head_dim]            qk_norm only
  TensorView attn_post_norm;  // [1, dim]          post_norms only
  TensorView ffn_norm;   // [1, dim]
  TensorView ffn_post_norm;   // [1, dim]          post_norms only
  TensorView w_gate;     // [ffn_dim, dim]
  TensorView w_up;       // [ffn_dim, dim]
  TensorView w_down;     // [dim, ffn_dim]
};

struct ModelWeights {
  TensorView tok_embd;   // [n_vocab, dim]
  std::vector<LayerWeights> layers;  // [n_layer]
  TensorView out_norm;   // [1, dim]
  TensorView lm_head;    // [n_vocab, dim]; the same view as tok_embd when tied
};

struct Model {
  std::string path;
  ModelConfig config;
  ModelWeights weights;
  // Whatever the views point into (mappings, converted copies); shared so a
  // Model can be copied cheaply and outlive nothing it needs.
  std::vector<std::shared_ptr<const void>> storage;
  uint64_t n_params = 0;
};

// Loads a GGUF file or a Hugging Face model directory. Shapes are checked
// against the config; a missing or mis-shaped tensor is an error naming it.
StatusOr<Model> load_model(const std::string& path);

}  // namespace sb
