#include "core/model/families.h"

#include <cmath>
#include <cstdint>

#include "core/model/weight_binder.h"

namespace sb {
namespace {

constexpr Family kFamilies[] = {
    {Arch::kLlama, "Llama", "LlamaForCausalLM", "llama"},
    {Arch::kMistral, "Mistral", "MistralForCausalLM", nullptr},
    {Arch::kQwen2, "Qwen2", "Qwen2ForCausalLM", "qwen2"},
    {Arch::kQwen3, "Qwen3", "Qwen3ForCausalLM", "qwen3"},
    {Arch::kQwen3Moe, "Qwen3-MoE", "Qwen3MoeForCausalLM", "qwen3moe"},
    {Arch::kPhi3, "Phi-3", "Phi3ForCausalLM", "phi3"},
    {Arch::kGemma2, "Gemma 2", "Gemma2ForCausalLM", "gemma2"},
    {Arch::kGemma3, "Gemma 3", "Gemma3ForCausalLM", "gemma3"},
    {Arch::kGemma3, "Gemma 3", "Gemma3ForConditionalGeneration", nullptr},  // its text model only
};

std::string supported(bool gguf) {
  std::string out;
  for (const Family& f : kFamilies) {
    const char* n = gguf ? f.gguf_arch : f.hf_arch;
    if (n == nullptr) continue;
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out;
}

}  // namespace

StatusOr<Family> family_by_hf_arch(std::string_view hf_arch, const std::string& path) {
  for (const Family& f : kFamilies)
    if (hf_arch == f.hf_arch) return f;
  return unsupported(path + ": architecture '" + std::string(hf_arch) + "' is not supported (supported: " +
                     supported(false) + ")");
}

StatusOr<Family> family_by_gguf_arch(std::string_view gguf_arch, const std::string& path) {
  for (const Family& f : kFamilies)
    if (f.gguf_arch != nullptr && gguf_arch == f.gguf_arch) return f;
  return unsupported(path + ": general.architecture '" + std::string(gguf_arch) +
                     "' is not supported (supported: " + supported(true) + ")");
}

const hf::ModelJsonConfig* hf_config_defaults(std::string_view hf_arch) {
  // transformers' Gemma3TextConfig: the 4B+ wrappers' text_config lists only what differs.
  static const hf::ModelJsonConfig kGemma3Text = [] {
    hf::ModelJsonConfig c;
    c.vocab_size = 262208;
    c.hidden_size = 2304;
    c.intermediate_size = 9216;
    c.num_hidden_layers = 26;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 256;
    c.hidden_activation = "gelu_pytorch_tanh";
    c.max_position_embeddings = 131072;
    c.rms_norm_eps = 1e-6;
    c.rope_theta = 1000000.0;
    c.query_pre_attn_scalar = 256;
    c.sliding_window = 4096;
    c.sliding_window_pattern = 6;
    c.rope_local_base_freq = 10000.0;
    c.tie_word_embeddings = true;
    c.bos_token_id = 2;
    c.eos_token_ids = {1};
    return c;
  }();
  if (hf_arch == "Gemma3ForConditionalGeneration" || hf_arch == "Gemma3ForCausalLM") return &kGemma3Text;
  return nullptr;
}

const char* family_name(Arch arch) {
  for (const Family& f : kFamilies)
    if (f.arch == arch) return f.name;
  return "?";
}

void apply_family_switches(Arch arch, ModelConfig* c) {
  c->arch = arch;
  switch (arch) {
    case Arch::kQwen2:
      c->attn_bias = true;
      break;
    case Arch::kQwen3:
    case Arch::kQwen3Moe:
      c->qk_norm = true;
      break;
    case Arch::kGemma3:
      c->qk_norm = true;
      [[fallthrough]];
    case Arch::kGemma2:
      c->act = Activation::kGeluTanh;
      c->post_norms = true;
      c->embed_scale = std::sqrt(static_cast<float>(c->dim));
      break;
    case Arch::kLlama:
    case Arch::kMistral:
    case Arch::kPhi3:
      break;
  }
}

namespace {

// Which layers slide: config.json layer_types when given, else every layer but
// each pattern-th (pattern 1: all; Gemma 2 alternates from layer 0: pattern 2).
Status sliding_layers(const hf::ModelJsonConfig& j, const std::string& path, int pattern, ModelConfig* c) {
  c->layer_sliding.assign(static_cast<size_t>(c->n_layer), false);
  if (!j.layer_types.empty()) {
    if (j.layer_types.size() != static_cast<size_t>(c->n_layer))
      return corrupt(path + ": layer_types has " + std::to_string(j.layer_types.size()) + " entries for " +
                     std::to_string(c->n_layer) + " layers");
    for (size_t l = 0; l < j.layer_types.size(); ++l) {
      const std::string& t = j.layer_types[l];
      if (t != "sliding_attention" && t != "full_attention")
        return unsupported(path + ": layer_types[" + std::to_string(l) + "] '" + t + "' is not supported");
      c->layer_sliding[l] = t == "sliding_attention";
    }
    return ok_status();
  }
  for (int l = 0; l < c->n_layer; ++l) c->layer_sliding[static_cast<size_t>(l)] = pattern <= 1 || (l + 1) % pattern != 0;
  return ok_status();
}

}  // namespace

namespace {

// Qwen3-MoE's experts from config.json: layer l is sparse unless listed in
// mlp_only_layers or (l + 1) is no multiple of decoder_sparse_step.
Status hf_moe_config(const hf::ModelJsonConfig& j, const std::string& path, ModelConfig* c) {
  auto to_int = [&](const char* field, int64_t v, int* out) {
    if (v < 0 || v > INT32_MAX) return corrupt(path + ": " + field + " = " + std::to_string(v) + " is out of range");
    *out = static_cast<int>(v);
    return ok_status();
  };
  SB_RETURN_IF_ERROR(to_int("num_experts", j.num_experts, &c->n_expert));
  SB_RETURN_IF_ERROR(to_int("num_experts_per_tok", j.num_experts_per_tok, &c->n_expert_used));
  SB_RETURN_IF_ERROR(to_int("moe_intermediate_size", j.moe_intermediate_size, &c->expert_ffn_dim));
  c->expert_norm_topk = j.norm_topk_prob;
  if (j.decoder_sparse_step <= 0) return corrupt(path + ": decoder_sparse_step must be positive");
  c->layer_moe.assign(static_cast<size_t>(c->n_layer), false);
  for (int l = 0; l < c->n_layer; ++l) c->layer_moe[static_cast<size_t>(l)] = (l + 1) % j.decoder_sparse_step == 0;
  for (int64_t l : j.mlp_only_layers) {
    if (l < 0 || l >= c->n_layer) return corrupt(path + ": mlp_only_layers names layer " + std::to_string(l) + " of " + std::to_string(c->n_layer));
    c->layer_moe[static_cast<size_t>(l)] = false;
  }
  return check_model_config(*c, path);
}

}  // namespace

Status hf_family_config(const hf::ModelJsonConfig& j, const std::string& path, ModelConfig* c) {
  if (c->arch == Arch::kQwen3Moe) SB_RETURN_IF_ERROR(hf_moe_config(j, path, c));
  const bool gemma = c->arch == Arch::kGemma2 || c->arch == Arch::kGemma3;
  const std::string want_act = gemma ? "gelu_pytorch_tanh" : "silu";
  if (!j.hidden_activation.empty() && j.hidden_activation != want_act &&
      !(gemma && j.hidden_activation == "gelu_tanh"))
    return unsupported(path + ": hidden activation '" + j.hidden_activation + "' is not supported for " +
                       family_name(c->arch) + " (" + want_act + ")");
  if (j.partial_rotary_factor != 1.0)
    return unsupported(path + ": partial_rotary_factor " + std::to_string(j.partial_rotary_factor) +
                       " (partial RoPE) is not supported");
  if (j.sliding_window < 0 || j.sliding_window > INT32_MAX) return corrupt(path + ": sliding_window is out of range");
  // Qwen2 writes a sliding_window it does not use; Llama has none.
  const bool windowed = c->arch == Arch::kMistral || c->arch == Arch::kPhi3 || gemma;
  if (windowed && j.use_sliding_window && j.sliding_window > 0) {
    c->sliding_window = static_cast<int>(j.sliding_window);
    const int64_t pattern = c->arch == Arch::kGemma2 ? 2 : c->arch == Arch::kGemma3 ? (j.sliding_window_pattern > 0 ? j.sliding_window_pattern : 6) : 1;
    SB_RETURN_IF_ERROR(sliding_layers(j, path, static_cast<int>(pattern), c));
  }
  if (!gemma) return ok_status();
  if (j.query_pre_attn_scalar < 0) return corrupt(path + ": query_pre_attn_scalar must be positive");
  c->attn_scale = static_cast<float>(1.0 / std::sqrt(j.query_pre_attn_scalar > 0 ? j.query_pre_attn_scalar : c->head_dim));
  c->attn_softcap = static_cast<float>(j.attn_logit_softcapping);
  c->final_softcap = static_cast<float>(j.final_logit_softcapping);
  if (c->attn_softcap < 0 || c->final_softcap < 0) return corrupt(path + ": logit soft-capping must not be negative");
  if (c->arch == Arch::kGemma3) c->rope_local_theta = static_cast<float>(j.rope_local_base_freq > 0 ? j.rope_local_base_freq : 10000.0);
  return ok_status();
}

}  // namespace sb
