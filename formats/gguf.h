// GGUF v3 reader (llama.cpp's model files): metadata of every value type
// (nested arrays included), tensor infos, alignment, memory-mapped tensor data.
// Every count, length, offset and shape is validated against the file; a bad
// file is one Status naming the file and the field, never an out-of-bounds read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "formats/mapped_file.h"

namespace sb::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};

// ggml tensor type codes specbatch reads (others are refused with a clear error).
enum class TensorType : uint32_t { kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kBF16 = 30 };

struct Value;

// An array's elements. Scalars stay packed as the file stores them (little-endian,
// the type's size each) and strings as one buffer with end offsets, so decoded
// metadata takes no more memory than the file's bytes; only nested arrays are Values.
struct Array {
  uint64_t n = 0;              // elements
  std::string packed;          // scalar elements, or the strings' bytes back to back
  std::vector<uint64_t> ends;  // strings: element i ends at ends[i] in `packed`
  std::vector<Value> nested;   // arrays of arrays
};

// One metadata value. Integers keep their sign (int64 / uint64), floats widen to double.
struct Value {
  ValueType type = ValueType::kUint8;
  // For arrays, the element type (kArray for nested arrays).
  ValueType elem_type = ValueType::kUint8;
  std::variant<int64_t, uint64_t, double, bool, std::string, Array> v;
};

// Bytes of one scalar of type t as stored; 0 for string and array.
size_t scalar_size(ValueType t);
// A scalar of type t decoded from its scalar_size(t) stored bytes.
Value decode_scalar(ValueType t, const uint8_t* bytes);
// Element i (< the array's n) of an array value, decoded.
Value array_element(const Value& array, uint64_t i);

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> ne;  // ggml order: ne[0] is the contiguous (innermost) dimension
  TensorType type = TensorType::kF32;
  uint64_t offset = 0;       // from the start of the data section
  uint64_t n_bytes = 0;
  // rows = product of ne[1..] and cols = ne[0]: the 2-D shape TensorView uses.
  int64_t rows() const;
  int64_t cols() const { return ne.empty() ? 1 : static_cast<int64_t>(ne[0]); }
  const uint8_t* data = nullptr;  // into the mapping; valid while the File lives
};

const char* value_type_name(ValueType type);
// "F32", "Q4_0", ...; for codes specbatch does not read, "type 12" style text.
std::string tensor_type_name(uint32_t code);
// The core element type of a GGUF tensor type.
DType tensor_type_dtype(TensorType type);

class File {
 public:
  // Maps and validates the whole file (header, metadata, tensor infos, bounds).
  static StatusOr<File> open(const std::string& path);

  const std::string& path() const { return map_->path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  const std::shared_ptr<const MappedFile>& mapping() const { return map_; }

  const std::vector<std::pair<std::string, Value>>& metadata() const { return metadata_; }
  const Value* find(std::string_view key) const;
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find_tensor(std::string_view name) const;

  // Typed getters. Missing key: kNotFound; wrong type: kCorrupt; both name the file and key.
  // get_int accepts any integer type that fits int64; get_float any integer or float type.
  StatusOr<std::string> get_string(std::string_view key) const;
  StatusOr<int64_t> get_int(std::string_view key) const;
  StatusOr<double> get_float(std::string_view key) const;
  StatusOr<bool> get_bool(std::string_view key) const;
  StatusOr<std::vector<std::string>> get_string_array(std::string_view key) const;
  StatusOr<std::vector<double>> get_float_array(std::string_view key) const;
  StatusOr<std::vector<int64_t>> get_int_array(std::string_view key) const;

 private:
  std::shared_ptr<const MappedFile> map_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> metadata_index_;  // key -> metadata_ position
  std::unordered_map<std::string, size_t> tensor_index_;    // name -> tensors_ position

  friend class Parser;
};

}  // namespace sb::gguf
