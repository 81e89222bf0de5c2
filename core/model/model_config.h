// Hyper-parameters of a decoder-only transformer. Architecture differences are
// data here (biases, q/k norm, RoPE layout, norms, activation, windows, caps),
// so one forward serves them all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sb {

// The model family (core/model/families.h maps file architecture names to it).
enum class Arch { kLlama, kMistral, kQwen2, kQwen3, kPhi3, kGemma2, kGemma3 };

// The gated MLP's activation: act(gate) * up.
enum class Activation {
  kSilu,      // SwiGLU: Llama, Mistral, Qwen, Phi-3
  kGeluTanh,  // GELU with the tanh approximation: Gemma
};

// Which dimensions RoPE rotates together.
enum class RopeStyle {
  kInterleaved,  // pairs (2i, 2i+1): llama.cpp's "norm" rope for GGUF llama (weights pre-permuted)
  kHalf,         // pairs (i, i + head_dim/2): HF rotate_half / NeoX, Qwen2/3 everywhere
};

enum class RopeScalingType { kNone, kLinear, kDynamic, kLlama3, kYarn, kLongRope };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;      // llama3
  float high_freq_factor = 4.0f;     // llama3
  int original_max_position = 0;     // llama3, yarn, dynamic
  float beta_fast = 32.0f;           // yarn
  float beta_slow = 1.0f;            // yarn
  // longrope (Phi-3): per-pair divisors of the frequencies, the long ones when
  // the context runs past original_max_position; cos/sin scaled by attention_factor
  // (0: sqrt(1 + ln(factor) / ln(original_max_position))).
  std::vector<float> short_factor, long_factor;  // [head_dim / 2]
  float attention_factor = 0.0f;
  // GGUF rope_freqs (Llama 3.1's scaling as llama.cpp stores it): per-pair
  // divisors applied on top of the type above; empty: none.
  std::vector<float> freq_factors;   // [head_dim / 2]
};

struct ModelConfig {
  Arch arch = Arch::kLlama;
  std::string arch_name;  // as the file says: "llama", "qwen2", "LlamaForCausalLM", ...
  int n_vocab = 0;
  int dim = 0;            // hidden size
  int n_layer = 0;
  int n_head = 0;
  int n_kv_head = 0;      // grouped-query attention: n_head % n_kv_head == 0
  int head_dim = 0;       // usually dim / n_head; Qwen3 sets it explicitly
  int ffn_dim = 0;        // intermediate size of the SwiGLU MLP
  int max_ctx = 0;        // trained context length
  float rms_eps = 1e-5f;
  float rope_theta = 10000.0f;
  RopeStyle rope_style = RopeStyle::kHalf;
  RopeScaling rope_scaling;
  bool attn_bias = false;       // Qwen2: biases on q, k, v projections
  bool qk_norm = false;         // Qwen3: per-head RMSNorm of q and k before RoPE
  bool tied_embeddings = false; // lm_head shares tok_embd
  // Gemma-family differences; the defaults are Llama's.
  Activation act = Activation::kSilu;
  float embed_scale = 1.0f;     // multiplies the embedding output (Gemma: sqrt(dim))
  float attn_scale = 0.0f;      // query scale; 0: 1/sqrt(head_dim) (Gemma: query_pre_attn_scalar^-0.5)
  float attn_softcap = 0.0f;    // > 0: attention scores soft-capped (Gemma 2)
  float final_softcap = 0.0f;   // > 0: output logits soft-capped (Gemma 2)
  bool post_norms = false;      // RMSNorm on the attention and MLP outputs before each residual add (Gemma 2/3)
  int sliding_window = 0;       // > 0: layers marked in layer_sliding see only the last this-many positions
  std::vector<bool> layer_sliding;  // [n_layer] sliding-window layers (empty: none)
  float rope_local_theta = 0.0f;    // > 0: sliding layers' RoPE base, unscaled (Gemma 3); 0: the global table

  bool layer_is_sliding(int layer) const {
    return sliding_window > 0 && static_cast<size_t>(layer) < layer_sliding.size() &&
           layer_sliding[static_cast<size_t>(layer)];
  }
  int bos_id = -1;              // -1: none
  std::vector<int> eos_ids;     // generation stops on any of these
};

}  // namespace sb
