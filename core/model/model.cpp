// load_model(): GGUF files and Hugging Face directories -> sb::Model. Maps the
// files' tensor names onto LayerWeights, checks every shape against the config
// and keeps the mappings alive in Model::storage.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/model/families.h"
#include "core/model/model.h"
#include "core/model/weight_binder.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

std::string quote(const std::string& s) { return "'" + s + "'"; }

// ---- GGUF ----------------------------------------------------------------

const char* gguf_slot_name(const char* slot) {
  static constexpr std::pair<const char*, const char*> kMap[] = {
      {"attn_norm", "attn_norm.weight"}, {"wq", "attn_q.weight"}, {"wk", "attn_k.weight"},
      {"wv", "attn_v.weight"}, {"wo", "attn_output.weight"}, {"bq", "attn_q.bias"},
      {"bk", "attn_k.bias"}, {"bv", "attn_v.bias"}, {"q_norm", "attn_q_norm.weight"},
      {"k_norm", "attn_k_norm.weight"}, {"ffn_norm", "ffn_norm.weight"}, {"w_gate", "ffn_gate.weight"},
      {"w_up", "ffn_up.weight"}, {"w_down", "ffn_down.weight"}, {"attn_post_norm", "post_attention_norm.weight"},
      {"ffn_post_norm", "post_ffw_norm.weight"}, {"router", "ffn_gate_inp.weight"},
      {"exp_gate", "ffn_gate_exps.weight"}, {"exp_up", "ffn_up_exps.weight"}, {"exp_down", "ffn_down_exps.weight"},
      {"wqkv", "attn_qkv.weight"}, {"w_gate_up", "ffn_up.weight"}};
  for (const auto& [k, v] : kMap) {
    if (std::strcmp(k, slot) == 0) return v;
  }
  SB_CHECK_MSG(false, slot);
  return "";
}

// int metadata that must fit an int; absent optional keys leave *out unchanged.
Status gguf_int(const gguf::File& f, const std::string& key, int* out, bool required = true) {
  if (!required && f.find(key) == nullptr) return ok_status();
  SB_ASSIGN_OR_RETURN(const int64_t v, f.get_int(key));
  if (v < 0 || v > INT32_MAX) return corrupt(f.path() + ": metadata key " + quote(key) + " = " + std::to_string(v) + " is out of range");
  *out = static_cast<int>(v);
  return ok_status();
}

Status gguf_float(const gguf::File& f, const std::string& key, float* out) {
  if (f.find(key) == nullptr) return ok_status();
  SB_ASSIGN_OR_RETURN(const double v, f.get_float(key));
  *out = static_cast<float>(v);
  return ok_status();
}

// A tensor of per-RoPE-pair factors (rope_freqs: Llama 3.1's scaling as llama.cpp
// writes it; rope_factors_long / _short: Phi-3's longrope); absent leaves *out empty.
Status gguf_rope_factors(const gguf::File& f, const ModelConfig& c, const std::string& name, std::vector<float>* out) {
  const gguf::TensorInfo* t = f.find_tensor(name);
  if (t == nullptr) return ok_status();
  if (t->rows() != 1 || t->cols() != c.head_dim / 2)
    return corrupt(f.path() + ": tensor " + quote(name) + " must hold head_dim / 2 = " +
                   std::to_string(c.head_dim / 2) + " factors");
  const DType dtype = gguf::tensor_type_dtype(t->type);
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
    return unsupported(f.path() + ": tensor " + quote(name) + " must be F32, F16 or BF16");
  out->resize(static_cast<size_t>(t->cols()));
  dequantize_row(dtype, t->data, out->data(), t->cols());
  for (float x : *out)
    if (!(x > 0 && std::isfinite(x))) return corrupt(f.path() + ": tensor " + quote(name) + " holds a factor <= 0");
  return ok_status();
}

