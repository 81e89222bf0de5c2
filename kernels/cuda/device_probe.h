// CUDA device probe: how many devices the driver reports and what they are.
// Plain functions, no core/ header; only compiled when nvcc exists
// (SPECBATCH_HAVE_CUDA).
#pragma once

#include <string>

namespace sb::cuda {

struct DeviceCount {
  int count = 0;       // 0 when the driver reports no device (or no driver at all)
  std::string error;   // non-empty when the runtime failed for another reason
};

DeviceCount cuda_device_count();

// Describes device `device` ("NVIDIA H100 80GB HBM3, compute 9.0, 79.1 GiB").
std::string cuda_device_name(int device);

}  // namespace sb::cuda
