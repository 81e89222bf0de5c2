// What load_model() and load_dspark() share: binding file tensors to weight
// slots with shape checks, the range checks of a ModelConfig, and the Hugging
// Face config.json -> ModelConfig mapping. Errors name the file and the tensor
// or field; a missing tensor is an error unless the slot is optional.
#pragma once

#include <functional>
#include <string>

#include "core/base/status.h"
#include "core/model/model.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace sb {

// Finds a tensor by name: sets *found, and fills the view and the file holding it.
using TensorLookup = std::function<Status(const std::string& name, bool* found, TensorView* view, std::string* file)>;

// A lookup over safetensors; with `optional_prefix` ("model."), a name is also
// found with that prefix in front of it.
TensorLookup safetensors_lookup(const safetensors::TensorSet& set, const std::string& optional_prefix = "");

// Binds file tensors to weight slots with shape checks; counts parameters in
// model->n_params and keeps copies of unaligned tensors in model->storage.
class WeightBinder {
 public:
  // `missing_note` is appended to the message for a missing tensor.
  WeightBinder(TensorLookup lookup, Model* model, std::string missing_note = "")
      : lookup_(std::move(lookup)), model_(model), missing_note_(std::move(missing_note)) {}

  Status bind(const std::string& name, int64_t rows, int64_t cols, TensorView* out, bool required = true);

 private:
  Status align(TensorView* v);

  TensorLookup lookup_;
  Model* model_;
  std::string missing_note_;
};

// Tensor names of a decoder: `layer(i, slot)` with slot "wq", "bq", "attn_norm", ...
struct TensorNames {
  std::string tok_embd, out_norm, lm_head;
  std::function<std::string(int layer, const char* slot)> layer;
  bool fused_qkv = false;      // one "wqkv" [q_dim + 2 kv_dim, dim] tensor, split by rows (Phi-3)
  bool fused_gate_up = false;  // one "w_gate_up" [2 ffn_dim, dim] tensor, gate rows first (Phi-3)
  bool norm_plus_one = false;  // norm weights stored as w for a (1 + w) scale (Gemma, Hugging Face)
};

// Binds every weight of a model whose config is set; an absent lm_head (or
// `tie_requested`) ties it to tok_embd.
Status bind_model_weights(const TensorNames& names, WeightBinder* b, Model* m, bool tie_requested);

// Range checks shared by every format; names `path` and the field.
Status check_model_config(const ModelConfig& c, const std::string& path);

// A Hugging Face decoder layer's tensor name for a slot: "self_attn.q_proj.weight", ...
const char* hf_layer_slot_name(const char* slot);

// Fills the shape, norm, RoPE and token fields of *c from config.json (the
// architecture fields are the caller's) and range-checks them; errors name `cfg_path`.
Status hf_model_config(const hf::ModelJsonConfig& j, const std::string& cfg_path, ModelConfig* c);

}  // namespace sb
