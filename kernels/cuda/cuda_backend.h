// The CUDA implementation of sb::Backend on one device: weights uploaded once
// (F16/BF16 kept, F32 kept or converted to BF16, Q8_0/Q4_0 kept quantized,
// vectors always F32), ops queued on one stream, cuBLAS GEMMs with FP32
// accumulation, and copy_to_host as the only sync, which also reports any
// out-of-range index a kernel met since the last sync.
#pragma once

#include <memory>

#include "core/backend.h"
#include "core/base/status.h"

namespace sb {

struct CudaBackendOptions {
  int device = 0;
  // How float matrices are stored: kAuto keeps the file's F32/F16/BF16,
  // kF32 widens F16/BF16 to F32, kBF16 narrows F32/F16 to BF16.
  enum class Weights { kAuto, kF32, kBF16 } weights = Weights::kAuto;
};

// Fails (with the CUDA error) when the device cannot be used.
StatusOr<std::unique_ptr<Backend>> make_cuda_backend(const CudaBackendOptions& options);

}  // namespace sb
