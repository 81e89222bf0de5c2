// Element types of weights and a non-owning view of a 2-D weight in host memory
// (usually memory-mapped). Conversions here are plain reference loops; backends
// convert or upload weights once at load, never per step.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sb {

enum class DType : uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

const char* dtype_name(DType dtype);
// Elements per quantization block: 32 for Q8_0/Q4_0, 1 otherwise.
int64_t dtype_block_elems(DType dtype);
// Bytes of one block: 34 for Q8_0 (f16 scale + 32 int8), 18 for Q4_0 (f16 scale + 16 nibble bytes).
size_t dtype_block_bytes(DType dtype);
// Bytes of a row of n elements; n must be a multiple of dtype_block_elems.
size_t dtype_row_bytes(DType dtype, int64_t n);

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);  // round to nearest even
float bf16_to_f32(uint16_t b);
uint16_t f32_to_bf16(float f);  // round to nearest even

// Converts n elements (a multiple of the block size) of src to float.
void dequantize_row(DType dtype, const void* src, float* dst, int64_t n);
// Quantizes n floats (a multiple of 32) into Q8_0 or Q4_0 blocks, ggml layout.
void quantize_row(DType dtype, const float* src, void* dst, int64_t n);
// Stores n floats (a multiple of the block size) as dtype: F32 copied, F16/BF16
// rounded to nearest even, Q8_0/Q4_0 by quantize_row. dequantize_row's inverse
// up to that rounding.
void store_row(DType dtype, const float* src, void* dst, int64_t n);

// A weight as the model file holds it: row-major [rows, cols], cols contiguous.
// Vectors (norm weights, biases) have rows == 1. data == nullptr means absent.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;

  bool present() const { return data != nullptr; }
  int64_t n_elems() const { return rows * cols; }
  size_t n_bytes() const { return static_cast<size_t>(rows) * dtype_row_bytes(dtype, cols); }
  const void* row(int64_t r) const {
    return static_cast<const uint8_t*>(data) + static_cast<size_t>(r) * dtype_row_bytes(dtype, cols);
  }
};

}  // namespace sb