// Which layers slide, from {a}.attention.sliding_window_pattern: a period p
// (every p-th layer global, as llama.cpp reads it) or one bool per layer.
Status gguf_sliding_layers(const gguf::File& f, const std::string& a, int default_period, ModelConfig* c) {
  const std::string key = a + ".attention.sliding_window_pattern";
  c->layer_sliding.assign(static_cast<size_t>(c->n_layer), false);
  const gguf::Value* v = f.find(key);
  if (v != nullptr && v->type == gguf::ValueType::kArray) {
    const auto& arr = std::get<gguf::Array>(v->v);
    if (v->elem_type != gguf::ValueType::kBool || arr.n != static_cast<uint64_t>(c->n_layer))
      return corrupt(f.path() + ": " + quote(key) + " must be a period or one bool per layer");
    for (uint64_t l = 0; l < arr.n; ++l) c->layer_sliding[l] = std::get<bool>(gguf::array_element(*v, l).v);
    return ok_status();
  }
  int period = default_period;
  SB_RETURN_IF_ERROR(gguf_int(f, key, &period, false));
  for (int l = 0; l < c->n_layer; ++l)
    c->layer_sliding[static_cast<size_t>(l)] = period <= 1 || (l + 1) % period != 0;
  return ok_status();
}

// The family hyper-parameters llama.cpp's converters write beyond the common
// ones: sliding windows, Phi-3's longrope (factors as tensors), Gemma's
// soft-caps, local RoPE base and query scale (not stored: llama.cpp derives
// it from the size, 1/sqrt(dim / n_head) for the 27B models, else
// 1/sqrt(head_dim)). Norms are stored as converted (Gemma's 1 + w).
Status gguf_family(const gguf::File& f, const std::string& a, ModelConfig* c) {
  const bool gemma = c->arch == Arch::kGemma2 || c->arch == Arch::kGemma3;
  int window = c->arch == Arch::kGemma2 ? 4096 : 0;  // llama.cpp's Gemma 2 default
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".attention.sliding_window", &window, false));
  if (window > 0) {
    c->sliding_window = window;
    SB_RETURN_IF_ERROR(gguf_sliding_layers(f, a, c->arch == Arch::kGemma2 ? 2 : c->arch == Arch::kGemma3 ? 6 : 1, c));
  }
  if (c->arch == Arch::kPhi3) {
    RopeScaling& rs = c->rope_scaling;
    SB_RETURN_IF_ERROR(gguf_rope_factors(f, *c, "rope_factors_long.weight", &rs.long_factor));
    SB_RETURN_IF_ERROR(gguf_rope_factors(f, *c, "rope_factors_short.weight", &rs.short_factor));
    if (!rs.long_factor.empty() || !rs.short_factor.empty()) {
      if (rs.long_factor.size() != rs.short_factor.size() || rs.original_max_position <= 0)
        return corrupt(f.path() + ": longrope needs rope_factors_long, rope_factors_short and " + a +
                       ".rope.scaling.original_context_length");
      rs.type = RopeScalingType::kLongRope;
      rs.factor = static_cast<float>(static_cast<double>(c->max_ctx) / rs.original_max_position);
      SB_RETURN_IF_ERROR(gguf_float(f, a + ".rope.scaling.attn_factor", &rs.attention_factor));
    }
  }
  if (!gemma) return ok_status();
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".attn_logit_softcapping", &c->attn_softcap));
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".final_logit_softcapping", &c->final_softcap));
  if (c->arch == Arch::kGemma3) c->attn_softcap = 0;  // Gemma 3 has none (llama.cpp ignores the key)
  if (c->attn_softcap < 0 || c->final_softcap < 0) return corrupt(f.path() + ": logit soft-capping must not be negative");
  const bool big = (c->arch == Arch::kGemma2 && c->n_layer == 46) || (c->arch == Arch::kGemma3 && c->n_layer == 62);
  c->attn_scale = 1.0f / std::sqrt(static_cast<float>(big ? c->dim / c->n_head : c->head_dim));
  // Sliding layers' RoPE: Gemma 3 defaults to base 10000 unscaled; Gemma 2 shares the global table.
  float local = c->arch == Arch::kGemma3 ? 10000.0f : 0.0f;
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".rope.freq_base_swa", &local));
  c->rope_local_theta = local;
  return ok_status();
}

