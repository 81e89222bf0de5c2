#include "core/model/weight_binder.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace sb {
namespace {

std::string quote(const std::string& s) { return "'" + s + "'"; }

// "[cols]" for a vector, "[rows, cols]" otherwise.
std::string shape_str(int64_t rows, int64_t cols) {
  std::string s = "[";
  if (rows != 1) s.append(std::to_string(rows)).append(", ");
  s.append(std::to_string(cols)).push_back(']');
  return s;
}

Status to_int(const std::string& path, const char* field, int64_t v, int* out) {
  if (v < 0 || v > INT32_MAX) return corrupt(path + ": " + field + " = " + std::to_string(v) + " is out of range");
  *out = static_cast<int>(v);
  return ok_status();
}

Status hf_rope_scaling(const hf::RopeScalingConfig& in, const std::string& path, RopeScaling* rs) {
  if (!in.present || in.type.empty() || in.type == "default" || in.type == "none") return ok_status();
  if (in.type == "linear") rs->type = RopeScalingType::kLinear;
  else if (in.type == "dynamic") rs->type = RopeScalingType::kDynamic;
  else if (in.type == "llama3") rs->type = RopeScalingType::kLlama3;
  else if (in.type == "yarn") rs->type = RopeScalingType::kYarn;
  else if (in.type == "longrope") rs->type = RopeScalingType::kLongRope;
  else return unsupported(path + ": rope_scaling type " + quote(in.type) + " is not supported (linear, dynamic, llama3, yarn, longrope)");
  rs->factor = static_cast<float>(in.factor);
  rs->low_freq_factor = static_cast<float>(in.low_freq_factor);
  rs->high_freq_factor = static_cast<float>(in.high_freq_factor);
  rs->beta_fast = static_cast<float>(in.beta_fast);
  rs->beta_slow = static_cast<float>(in.beta_slow);
  rs->short_factor.assign(in.short_factor.begin(), in.short_factor.end());
  rs->long_factor.assign(in.long_factor.begin(), in.long_factor.end());
  rs->attention_factor = static_cast<float>(in.attention_factor);
  return to_int(path, "rope_scaling.original_max_position_embeddings", in.original_max_position_embeddings,
                &rs->original_max_position);
}

}  // namespace

TensorLookup safetensors_lookup(const safetensors::TensorSet& set, const std::string& optional_prefix) {
  return [&set, optional_prefix](const std::string& name, bool* found, TensorView* v, std::string* file) -> Status {
    std::string full = name;
    const safetensors::TensorInfo* t = set.find(full);
    if (t == nullptr && !optional_prefix.empty()) {
      full = optional_prefix + name;
      t = set.find(full);
    }
    *found = t != nullptr;
    if (t == nullptr) return ok_status();
    *file = t->file;
    SB_ASSIGN_OR_RETURN(*v, set.view(full));
    return ok_status();
  };
}

Status WeightBinder::bind(const std::string& name, int64_t rows, int64_t cols, TensorView* out, bool required) {
  bool found = false;
  std::string file = model_->path;
  TensorView v;
  SB_RETURN_IF_ERROR(lookup_(name, &found, &v, &file));
  if (!found) {
    if (!required) return ok_status();
    return not_found(file + ": tensor " + quote(name) + " is missing" + missing_note_);
  }
  if (v.rows != rows || v.cols != cols) {
    return corrupt(file + ": tensor " + quote(name) + " has shape " + shape_str(v.rows, v.cols) + ", expected " +
                   shape_str(rows, cols));
  }
  SB_RETURN_IF_ERROR(align(&v));
  model_->n_params += static_cast<uint64_t>(v.n_elems());
  *out = std::move(v);
  return ok_status();
}

// Kernels may read elements directly: copy a tensor whose data is not aligned
// to its element (possible in safetensors, whose header length is arbitrary).
Status WeightBinder::align(TensorView* v) {
  const size_t need = v->dtype == DType::kF32 ? 4 : 2;
  if (reinterpret_cast<uintptr_t>(v->data) % need == 0) return ok_status();
  auto copy = std::make_shared<std::vector<uint64_t>>((v->n_bytes() + 7) / 8);
  std::memcpy(copy->data(), v->data, v->n_bytes());
  v->data = copy->data();
  model_->storage.push_back(std::move(copy));
  return ok_status();
}

