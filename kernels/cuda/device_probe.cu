#include "kernels/cuda/device_probe.h"

#include <cuda_runtime.h>

#include <cstdio>

namespace sb::cuda {
namespace {

std::string runtime_error(const char* what, cudaError_t err) {
  return std::string(what) + ": " + cudaGetErrorString(err);
}

}  // namespace

DeviceCount cuda_device_count() {
  DeviceCount out;
  const cudaError_t err = cudaGetDeviceCount(&out.count);
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    out.count = 0;
  } else if (err != cudaSuccess) {
    out.count = 0;
    out.error = runtime_error("cudaGetDeviceCount", err);
  }
  return out;
}

std::string cuda_device_name(int device) {
  cudaDeviceProp prop{};
  const cudaError_t err = cudaGetDeviceProperties(&prop, device);
  if (err != cudaSuccess) return runtime_error("cudaGetDeviceProperties", err);
  char buf[320];
  std::snprintf(buf, sizeof(buf), "%s, compute %d.%d, %.1f GiB", prop.name, prop.major, prop.minor,
                static_cast<double>(prop.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace sb::cuda