// Qwen3-MoE as llama.cpp stores it: every layer sparse, weights renormalised.
Status gguf_moe(const gguf::File& f, const std::string& a, ModelConfig* c) {
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".expert_count", &c->n_expert));
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".expert_used_count", &c->n_expert_used));
  c->expert_ffn_dim = c->n_expert_used > 0 ? c->ffn_dim / c->n_expert_used : 0;  // llama.cpp's fallback
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".expert_feed_forward_length", &c->expert_ffn_dim, false));
  float scale = 1.0f;
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".expert_weights_scale", &scale));
  if (scale != 0.0f && scale != 1.0f)
    return unsupported(f.path() + ": " + a + ".expert_weights_scale = " + std::to_string(scale) + " is not supported");
  c->expert_norm_topk = true;
  c->layer_moe.assign(static_cast<size_t>(c->n_layer), true);
  if (c->ffn_dim == 0) c->ffn_dim = c->expert_ffn_dim;  // no dense layer uses it
  return ok_status();
}

Status gguf_rope_scaling(const gguf::File& f, const std::string& a, ModelConfig* c) {
  RopeScaling& rs = c->rope_scaling;
  std::string type = "none";
  if (f.find(a + ".rope.scaling.type") != nullptr) {
    SB_ASSIGN_OR_RETURN(type, f.get_string(a + ".rope.scaling.type"));
  }
  if (type == "none") rs.type = RopeScalingType::kNone;
  else if (type == "linear") rs.type = RopeScalingType::kLinear;
  else if (type == "yarn") rs.type = RopeScalingType::kYarn;
  else if (type == "longrope") rs.type = RopeScalingType::kNone;  // the factor tensors decide (gguf_family)
  else return unsupported(f.path() + ": rope scaling type " + quote(type) + " is not supported");
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".rope.scaling.factor", &rs.factor));
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".rope.scaling.original_context_length", &rs.original_max_position, false));
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".rope.scaling.yarn_beta_fast", &rs.beta_fast));
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".rope.scaling.yarn_beta_slow", &rs.beta_slow));
  if (rs.type == RopeScalingType::kNone) rs.factor = 1.0f;
  return ok_status();
}

// A token id from tokenizer metadata; the all-ones uint32 sentinel means "none".
Status gguf_token_id(const gguf::File& f, const char* key, int* out) {
  if (f.find(key) == nullptr) return ok_status();
  SB_ASSIGN_OR_RETURN(const int64_t v, f.get_int(key));
  if (v == -1 || v == int64_t{UINT32_MAX}) return ok_status();
  if (v < 0 || v > INT32_MAX) return corrupt(f.path() + ": metadata key " + quote(key) + " = " + std::to_string(v) + " is out of range");
  *out = static_cast<int>(v);
  return ok_status();
}

