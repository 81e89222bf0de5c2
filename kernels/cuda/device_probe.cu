#include "kernels/cuda/device_probe.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>

namespace sb::cuda {
namespace {

__global__ void iota_kernel(int* out, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = i;
}

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

std::string cuda_smoke_test(int device) {
  cudaError_t err = cudaSetDevice(device);
  if (err != cudaSuccess) return runtime_error("cudaSetDevice", err);

  constexpr int kN = 1000;  // not a multiple of the block size on purpose
  int* d = nullptr;
  err = cudaMalloc(&d, kN * sizeof(int));
  if (err != cudaSuccess) return runtime_error("cudaMalloc", err);
  iota_kernel<<<(kN + 255) / 256, 256>>>(d, kN);
  err = cudaGetLastError();
  int host[kN] = {};
  if (err == cudaSuccess) err = cudaMemcpy(host, d, sizeof(host), cudaMemcpyDeviceToHost);
  cudaFree(d);
  if (err != cudaSuccess) return runtime_error("kernel launch", err);
  for (int i = 0; i < kN; ++i) {
    if (host[i] != i) return "kernel produced a wrong value at " + std::to_string(i);
  }

  cublasHandle_t handle = nullptr;
  const cublasStatus_t st = cublasCreate(&handle);
  if (st != CUBLAS_STATUS_SUCCESS) return std::string("cublasCreate: ") + cublasGetStatusString(st);
  const cublasStatus_t st2 = cublasDestroy(handle);
  if (st2 != CUBLAS_STATUS_SUCCESS) return std::string("cublasDestroy: ") + cublasGetStatusString(st2);
  return "";
}

}  // namespace sb::cuda
