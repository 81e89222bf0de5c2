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
      {"ffn_post_norm", "post_ffw_norm.weight"}};
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

// rope_freqs.weight (Llama 3.1's scaling as llama.cpp writes it): one divisor per RoPE pair.
Status gguf_rope_freqs(const gguf::File& f, const ModelConfig& c, std::vector<float>* out) {
  const gguf::TensorInfo* t = f.find_tensor("rope_freqs.weight");
  if (t == nullptr) return ok_status();
  if (t->rows() != 1 || t->cols() != c.head_dim / 2)
    return corrupt(f.path() + ": tensor 'rope_freqs.weight' must hold head_dim / 2 = " +
                   std::to_string(c.head_dim / 2) + " factors");
  const DType dtype = gguf::tensor_type_dtype(t->type);
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16)
    return unsupported(f.path() + ": tensor 'rope_freqs.weight' must be F32, F16 or BF16");
  out->resize(static_cast<size_t>(t->cols()));
  dequantize_row(dtype, t->data, out->data(), t->cols());
  for (float x : *out)
    if (!(x > 0 && std::isfinite(x))) return corrupt(f.path() + ": tensor 'rope_freqs.weight' holds a factor <= 0");
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
  SB_RETURN_IF_ERROR(gguf_int(f, a + ".feed_forward_length", &c.ffn_dim));
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
  SB_RETURN_IF_ERROR(gguf_rope_freqs(f, c, &c.rope_scaling.freq_factors));
  // Vocabulary size from the embedding: [n_vocab, dim] with ne = {dim, n_vocab}.
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return not_found(path + ": tensor 'token_embd.weight' is missing");
  if (embd->ne.size() != 2 || embd->ne[1] > INT32_MAX) {
    return corrupt(path + ": tensor 'token_embd.weight' must be 2-D [n_vocab, dim]");
  }
  c.n_vocab = static_cast<int>(embd->ne[1]);
  apply_family_switches(family.arch, &c);
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
    if (t->ne.size() > 2) {
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
  SB_ASSIGN_OR_RETURN(const hf::ModelJsonConfig j, hf::read_model_config(dir));
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
  TensorNames names;
  names.tok_embd = "model.embed_tokens.weight";
  names.out_norm = "model.norm.weight";
  names.lm_head = "lm_head.weight";
  const bool gemma = c.arch == Arch::kGemma2 || c.arch == Arch::kGemma3;
  names.layer = [gemma](int i, const char* slot) { return "model.layers." + std::to_string(i) + "." + hf_slot(slot, gemma); };
  names.fused_qkv = names.fused_gate_up = c.arch == Arch::kPhi3;
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
