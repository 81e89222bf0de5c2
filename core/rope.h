// Rotary position embedding tables: the per-pair inverse frequencies of a
// config's RoPE scaling variant (none, linear, dynamic NTK, Llama 3, YaRN),
// computed on the host as Hugging Face does, and their upload for a runner
// (Forward, the DSpark drafter). The rotation itself is Backend::rope.
#pragma once

#include <vector>

#include "core/base/status.h"
#include "core/device_arena.h"
#include "core/model/model_config.h"

namespace sb {

// inv_freq [head_dim / 2] and the factor applied to cos and sin (YaRN).
// Dynamic NTK uses one fixed base sized for max_ctx (as vLLM does).
struct RopeTable {
  std::vector<float> inv_freq;  // [head_dim / 2]
  float attn_factor = 1.0f;
};
StatusOr<RopeTable> rope_table(const ModelConfig& config, int max_ctx);

// The table in backend memory, as Backend::rope takes it.
struct DeviceRope {
  const float* inv_freq = nullptr;  // [head_dim / 2] backend memory
  float attn_factor = 1.0f;
};
StatusOr<DeviceRope> upload_rope(DeviceArena& arena, const ModelConfig& config, int max_ctx);

}  // namespace sb
