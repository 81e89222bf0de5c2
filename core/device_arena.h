// Backend memory owned by one model runner (Forward, DSparkDrafter): weights
// uploaded and workspaces allocated at set-up, all released with the arena.
// Also the shape every runner keeps a decoder layer in on the backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "core/base/status.h"
#include "core/base/tensor.h"
#include "core/model/model.h"

namespace sb {

class DeviceArena {
 public:
  explicit DeviceArena(Backend& backend) : backend_(backend) {}
  ~DeviceArena();
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;

  // Uploads view (an absent view stays absent).
  Status upload(const TensorView& view, DeviceWeight* out);
  StatusOr<float*> alloc_floats(size_t n);

 private:
  Backend& backend_;
  std::vector<DeviceWeight> uploaded_;
  std::vector<void*> buffers_;
};

// One decoder layer's weights on the backend (absent ones stay absent) and its K/V cache.
struct DeviceLayer {
  DeviceWeight attn_norm, wq, wk, wv, wo, bq, bk, bv, q_norm, k_norm, ffn_norm, w_gate, w_up, w_down;
  DeviceWeight attn_post_norm, ffn_post_norm;
  float* k_cache = nullptr;  // [n_slots, kv_dim]
  float* v_cache = nullptr;  // [n_slots, kv_dim]
};

// Uploads lw's tensors and allocates K and V caches of n_slots x kv_dim floats.
Status upload_layer(DeviceArena& arena, const LayerWeights& lw, int64_t n_slots, int64_t kv_dim, DeviceLayer* out);

}  // namespace sb