Status check_model_config(const ModelConfig& c, const std::string& path) {
  auto bad = [&](const char* field, int64_t v, const char* want) {
    return corrupt(path + ": " + field + " = " + std::to_string(v) + " " + want);
  };
  if (c.n_vocab <= 0 || c.n_vocab > (1 << 22)) return bad("vocab size", c.n_vocab, "is outside 1..4194304");
  if (c.dim <= 0 || c.dim > (1 << 17)) return bad("hidden size", c.dim, "is outside 1..131072");
  if (c.n_layer <= 0 || c.n_layer > 1024) return bad("layer count", c.n_layer, "is outside 1..1024");
  if (c.n_head <= 0 || c.n_head > 1024) return bad("attention head count", c.n_head, "is outside 1..1024");
  if (c.n_kv_head <= 0 || c.n_head % c.n_kv_head != 0) {
    return bad("key/value head count", c.n_kv_head, ("does not divide the head count " + std::to_string(c.n_head)).c_str());
  }
  if (c.head_dim <= 0 || c.head_dim > 1024 || c.head_dim % 2 != 0) {
    return bad("head dim", c.head_dim, "is not an even number in 2..1024");
  }
  if (c.ffn_dim <= 0 || c.ffn_dim > (1 << 20)) return bad("feed-forward size", c.ffn_dim, "is outside 1..1048576");
  if (c.max_ctx <= 0 || c.max_ctx > (1 << 24)) return bad("context length", c.max_ctx, "is outside 1..16777216");
  if (!(c.rms_eps > 0 && std::isfinite(c.rms_eps))) return corrupt(path + ": RMSNorm epsilon must be positive");
  if (!(c.rope_theta > 0 && std::isfinite(c.rope_theta))) return corrupt(path + ": rope theta must be positive");
  if (!(c.rope_scaling.factor > 0 && std::isfinite(c.rope_scaling.factor))) {
    return corrupt(path + ": rope scaling factor must be positive");
  }
  if (c.bos_id >= c.n_vocab) return bad("bos token id", c.bos_id, "is outside the vocabulary");
  for (int id : c.eos_ids) {
    if (id < 0 || id >= c.n_vocab) return bad("eos token id", id, "is outside the vocabulary");
  }
  return ok_status();
}

namespace {

// Rows [first, first + count) of a bound [rows, cols] tensor, as a view of the same bytes.
TensorView row_slice(const TensorView& t, int64_t first, int64_t count, const char* part) {
  TensorView v = t;
  v.name = t.name + "[" + part + "]";
  v.rows = count;
  v.data = t.row(first);
  return v;
}

// A norm weight stored as w where the model multiplies by (1 + w) (Gemma in
// Hugging Face files): kept as an F32 copy holding 1 + w.
Status add_one(TensorView* t, Model* m) {
  if (!t->present()) return ok_status();
  auto copy = std::make_shared<std::vector<float>>(static_cast<size_t>(t->n_elems()));
  dequantize_row(t->dtype, t->data, copy->data(), t->n_elems());
  for (float& x : *copy) x += 1.0f;
  t->dtype = DType::kF32;
  t->data = copy->data();
  m->storage.push_back(std::move(copy));
  return ok_status();
}

// q/k/v (fused or not), output projection and attention biases / norms of layer i.
Status bind_attention(const TensorNames& names, int i, WeightBinder* b, const ModelConfig& c, LayerWeights* l) {
  const int64_t q_dim = int64_t{c.n_head} * c.head_dim, kv_dim = int64_t{c.n_kv_head} * c.head_dim;
  auto n = [&](const char* slot) { return names.layer(i, slot); };
  if (names.fused_qkv) {
    TensorView qkv;
    SB_RETURN_IF_ERROR(b->bind(n("wqkv"), q_dim + 2 * kv_dim, c.dim, &qkv));
    l->wq = row_slice(qkv, 0, q_dim, "q");
    l->wk = row_slice(qkv, q_dim, kv_dim, "k");
    l->wv = row_slice(qkv, q_dim + kv_dim, kv_dim, "v");
  } else {
    SB_RETURN_IF_ERROR(b->bind(n("wq"), q_dim, c.dim, &l->wq));
    SB_RETURN_IF_ERROR(b->bind(n("wk"), kv_dim, c.dim, &l->wk));
    SB_RETURN_IF_ERROR(b->bind(n("wv"), kv_dim, c.dim, &l->wv));
  }
  SB_RETURN_IF_ERROR(b->bind(n("wo"), c.dim, q_dim, &l->wo));
  if (c.attn_bias) {
    SB_RETURN_IF_ERROR(b->bind(n("bq"), 1, q_dim, &l->bq));
    SB_RETURN_IF_ERROR(b->bind(n("bk"), 1, kv_dim, &l->bk));
    SB_RETURN_IF_ERROR(b->bind(n("bv"), 1, kv_dim, &l->bv));
  }
  if (c.qk_norm) {
    SB_RETURN_IF_ERROR(b->bind(n("q_norm"), 1, c.head_dim, &l->q_norm));
    SB_RETURN_IF_ERROR(b->bind(n("k_norm"), 1, c.head_dim, &l->k_norm));
  }
  return ok_status();
}

}  // namespace

