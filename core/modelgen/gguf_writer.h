// GGUF v3 writer: metadata of every value type (nested arrays included) and
// tensors (F32/F16/BF16/Q8_0/Q4_0) laid out at the file's alignment. Used by tests
// to build good and deliberately broken files, and by benchmarks for random models.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "formats/gguf.h"

namespace sb::gguf {

// Value builders; the type tag decides the encoding.
Value value_u8(uint8_t x);
Value value_i8(int8_t x);
Value value_u16(uint16_t x);
Value value_i16(int16_t x);
Value value_u32(uint32_t x);
Value value_i32(int32_t x);
Value value_u64(uint64_t x);
Value value_i64(int64_t x);
Value value_f32(float x);
Value value_f64(double x);
Value value_bool(bool x);
Value value_string(std::string s);
// Every element must have type elem_type (nested arrays: elem_type kArray).
Value value_array(ValueType elem_type, std::vector<Value> elems);
Value value_string_array(const std::vector<std::string>& xs);
Value value_f32_array(const std::vector<float>& xs);
Value value_i32_array(const std::vector<int32_t>& xs);

class Writer {
 public:
  // alignment must be a power of two; other than 32 it is written as general.alignment.
  explicit Writer(uint64_t alignment = 32);

  void add_kv(std::string key, Value value);
  // Raw tensor bytes in ggml layout; their size must match type and shape (SB_CHECK).
  void add_tensor(std::string name, TensorType type, std::vector<uint64_t> ne, std::string bytes);
  // Converts floats (ne[0]-contiguous) to `type`, quantizing for Q8_0 / Q4_0.
  void add_tensor_f32(std::string name, TensorType type, std::vector<uint64_t> ne, const std::vector<float>& values);

  // The whole file as bytes, or written to `path`.
  std::string to_bytes() const;
  Status write(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    TensorType type;
    std::vector<uint64_t> ne;
    std::string bytes;
  };
  std::string header_bytes() const;  // everything before the data section, padded

  uint64_t alignment_;
  std::vector<std::pair<std::string, Value>> kv_;
  std::vector<Tensor> tensors_;
};

}  // namespace sb::gguf
