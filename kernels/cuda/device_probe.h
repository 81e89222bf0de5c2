// CUDA device probe: how many devices the driver reports, and a smoke test that
// launches a kernel and creates/destroys a cuBLAS handle. Plain functions, no
// core/ header; only compiled when nvcc exists (SPECBATCH_HAVE_CUDA).
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

// Runs a tiny kernel and creates and destroys a cuBLAS handle on `device`.
// Returns "" on success, else what failed.
std::string cuda_smoke_test(int device);

}  // namespace sb::cuda