Status bind_model_weights(const TensorNames& names, WeightBinder* b, Model* m, bool tie_requested) {
  const ModelConfig& c = m->config;
  ModelWeights& w = m->weights;
  SB_RETURN_IF_ERROR(b->bind(names.tok_embd, c.n_vocab, c.dim, &w.tok_embd));
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    auto n = [&](const char* slot) { return names.layer(i, slot); };
    SB_RETURN_IF_ERROR(b->bind(n("attn_norm"), 1, c.dim, &l.attn_norm));
    SB_RETURN_IF_ERROR(bind_attention(names, i, b, c, &l));
    SB_RETURN_IF_ERROR(b->bind(n("ffn_norm"), 1, c.dim, &l.ffn_norm));
    if (c.post_norms) {
      SB_RETURN_IF_ERROR(b->bind(n("attn_post_norm"), 1, c.dim, &l.attn_post_norm));
      SB_RETURN_IF_ERROR(b->bind(n("ffn_post_norm"), 1, c.dim, &l.ffn_post_norm));
    }
    if (names.fused_gate_up) {
      TensorView gate_up;
      SB_RETURN_IF_ERROR(b->bind(n("w_gate_up"), 2 * int64_t{c.ffn_dim}, c.dim, &gate_up));
      l.w_gate = row_slice(gate_up, 0, c.ffn_dim, "gate");
      l.w_up = row_slice(gate_up, c.ffn_dim, c.ffn_dim, "up");
    } else {
      SB_RETURN_IF_ERROR(b->bind(n("w_gate"), c.ffn_dim, c.dim, &l.w_gate));
      SB_RETURN_IF_ERROR(b->bind(n("w_up"), c.ffn_dim, c.dim, &l.w_up));
    }
    SB_RETURN_IF_ERROR(b->bind(n("w_down"), c.dim, c.ffn_dim, &l.w_down));
    if (names.norm_plus_one)
      for (TensorView* t : {&l.attn_norm, &l.attn_post_norm, &l.ffn_norm, &l.ffn_post_norm, &l.q_norm, &l.k_norm})
        SB_RETURN_IF_ERROR(add_one(t, m));
  }
  SB_RETURN_IF_ERROR(b->bind(names.out_norm, 1, c.dim, &w.out_norm));
  if (names.norm_plus_one) SB_RETURN_IF_ERROR(add_one(&w.out_norm, m));
  if (!tie_requested) SB_RETURN_IF_ERROR(b->bind(names.lm_head, c.n_vocab, c.dim, &w.lm_head, /*required=*/false));
  m->config.tied_embeddings = !w.lm_head.present();
  if (m->config.tied_embeddings) w.lm_head = w.tok_embd;
  return ok_status();
}

