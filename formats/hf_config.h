// Hugging Face config.json / generation_config.json: the fields specbatch needs,
// as plain data (no model types: core maps them to ModelConfig). JSON null counts
// as absent; a field of the wrong JSON type is an error naming the file and field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace sb::hf {

struct RopeScalingConfig {
  bool present = false;
  std::string type;                  // "rope_type" (or legacy "type"): linear, dynamic, llama3, yarn, default
  double factor = 1.0;
  double low_freq_factor = 1.0;      // llama3
  double high_freq_factor = 4.0;     // llama3
  int64_t original_max_position_embeddings = 0;
  double beta_fast = 32.0;           // yarn
  double beta_slow = 1.0;            // yarn
  std::vector<double> short_factor;  // longrope (Phi-3)
  std::vector<double> long_factor;   // longrope
  double attention_factor = 0.0;     // longrope, yarn; 0: absent
};

// The DSpark block-drafter fields (DESIGN.md section 8), absent in plain models.
struct DSparkJsonConfig {
  bool has_block_size = false;
  int64_t block_size = 0;
  bool has_target_layer_ids = false;
  std::vector<int64_t> target_layer_ids;
  bool has_mask_token_id = false;
  int64_t mask_token_id = 0;
  int64_t markov_rank = 0;
  std::string markov_head_type = "vanilla";
  bool enable_confidence_head = false;
  bool confidence_head_with_markov = false;
  int64_t num_target_layers = 0;           // 0: absent
};

struct ModelJsonConfig {
  std::vector<std::string> architectures;  // e.g. {"Qwen2ForCausalLM"}
  std::string model_type;                  // e.g. "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;         // 0: absent (same as num_attention_heads)
  int64_t head_dim = 0;                    // 0: absent (hidden_size / num_attention_heads)
  int64_t intermediate_size = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;             // or rope_parameters.rope_theta (newer transformers)
  RopeScalingConfig rope_scaling;          // rope_scaling, or the scaling fields of rope_parameters
  bool tie_word_embeddings = false;        // absent: false (Llama / Qwen defaults)
  bool has_tie_word_embeddings = false;    // whether the file said it
  bool attention_bias = false;
  int64_t bos_token_id = -1;               // -1: none
  std::vector<int64_t> eos_token_ids;      // int or list in the file
  // Family fields (Mistral, Phi-3, Gemma); 0 / empty when absent.
  int64_t sliding_window = 0;
  bool use_sliding_window = true;          // Qwen2 writes sliding_window with this false
  std::vector<std::string> layer_types;    // "sliding_attention" / "full_attention" per layer
  int64_t sliding_window_pattern = 0;      // Gemma 3: every this-many-th layer is global
  double query_pre_attn_scalar = 0.0;
  double attn_logit_softcapping = 0.0;
  double final_logit_softcapping = 0.0;
  std::string hidden_activation;           // "hidden_activation" or "hidden_act"
  double rope_local_base_freq = 0.0;
  int64_t original_max_position_embeddings = 0;  // top level (Phi-3)
  double partial_rotary_factor = 1.0;
  // Mixture of experts (Qwen3-MoE); 0 / empty when absent.
  int64_t num_experts = 0;                 // or num_local_experts
  int64_t num_experts_per_tok = 0;
  int64_t moe_intermediate_size = 0;
  bool norm_topk_prob = false;             // transformers' default for Qwen3-MoE
  int64_t decoder_sparse_step = 1;         // layer l is sparse when (l + 1) % step == 0 ...
  std::vector<int64_t> mlp_only_layers;    // ... and l is not listed here
  bool has_vision_config = false;          // a multimodal wrapper's vision_config is present
};

// Parses config.json text; `name` (usually the file path) prefixes error messages.
// Absent fields keep the values of `defaults` (a config class's defaults) when
// given. A multimodal wrapper's text model settings (Gemma3ForConditionalGeneration's
// text_config) are read over the top level's.
StatusOr<ModelJsonConfig> parse_model_config(std::string_view json, const std::string& name,
                                             const ModelJsonConfig* defaults = nullptr);
// Merges generation_config.json text: its bos_token_id replaces, its eos ids are added.
Status merge_generation_config(std::string_view json, const std::string& name, ModelJsonConfig* config);
// The sampling fields of generation_config.json (those vLLM's --generation-config
// auto applies), each absent when the file leaves it out or null.
struct GenerationSampling {
  std::optional<double> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k, max_new_tokens;
};
StatusOr<GenerationSampling> parse_generation_sampling(std::string_view json, const std::string& name);
// Reads dir/config.json and, when present, dir/generation_config.json.
StatusOr<ModelJsonConfig> read_model_config(const std::string& dir, const ModelJsonConfig* defaults = nullptr);

// The DSpark fields of a config.json text (read only for DSpark checkpoints, so a
// plain model's unrelated field of the same name cannot fail its loading).
StatusOr<DSparkJsonConfig> parse_dspark_config(std::string_view json, const std::string& name);

// Reads a whole (small) file into a string; errors name the path.
StatusOr<std::string> read_text_file(const std::string& path);

}  // namespace sb::hf
