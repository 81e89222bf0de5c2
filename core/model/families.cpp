#include "core/model/families.h"

#include <cmath>
#include <cstdint>

namespace sb {
namespace {

constexpr Family kFamilies[] = {
    {Arch::kLlama, "Llama", "LlamaForCausalLM", "llama"},
    {Arch::kMistral, "Mistral", "MistralForCausalLM", nullptr},
    {Arch::kQwen2, "Qwen2", "Qwen2ForCausalLM", "qwen2"},
    {Arch::kQwen3, "Qwen3", "Qwen3ForCausalLM", "qwen3"},
    {Arch::kPhi3, "Phi-3", "Phi3ForCausalLM", nullptr},
    {Arch::kGemma2, "Gemma 2", "Gemma2ForCausalLM", nullptr},
    {Arch::kGemma3, "Gemma 3", "Gemma3ForCausalLM", nullptr},
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

Status hf_family_config(const hf::ModelJsonConfig& j, const std::string& path, ModelConfig* c) {
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
