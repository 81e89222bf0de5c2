// Elementwise CUDA kernels of the Gemma family: the GELU-tanh gated MLP, logit
// soft-capping and scaling. Each element depends only on its own inputs.
#include <cmath>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/weights.cuh"

namespace sb::cuda {

namespace {

__global__ void gelu_tanh_mul_kernel(const float* gate, const float* up, float* out, int64_t n) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
  }
}

__global__ void softcap_kernel(float* x, float cap, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    x[i] = cap * tanhf(x[i] / cap);
}

__global__ void scale_kernel(float* x, float s, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    x[i] *= s;
}

}  // namespace

cudaError_t gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  gelu_tanh_mul_kernel<<<grid_for(n), kThreads, 0, stream>>>(gate, up, out, n);
  return cudaGetLastError();
}

cudaError_t softcap(float* x, float cap, int64_t n, cudaStream_t stream) {
  if (n < 0 || !(cap > 0)) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  softcap_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, cap, n);
  return cudaGetLastError();
}

cudaError_t scale(float* x, float s, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  scale_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, s, n);
  return cudaGetLastError();
}

}  // namespace sb::cuda
