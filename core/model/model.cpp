// load_model(): GGUF files and Hugging Face directories -> sb::Model. Maps the
// files' tensor names onto LayerWeights, checks every shape against the config
// and keeps the mappings alive in Model::storage.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>

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
      {"w_up", "ffn_up.weight"}, {"w_down", "ffn_down.weight"}};
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

Status gguf_rope_scaling(const gguf::File& f, const std::string& a, ModelConfig* c) {
  if (f.find_tensor("rope_freqs.weight") != nullptr) {
    return unsupported(f.path() + ": tensor 'rope_freqs.weight' (per-frequency RoPE factors, e.g. Llama 3.1) is not supported yet");
  }
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
  if (a == "llama") {
    c.arch = Arch::kLlama;
    c.rope_style = RopeStyle::kInterleaved;  // llama.cpp permutes q/k rows at conversion
  } else if (a == "qwen2") {
    c.arch = Arch::kQwen2;
    c.rope_style = RopeStyle::kHalf;
    c.attn_bias = true;
  } else if (a == "qwen3") {
    c.arch = Arch::kQwen3;
    c.rope_style = RopeStyle::kHalf;
    c.qk_norm = true;
  } else {
    return unsupported(path + ": general.architecture " + quote(a) + " is not supported (llama, qwen2, qwen3)");
  }
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
  // Vocabulary size from the embedding: [n_vocab, dim] with ne = {dim, n_vocab}.
  const gguf::TensorInfo* embd = f.find_tensor("token_embd.weight");
  if (embd == nullptr) return not_found(path + ": tensor 'token_embd.weight' is missing");
  if (embd->ne.size() != 2 || embd->ne[1] > INT32_MAX) {
    return corrupt(path + ": tensor 'token_embd.weight' must be 2-D [n_vocab, dim]");
  }
  c.n_vocab = static_cast<int>(embd->ne[1]);
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

StatusOr<Model> load_hf(const std::string& dir) {
  const std::string cfg_path = (fs::path(dir) / "config.json").string();
  SB_ASSIGN_OR_RETURN(const hf::ModelJsonConfig j, hf::read_model_config(dir));
  Model m;
  m.path = dir;
  ModelConfig& c = m.config;
  if (j.architectures.empty()) return corrupt(cfg_path + ": 'architectures' is missing");
  c.arch_name = j.architectures[0];
  c.rope_style = RopeStyle::kHalf;
  c.attn_bias = j.attention_bias;
  if (c.arch_name == "LlamaForCausalLM") {
    c.arch = Arch::kLlama;
  } else if (c.arch_name == "Qwen2ForCausalLM") {
    c.arch = Arch::kQwen2;
    c.attn_bias = true;
  } else if (c.arch_name == "Qwen3ForCausalLM") {
    c.arch = Arch::kQwen3;
    c.qk_norm = true;
  } else {
    return unsupported(cfg_path + ": architecture " + quote(c.arch_name) +
                       " is not supported (LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM)");
  }
  SB_RETURN_IF_ERROR(hf_model_config(j, cfg_path, &c));

  SB_ASSIGN_OR_RETURN(safetensors::TensorSet set, safetensors::TensorSet::open_dir(dir));
  TensorNames names;
  names.tok_embd = "model.embed_tokens.weight";
  names.out_norm = "model.norm.weight";
  names.lm_head = "lm_head.weight";
  names.layer = [](int i, const char* slot) { return "model.layers." + std::to_string(i) + "." + hf_layer_slot_name(slot); };
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
