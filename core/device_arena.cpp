#include "core/device_arena.h"

#include <utility>

namespace sb {

DeviceArena::~DeviceArena() {
  for (const DeviceWeight& w : uploaded_) backend_.release_weight(w);
  for (void* p : buffers_) backend_.release(p);
}

Status DeviceArena::upload(const TensorView& view, DeviceWeight* out) {
  SB_ASSIGN_OR_RETURN(*out, backend_.upload_weight(view));
  if (out->present()) uploaded_.push_back(*out);
  return ok_status();
}

StatusOr<float*> DeviceArena::alloc_floats(size_t n) {
  SB_ASSIGN_OR_RETURN(void* p, backend_.alloc(n * sizeof(float)));
  buffers_.push_back(p);
  return static_cast<float*>(p);
}

Status upload_layer(DeviceArena& arena, const LayerWeights& lw, int64_t n_slots, int64_t kv_dim, DeviceLayer* d) {
  for (auto [t, dst] : {std::pair{&lw.attn_norm, &d->attn_norm}, {&lw.wq, &d->wq}, {&lw.wk, &d->wk},
                        {&lw.wv, &d->wv}, {&lw.wo, &d->wo}, {&lw.bq, &d->bq}, {&lw.bk, &d->bk}, {&lw.bv, &d->bv},
                        {&lw.q_norm, &d->q_norm}, {&lw.k_norm, &d->k_norm}, {&lw.ffn_norm, &d->ffn_norm},
                        {&lw.attn_post_norm, &d->attn_post_norm}, {&lw.ffn_post_norm, &d->ffn_post_norm},
                        {&lw.w_gate, &d->w_gate}, {&lw.w_up, &d->w_up}, {&lw.w_down, &d->w_down}})
    SB_RETURN_IF_ERROR(arena.upload(*t, dst));
  const size_t n = static_cast<size_t>(n_slots) * static_cast<size_t>(kv_dim);
  SB_ASSIGN_OR_RETURN(d->k_cache, arena.alloc_floats(n));
  SB_ASSIGN_OR_RETURN(d->v_cache, arena.alloc_floats(n));
  return ok_status();
}

}  // namespace sb