const char* hf_layer_slot_name(const char* slot) {
  static constexpr std::pair<const char*, const char*> kMap[] = {
      {"attn_norm", "input_layernorm.weight"}, {"wq", "self_attn.q_proj.weight"},
      {"wk", "self_attn.k_proj.weight"}, {"wv", "self_attn.v_proj.weight"},
      {"wo", "self_attn.o_proj.weight"}, {"bq", "self_attn.q_proj.bias"},
      {"bk", "self_attn.k_proj.bias"}, {"bv", "self_attn.v_proj.bias"},
      {"q_norm", "self_attn.q_norm.weight"}, {"k_norm", "self_attn.k_norm.weight"},
      {"ffn_norm", "post_attention_layernorm.weight"}, {"w_gate", "mlp.gate_proj.weight"},
      {"w_up", "mlp.up_proj.weight"}, {"w_down", "mlp.down_proj.weight"}};
  for (const auto& [k, v] : kMap) {
    if (std::strcmp(k, slot) == 0) return v;
  }
  SB_CHECK_MSG(false, slot);
  return "";
}

Status hf_model_config(const hf::ModelJsonConfig& j, const std::string& cfg_path, ModelConfig* c) {
  SB_RETURN_IF_ERROR(to_int(cfg_path, "vocab_size", j.vocab_size, &c->n_vocab));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "hidden_size", j.hidden_size, &c->dim));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "num_hidden_layers", j.num_hidden_layers, &c->n_layer));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "num_attention_heads", j.num_attention_heads, &c->n_head));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "num_key_value_heads", j.num_key_value_heads ? j.num_key_value_heads : j.num_attention_heads, &c->n_kv_head));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "head_dim", j.head_dim ? j.head_dim : (c->n_head ? c->dim / c->n_head : 0), &c->head_dim));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "intermediate_size", j.intermediate_size, &c->ffn_dim));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "max_position_embeddings", j.max_position_embeddings, &c->max_ctx));
  c->rms_eps = static_cast<float>(j.rms_norm_eps);
  c->rope_theta = static_cast<float>(j.rope_theta);
  SB_RETURN_IF_ERROR(hf_rope_scaling(j.rope_scaling, cfg_path, &c->rope_scaling));
  if (c->rope_scaling.type == RopeScalingType::kLongRope) {
    // Phi-3 keeps the original context at the top level; the factor is the context's growth.
    RopeScaling& rs = c->rope_scaling;
    if (j.original_max_position_embeddings > 0)
      SB_RETURN_IF_ERROR(to_int(cfg_path, "original_max_position_embeddings", j.original_max_position_embeddings,
                                &rs.original_max_position));
    if (rs.original_max_position <= 0) return corrupt(cfg_path + ": longrope needs original_max_position_embeddings");
    rs.factor = static_cast<float>(static_cast<double>(c->max_ctx) / rs.original_max_position);
    const size_t pairs = static_cast<size_t>(c->head_dim / 2);
    if (rs.short_factor.size() != pairs || rs.long_factor.size() != pairs)
      return corrupt(cfg_path + ": rope_scaling short_factor and long_factor need " + std::to_string(pairs) +
                     " entries each (head_dim / 2)");
    for (const std::vector<float>* v : {&rs.short_factor, &rs.long_factor})
      for (float x : *v)
        if (!(x > 0 && std::isfinite(x))) return corrupt(cfg_path + ": rope_scaling factors must be positive");
  }
  if (j.bos_token_id >= 0) SB_RETURN_IF_ERROR(to_int(cfg_path, "bos_token_id", j.bos_token_id, &c->bos_id));
  for (int64_t id : j.eos_token_ids) {
    int x = 0;
    SB_RETURN_IF_ERROR(to_int(cfg_path, "eos_token_id", id, &x));
    c->eos_ids.push_back(x);
  }
  return check_model_config(*c, cfg_path);
}

}  // namespace sb
