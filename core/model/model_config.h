// Hyper-parameters of a decoder-only transformer. Architecture differences are
// data here (biases, q/k norm, RoPE layout), so one forward serves them all.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sb {

enum class Arch { kLlama, kQwen2, kQwen3 };

// Which dimensions RoPE rotates together.
enum class RopeStyle {
  kInterleaved,  // pairs (2i, 2i+1): llama.cpp's "norm" rope for GGUF llama (weights pre-permuted)
  kHalf,         // pairs (i, i + head_dim/2): HF rotate_half / NeoX, Qwen2/3 everywhere
};

enum class RopeScalingType { kNone, kLinear, kDynamic, kLlama3, kYarn };

struct RopeScaling {
  RopeScalingType type = RopeScalingType::kNone;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;      // llama3
  float high_freq_factor = 4.0f;     // llama3
  int original_max_position = 0;     // llama3, yarn, dynamic
  float beta_fast = 32.0f;           // yarn
  float beta_slow = 1.0f;            // yarn
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
  int bos_id = -1;              // -1: none
  std::vector<int> eos_ids;     // generation stops on any of these
};

}  // namespace sb