StatusOr<Model> load_gguf(const std::string& path) {
  SB_ASSIGN_OR_RETURN(gguf::File f, gguf::File::open(path));
  Model m;
  m.path = path;
  ModelConfig& c = m.config;
  SB_ASSIGN_OR_RETURN(const std::string a, f.get_string("general.architecture"));
  c.arch_name = a;
  SB_ASSIGN_OR_RETURN(const Family family, family_by_gguf_arch(a, path));
  // llama.cpp permutes llama's q/k rows at conversion; the others keep the NeoX halves.
  c.rope_style = family.arch == Arch::kLlama ? RopeStyle::kInterleaved : RopeStyle::kHalf;
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".embedding_length", &c.dim));
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".block_count", &c.n_layer));
  const bool moe = family.arch == Arch::kQwen3Moe;
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".feed_forward_length", &c.ffn_dim, /*required=*/!moe));
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".context_length", &c.max_ctx));
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".attention.head_count", &c.n_head));
  c.n_kv_head = c.n_head;
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".attention.head_count_kv", &c.n_kv_head, false));
  c.head_dim = c.n_head > 0 ? c.dim / c.n_head : 0;
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".attention.key_length", &c.head_dim, false));
  int rope_dims = c.head_dim;
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".rope.dimension_count", &rope_dims, false));
  if (rope_dims != c.head_dim) {
    return unsupported(path + ": " + a + ".rope.dimension_count = " + std::to_string(rope_dims) +
                       " differs from the head dim " + std::to_string(c.head_dim) + " (partial RoPE)");
  }
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".attention.layer_norm_rms_epsilon", &c.rms_eps));
  SB_RETURN_IF_ERROR(gguf_float(f, a + ".rope.freq_base", &c.rope_theta));
  SB_RETURN_IF_ERROR(gguf_rope_scaling(f, a, &c));
  SB_RETURN_IF_ERROR(gguf_rope_factors(f, c, "rope_freqs.weight", &c.rope_scaling.freq_factors));
  if (moe) SB_RETURN_IF_ERROR(gguf_moe(f, a, &c));
  // Vocabulary size from the embedding: [n_vocab, dim] with ne = {dim, n_vocab}.
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return not_found(path + ": tensor 'token_embd.weight' is missing");
  if (embd->ne.size() != 2 || embd->ne[1] > INT32_MAX) {
    return corrupt(path + ": tensor 'token_embd.weight' must be 2-D [n_vocab, dim]");
  }
  c.n_vocab = static_cast<int>(embd->ne[1]);
  apply_family_switches(family.arch, &c);
  SB_RETURN_IF_ERROR(gguf_family(f, a, &c));
  SB_RETURN_IF_ERROR(gguf_token_id(f, "tokenizer.ggml.bos_token_id", &c.bos_id));
  for (const char* key : {"tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id"}) {
    int id = -1;
    SB_RETURN_IF_ERROR(gguf_token_id(f, key, &id));
    if (id >= 0 && std::find(c.eos_ids.begin(), c.eos_ids.end(), id) == c.eos_ids.end()) c.eos_ids.push_back(id);
  }
  SB_RETURN_IF_ERROR(check_model_config(c, path));

  TensorLookup lookup = [&f](const std::string& name, bool* found, TensorView* v, std::string*) -> Status {
    const gguf::TensorInfo* t = f.find_tensor(name);
    *found = t != nullptr;
    if (t == nullptr) return ok_status();
    // Stacked experts ("*_exps.weight", [n_expert, rows, cols]) are bound as [n_expert * rows, cols].
    const bool stacked = name.ends_with("_exps.weight") && t->ne.size() == 3;
    if (t->ne.size() > 2 && !stacked) {
      return corrupt(f.path() + ": tensor " + quote(name) + " has " + std::to_string(t->ne.size()) + " dimensions, expected 1 or 2");
    }
    v->name = name;
    v->dtype = gguf::tensor_type_dtype(t->type);
    v->rows = t->rows();
    v->cols = t->cols();
    v->data = t->data;
    return ok_status();
  };
  TensorNames names;
  names.tok_embd = "token_embd.weight";
  names.out_norm = "output_norm.weight";
  names.lm_head = "output.weight";
  names.layer = [](int i, const char* slot) { return "blk." + std::to_string(i) + "." + gguf_slot_name(slot); };
  names.fused_qkv = names.fused_gate_up = c.arch == Arch::kPhi3;
  WeightBinder binder(lookup, &m);
  SB_RETURN_IF_ERROR(bind_model_weights(names, &binder, &m, /*tie_requested=*/false));
  m.storage.push_back(f.mapping());
  return m;
}

// ---- Hugging Face --------------------------------------------------------

