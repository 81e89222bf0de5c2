// safetensors reader (one file, or shards listed by model.safetensors.index.json)
// and a small writer for tests. Files are memory-mapped; the header length, JSON,
// dtypes, shapes, offsets and shard names are validated before any view is handed out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "formats/mapped_file.h"

namespace sb::safetensors {

struct TensorInfo {
  std::string name;
  std::string dtype;            // as the file says: "F32", "BF16", "I64", ...
  bool dtype_supported = false; // F32 / F16 / BF16
  DType core_dtype = DType::kF32;  // meaningful when dtype_supported
  std::vector<int64_t> shape;
  uint64_t n_bytes = 0;
  const uint8_t* data = nullptr;   // into the mapping (may be unaligned)
  std::string file;                // the shard that holds it
};

class TensorSet {
 public:
  // One .safetensors file.
  static StatusOr<TensorSet> open_file(const std::string& path);
  // A directory: model.safetensors.index.json (sharded) if present, else
  // model.safetensors, else every *.safetensors file in it.
  static StatusOr<TensorSet> open_dir(const std::string& dir);

  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(std::string_view name) const;
  // The tensor as a 2-D view ([1, n] for vectors, [d0, d1*...] otherwise).
  // Missing: kNotFound; dtype other than F32/F16/BF16: kUnsupported naming it.
  StatusOr<TensorView> view(std::string_view name) const;
  const std::vector<std::shared_ptr<const MappedFile>>& mappings() const { return maps_; }

 private:
  Status add_file(const std::string& path);

  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::vector<std::shared_ptr<const MappedFile>> maps_;
};

// A tensor to write: dtype is a safetensors dtype string; bytes must match shape.
struct WriteTensor {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// Serializes tensors (in order, contiguous) to safetensors bytes / a file.
std::string to_bytes(const std::vector<WriteTensor>& tensors);
Status write_file(const std::string& path, const std::vector<WriteTensor>& tensors);
// Helper: floats converted to "F32", "F16" or "BF16".
WriteTensor make_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape,
                        const std::vector<float>& values);

}  // namespace sb::safetensors
