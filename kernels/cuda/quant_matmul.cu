// y = x * w^T for Q8_0 / Q4_0 weights, for the few rows of a draft model's
// step: one warp per output feature, lane j reading element j of each 32-wide
// quantization block (so x reads are coalesced), up to kRows rows of x per
// pass over the weight row.
#include "kernels/cuda/ops.h"
#include "kernels/cuda/weights.cuh"

namespace sb::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kRows = 8;

__global__ void __launch_bounds__(kWarps * 32)
    quant_matmul_kernel(const float* x, const uint8_t* w, WeightType type, float* y, int64_t n, int64_t k,
                        int64_t m) {
  const int64_t o = blockIdx.x * int64_t{kWarps} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (o >= m) return;
  const uint8_t* row = w + o * weight_row_bytes(type, k);
  for (int64_t r0 = 0; r0 < n; r0 += kRows) {
    const int rows = static_cast<int>(n - r0 < kRows ? n - r0 : kRows);
    float acc[kRows] = {};
    for (int64_t i = lane; i < k; i += 32) {
      const float wi = weight_elem(row, type, i);
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        if (r < rows) acc[r] += wi * x[(r0 + r) * k + i];
    }
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float s = warp_sum(acc[r]);
      if (lane == 0 && r < rows) y[(r0 + r) * m + o] = s;
    }
  }
}

}  // namespace

cudaError_t quant_matmul(const float* x, const void* w, WeightType type, float* y, int64_t n, int64_t k,
                         int64_t m, cudaStream_t stream) {
  if ((type != WeightType::kQ8_0 && type != WeightType::kQ4_0) || n < 0 || k <= 0 || k % 32 != 0 || m <= 0)
    return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  const int64_t blocks = (m + kWarps - 1) / kWarps;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  return launch_checked([&] {
    quant_matmul_kernel<<<static_cast<unsigned>(blocks), kWarps * 32, 0, stream>>>(
        x, static_cast<const uint8_t*>(w), type, y, n, k, m);
  });
}

}  // namespace sb::cuda
