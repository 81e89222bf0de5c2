// A wider, deeper Llama GGUF computing the same function as a small one: the
// benchmark's memory-bound target with real (meaningful) outputs. Hidden, head
// and FFN dimensions are zero-padded, extra heads and layers are added whose
// contributions reach the residual stream only through zero output projections,
// and RMSNorm weights and epsilon are rescaled so every norm output is unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/model/dspark_model.h"
#include "formats/gguf.h"

namespace sb {

struct WidenShape {
  int dim = 768;       // hidden size, >= the source's
  int n_layer = 16;    // >= the source's; the extra layers come last
  int ffn_dim = 2048;  // >= the source's
  int head_dim = 64;   // a multiple of the source's head dim; dim / head_dim heads
};

// "DIM,LAYERS,FFN" or "DIM,LAYERS,FFN,HEAD_DIM".
StatusOr<WidenShape> parse_widen_shape(std::string_view spec);

// Writes to `dst` the widening of the Llama GGUF `src` (any tensor type read as
// F32; matrices written as `matrices`: F32, F16, BF16, Q8_0 or Q4_0, vectors
// F32). The extra layers' input projections are random (`seed`), so they cost
// what real ones do. The source must use no RoPE scaling; the shape must keep
// its query/key-value head ratio (errors say which rule fails).
Status write_widened_model(const std::string& src, const std::string& dst, const WidenShape& shape, uint64_t seed,
                           gguf::TensorType matrices = gguf::TensorType::kF32);

// Writes to directory `dst` (created if needed) an F32 DSpark checkpoint that
// drafts for the target widened to `shape` what `src` drafts for the source
// target: fed the widened target's hidden states (the source's, zero-padded),
// it computes the same block logits and confidences. Its layers, heads and
// Markov head stay; hidden size becomes shape.dim, the FFN shape.ffn_dim, and
// the head dim grows by shape.dim / dim, which must be a whole number so that
// one epsilon rescales every norm (hidden and per-head) alike.
Status write_widened_dspark(const DSparkModel& src, const std::string& dst, const WidenShape& shape);

}  // namespace sb
