// A quantized host copy of a model, the weights of the self:q8_0 / self:q4_0
// drafts: every layer's seven projections and the output head become Q8_0 or
// Q4_0 blocks (ggml layout, groups of 32 along a row); embeddings, norms and
// biases are shared with the source. A matrix already in the asked dtype, or
// whose rows are not a multiple of 32 wide, is shared as it is.
#pragma once

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "core/model/model.h"

namespace sb {

// dtype: kQ8_0 or kQ4_0. The copy keeps the source's storage alive.
StatusOr<Model> quantize_model(const Model& model, DType dtype);

}  // namespace sb
