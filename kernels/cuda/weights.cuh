// Device-side reads of one weight element in any WeightType, and the launch
// geometry helpers the kernel files share.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/ops.h"

namespace sb::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements (capped; the loop covers the rest).
inline unsigned grid_for(int64_t n) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, 65535));
}

__host__ __device__ inline int64_t weight_row_bytes(WeightType type, int64_t cols) {
  switch (type) {
    case WeightType::kF32: return cols * 4;
    case WeightType::kF16:
    case WeightType::kBF16: return cols * 2;
    case WeightType::kQ8_0: return cols / 32 * 34;
    case WeightType::kQ4_0: return cols / 32 * 18;
  }
  return 0;
}

// Element i of a row that starts at `row` (as the CPU's dequantize_row computes it).
__device__ inline float weight_elem(const uint8_t* row, WeightType type, int64_t i) {
  switch (type) {
    case WeightType::kF32: return reinterpret_cast<const float*>(row)[i];
    case WeightType::kF16: return __half2float(reinterpret_cast<const __half*>(row)[i]);
    case WeightType::kBF16: return __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(row)[i]);
    case WeightType::kQ8_0: {
      const uint8_t* b = row + (i / 32) * 34;  // 34 is even: the f16 scale stays 2-byte aligned
      const float d = __half2float(*reinterpret_cast<const __half*>(b));
      return d * static_cast<float>(static_cast<int8_t>(b[2 + i % 32]));
    }
    case WeightType::kQ4_0: {
      const uint8_t* b = row + (i / 32) * 18;
      const float d = __half2float(*reinterpret_cast<const __half*>(b));
      const int j = static_cast<int>(i % 32);
      const int byte = b[2 + (j & 15)];
      const int q = j < 16 ? (byte & 15) : (byte >> 4);
      return d * static_cast<float>(q - 8);
    }
  }
  return 0.0f;
}

// Runs `launch` (one kernel launch) and returns that launch's error alone: a
// non-sticky error an earlier launch left behind (already reported by its own
// launcher) is cleared first, so it is never reported again under this op's name.
template <typename Launch>
cudaError_t launch_checked(Launch&& launch) {
  (void)cudaGetLastError();
  launch();
  return cudaGetLastError();
}

__device__ inline float warp_sum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

}  // namespace sb::cuda
