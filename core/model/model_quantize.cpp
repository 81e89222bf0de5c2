#include "core/model/model_quantize.h"

#include <memory>
#include <vector>

namespace sb {

namespace {

// src quantized to dtype into new storage (appended to *storage), or src itself.
TensorView quantized(const TensorView& src, DType dtype, std::vector<std::shared_ptr<const void>>* storage) {
  if (!src.present() || src.dtype == dtype || src.cols % dtype_block_elems(dtype) != 0) return src;
  TensorView out = src;
  out.dtype = dtype;
  const size_t row_bytes = dtype_row_bytes(dtype, src.cols);
  std::shared_ptr<uint8_t[]> bytes(new uint8_t[static_cast<size_t>(src.rows) * row_bytes]);
  std::vector<float> row(static_cast<size_t>(src.cols));
  for (int64_t r = 0; r < src.rows; ++r) {
    dequantize_row(src.dtype, src.row(r), row.data(), src.cols);
    quantize_row(dtype, row.data(), bytes.get() + static_cast<size_t>(r) * row_bytes, src.cols);
  }
  out.data = bytes.get();
  storage->push_back(std::move(bytes));
  return out;
}

}  // namespace

StatusOr<Model> quantize_model(const Model& model, DType dtype) {
  if (dtype != DType::kQ8_0 && dtype != DType::kQ4_0)
    return invalid_argument(std::string("quantize_model: expected Q8_0 or Q4_0, got ") + dtype_name(dtype));
  Model q = model;
  for (LayerWeights& l : q.weights.layers) {
    for (TensorView* w : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down})
      *w = quantized(*w, dtype, &q.storage);
    for (std::vector<TensorView>* experts : {&l.exp_gate, &l.exp_up, &l.exp_down})
      for (TensorView& w : *experts) w = quantized(w, dtype, &q.storage);
  }
  q.weights.lm_head = quantized(q.weights.lm_head, dtype, &q.storage);
  return q;
}

}  // namespace sb