// A layer slot's tensor name in a Hugging Face file: Phi-3's fused projections,
// Gemma's four norms (its post_attention_layernorm norms the attention output).
std::string hf_slot(const char* slot, bool gemma) {
  static constexpr std::pair<const char*, const char*> kGemma[] = {
      {"attn_post_norm", "post_attention_layernorm.weight"}, {"ffn_norm", "pre_feedforward_layernorm.weight"},
      {"ffn_post_norm", "post_feedforward_layernorm.weight"}};
  if (gemma)
    for (const auto& [k, v] : kGemma)
      if (std::strcmp(k, slot) == 0) return v;
  if (std::strcmp(slot, "wqkv") == 0) return "self_attn.qkv_proj.weight";
  if (std::strcmp(slot, "w_gate_up") == 0) return "mlp.gate_up_proj.weight";
  return hf_layer_slot_name(slot);
}

StatusOr<Model> load_hf(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  SB_ASSIGN_OR_RETURN(hf::ModelJsonConfig j, hf::read_model_config(dir));
  const hf::ModelJsonConfig* defaults = j.architectures.empty() ? nullptr : hf_config_defaults(j.architectures[0]);
  if (defaults != nullptr) {
    SB_ASSIGN_OR_RETURN(j, hf::read_model_config(dir, defaults));
  }
  Model m;
  m.path = dir;
  ModelConfig& c = m.config;
  if (j.architectures.empty()) return corrupt(cfg_path + ": 'architectures' is missing");
  c.arch_name = j.architectures[0];
  SB_ASSIGN_OR_RETURN(const Family family, family_by_hf_arch(c.arch_name, cfg_path));
  c.rope_style = RopeStyle::kHalf;
  SB_RETURN_IF_ERROR(hf_model_config(j, cfg_path, &c));
  apply_family_switches(family.arch, &c);
  c.attn_bias = c.attn_bias || j.attention_bias;
  SB_RETURN_IF_ERROR(hf_family_config(j, cfg_path, &c));

  SB_ASSIGN_OR_RETURN(safetensors::TensorSet set, safetensors::TensorSet::open_dir(dir));
  // A multimodal wrapper keeps its text model under a prefix (as first released, or as
  // transformers >= 4.52 saves it); its vision tower and projector are not read.
  std::string prefix = "model.", lm_head = "lm_head.weight";
  for (auto [p, head] : {std::pair{"language_model.model.", "language_model.lm_head.weight"},
                         {"model.language_model.", "lm_head.weight"}})
    if (set.find(std::string(p) + "embed_tokens.weight") != nullptr) prefix = p, lm_head = head;
  c.vision_ignored = j.has_vision_config;
  TensorNames names;
  names.tok_embd = prefix + "embed_tokens.weight";
  names.out_norm = prefix + "norm.weight";
  names.lm_head = lm_head;
  const bool gemma = c.arch == Arch::kGemma2 || c.arch == Arch::kGemma3;
  names.layer = [gemma, prefix](int i, const char* slot) { return prefix + "layers." + std::to_string(i) + "." + hf_slot(slot, gemma); };
  names.fused_qkv = names.fused_gate_up = c.arch == Arch::kPhi3;
  names.expert = [](int i, int e, const char* slot) {
    return "model.layers." + std::to_string(i) + ".mlp.experts." + std::to_string(e) + "." +
           (std::strcmp(slot, "w_gate") == 0 ? "gate_proj.weight" : std::strcmp(slot, "w_up") == 0 ? "up_proj.weight" : "down_proj.weight");
  };
  names.norm_plus_one = gemma;
  WeightBinder binder(safetensors_lookup(set), &m);
  SB_RETURN_IF_ERROR(bind_model_weights(names, &binder, &m, j.tie_word_embeddings));
  for (const auto& map : set.mappings()) m.storage.push_back(map);
  return m;
}

bool has_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

StatusOr<Model> load_model(const std::string& path) {
  std::error_code ec;
  const fs::path p(path);
  if (fs::is_directory(p, ec)) return load_hf(path);
  if (!fs::exists(p, ec)) return not_found(path + ": no such file or directory");
  if (p.filename() == "config.json" || p.extension() == ".safetensors") {
    return load_hf(p.has_parent_path() ? p.parent_path().string() : ".");
  }
  if (has_gguf_magic(path)) return load_gguf(path);
  return invalid_argument(path + ": not a GGUF file or a Hugging Face model directory");
}

}  // namespace sb
