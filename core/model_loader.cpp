// load_model(): GGUF files and Hugging Face directories -> sb::Model. Maps the
// files' tensor names onto LayerWeights, checks every shape against the config
// and keeps the mappings alive in Model::storage.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <vector>

#include "core/model.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace sb {
namespace {

namespace fs = std::filesystem;

std::string quote(const std::string& s) { return "'" + s + "'"; }

std::string shape_str(int64_t rows, int64_t cols) {
  return rows == 1 ? "[" + std::to_string(cols) + "]" : "[" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
}

// Finds a tensor by name: sets *found, and fills the view and the file holding it.
using Lookup = std::function<Status(const std::string& name, bool* found, TensorView* view, std::string* file)>;

// Binds file tensors to weight slots with shape checks; counts parameters.
class Binder {
 public:
  Binder(Lookup lookup, Model* model) : lookup_(std::move(lookup)), model_(model) {}

  Status bind(const std::string& name, int64_t rows, int64_t cols, TensorView* out, bool required = true) {
    bool found = false;
    std::string file = model_->path;
    TensorView v;
    SB_RETURN_IF_ERROR(lookup_(name, &found, &v, &file));
    if (!found) {
      if (!required) return ok_status();
      return not_found(file + ": tensor " + quote(name) + " is missing");
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

 private:
  // Kernels may read elements directly: copy a tensor whose data is not aligned
  // to its element (possible in safetensors, whose header length is arbitrary).
  Status align(TensorView* v) {
    const size_t need = v->dtype == DType::kF32 ? 4 : 2;
    if (reinterpret_cast<uintptr_t>(v->data) % need == 0) return ok_status();
    auto copy = std::make_shared<std::vector<uint64_t>>((v->n_bytes() + 7) / 8);
    std::memcpy(copy->data(), v->data, v->n_bytes());
    v->data = copy->data();
    model_->storage.push_back(std::move(copy));
    return ok_status();
  }

  Lookup lookup_;
  Model* model_;
};

// Range checks shared by both formats; names the file and the field.
Status check_config(const ModelConfig& c, const std::string& path) {
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

// Binds every weight of a model whose config is set; names come from `name_of`.
struct TensorNames {
  std::string tok_embd, out_norm, lm_head;
  std::function<std::string(int layer, const char* slot)> layer;  // slot: "wq", "bq", "attn_norm", ...
};

Status bind_all(const TensorNames& names, Binder* b, Model* m, bool tie_requested) {
  const ModelConfig& c = m->config;
  ModelWeights& w = m->weights;
  const int64_t q_dim = int64_t{c.n_head} * c.head_dim, kv_dim = int64_t{c.n_kv_head} * c.head_dim;
  SB_RETURN_IF_ERROR(b->bind(names.tok_embd, c.n_vocab, c.dim, &w.tok_embd));
  w.layers.resize(static_cast<size_t>(c.n_layer));
  for (int i = 0; i < c.n_layer; ++i) {
    LayerWeights& l = w.layers[static_cast<size_t>(i)];
    auto n = [&](const char* slot) { return names.layer(i, slot); };
    SB_RETURN_IF_ERROR(b->bind(n("attn_norm"), 1, c.dim, &l.attn_norm));
    SB_RETURN_IF_ERROR(b->bind(n("wq"), q_dim, c.dim, &l.wq));
    SB_RETURN_IF_ERROR(b->bind(n("wk"), kv_dim, c.dim, &l.wk));
    SB_RETURN_IF_ERROR(b->bind(n("wv"), kv_dim, c.dim, &l.wv));
    SB_RETURN_IF_ERROR(b->bind(n("wo"), c.dim, q_dim, &l.wo));
    if (c.attn_bias) {
      SB_RETURN_IF_ERROR(b->bind(n("bq"), 1, q_dim, &l.bq));
      SB_RETURN_IF_ERROR(b->bind(n("bk"), 1, kv_dim, &l.bk));
      SB_RETURN_IF_ERROR(b->bind(n("bv"), 1, kv_dim, &l.bv));
    }
    if (c.qk_norm) {
      SB_RETURN_IF_ERROR(b->bind(n("q_norm"), 1, c.head_dim, &l.q_norm));
      SB_RETURN_IF_ERROR(b->bind(n("k_norm"), 1, c.head_dim, &l.k_norm));
    }
    SB_RETURN_IF_ERROR(b->bind(n("ffn_norm"), 1, c.dim, &l.ffn_norm));
    SB_RETURN_IF_ERROR(b->bind(n("w_gate"), c.ffn_dim, c.dim, &l.w_gate));
    SB_RETURN_IF_ERROR(b->bind(n("w_up"), c.ffn_dim, c.dim, &l.w_up));
    SB_RETURN_IF_ERROR(b->bind(n("w_down"), c.dim, c.ffn_dim, &l.w_down));
  }
  SB_RETURN_IF_ERROR(b->bind(names.out_norm, 1, c.dim, &w.out_norm));
  if (!tie_requested) SB_RETURN_IF_ERROR(b->bind(names.lm_head, c.n_vocab, c.dim, &w.lm_head, /*required=*/false));
  m->config.tied_embeddings = !w.lm_head.present();
  if (m->config.tied_embeddings) w.lm_head = w.tok_embd;
  return ok_status();
}

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
  SB_RETURN_IF_ERROR(check_config(c, path));

  Lookup lookup = [&f](const std::string& name, bool* found, TensorView* v, std::string*) -> Status {
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
  Binder binder(lookup, &m);
  SB_RETURN_IF_ERROR(bind_all(names, &binder, &m, /*tie_requested=*/false));
  m.storage.push_back(f.mapping());
  return m;
}

// ---- Hugging Face --------------------------------------------------------

const char* hf_slot_name(const char* slot) {
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
  else return unsupported(path + ": rope_scaling type " + quote(in.type) + " is not supported (linear, dynamic, llama3, yarn)");
  rs->factor = static_cast<float>(in.factor);
  rs->low_freq_factor = static_cast<float>(in.low_freq_factor);
  rs->high_freq_factor = static_cast<float>(in.high_freq_factor);
  rs->beta_fast = static_cast<float>(in.beta_fast);
  rs->beta_slow = static_cast<float>(in.beta_slow);
  return to_int(path, "rope_scaling.original_max_position_embeddings", in.original_max_position_embeddings,
                &rs->original_max_position);
}

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
  SB_RETURN_IF_ERROR(to_int(cfg_path, "vocab_size", j.vocab_size, &c.n_vocab));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "hidden_size", j.hidden_size, &c.dim));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "num_hidden_layers", j.num_hidden_layers, &c.n_layer));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "num_attention_heads", j.num_attention_heads, &c.n_head));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "num_key_value_heads", j.num_key_value_heads ? j.num_key_value_heads : j.num_attention_heads, &c.n_kv_head));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "head_dim", j.head_dim ? j.head_dim : (c.n_head ? c.dim / c.n_head : 0), &c.head_dim));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "intermediate_size", j.intermediate_size, &c.ffn_dim));
  SB_RETURN_IF_ERROR(to_int(cfg_path, "max_position_embeddings", j.max_position_embeddings, &c.max_ctx));
  c.rms_eps = static_cast<float>(j.rms_norm_eps);
  c.rope_theta = static_cast<float>(j.rope_theta);
  SB_RETURN_IF_ERROR(hf_rope_scaling(j.rope_scaling, cfg_path, &c.rope_scaling));
  if (j.bos_token_id >= 0) SB_RETURN_IF_ERROR(to_int(cfg_path, "bos_token_id", j.bos_token_id, &c.bos_id));
  for (int64_t id : j.eos_token_ids) {
    int x = 0;
    SB_RETURN_IF_ERROR(to_int(cfg_path, "eos_token_id", id, &x));
    c.eos_ids.push_back(x);
  }
  SB_RETURN_IF_ERROR(check_config(c, cfg_path));

  SB_ASSIGN_OR_RETURN(safetensors::TensorSet set, safetensors::TensorSet::open_dir(dir));
  Lookup lookup = [&set](const std::string& name, bool* found, TensorView* v, std::string* file) -> Status {
    const safetensors::TensorInfo* t = set.find(name);
    *found = t != nullptr;
    if (t == nullptr) return ok_status();
    *file = t->file;
    SB_ASSIGN_OR_RETURN(*v, set.view(name));
    return ok_status();
  };
  TensorNames names;
  names.tok_embd = "model.embed_tokens.weight";
  names.out_norm = "model.norm.weight";
  names.lm_head = "lm_head.weight";
  names.layer = [](int i, const char* slot) { return "model.layers." + std::to_string(i) + "." + hf_slot_name(slot); };
  Binder binder(lookup, &m);
  SB_RETURN_IF_ERROR(bind_all(names, &binder, &m, j.tie_word_embeddings));
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
