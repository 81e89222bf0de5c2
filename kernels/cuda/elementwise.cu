// Row-wise and elementwise CUDA kernels: embedding gather, row gather,
// RMSNorm, RoPE, SwiGLU, residual and bias adds, F32 -> F16/BF16 conversion
// (F16 rows scaled by a power of two) and the matching output-row scaling,
// KV-cache store. Each output depends only on its own row's inputs.
#include <cmath>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/weights.cuh"

namespace sb::cuda {

namespace {

__global__ void embed_kernel(const uint8_t* table, WeightType type, const int32_t* ids, float* out, int64_t n_ids,
                             int64_t n_rows, int64_t dim, int err_bit, int* err) {
  const int64_t row_bytes = weight_row_bytes(type, dim);
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n_ids * dim;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx / dim, c = idx % dim;
    const int64_t id = ids[i];
    if (id < 0 || id >= n_rows) {
      out[idx] = 0.0f;
      if (c == 0) atomicOr(err, err_bit);
      continue;
    }
    out[idx] = weight_elem(table + id * row_bytes, type, c);
  }
}

__device__ float block_sum(float v) {
  __shared__ float partial[kThreads / 32];
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  return total;
}

__global__ void rms_norm_kernel(const float* x, const float* w, float* out, int64_t dim, float eps) {
  const float* xr = x + blockIdx.x * dim;
  float* yr = out + blockIdx.x * dim;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) ss += xr[i] * xr[i];
  // block_sum's barrier orders every read of xr before any write of yr (out may alias x).
  const float inv = 1.0f / sqrtf(block_sum(ss) / static_cast<float>(dim) + eps);
  for (int64_t i = threadIdx.x; i < dim; i += kThreads) yr[i] = xr[i] * inv * w[i];
}

__global__ void rope_kernel(float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens,
                            int64_t n_heads, int64_t head_dim, RopeLayout layout, float attn_factor) {
  const int64_t half = head_dim / 2;
  const int64_t a = layout == RopeLayout::kInterleaved ? 2 : 1;
  const int64_t b = layout == RopeLayout::kInterleaved ? 1 : half;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n_tokens * n_heads * half;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t i = idx % half, th = idx / half, t = th / n_heads;
    double s, c;
    sincos(static_cast<double>(pos[t]) * static_cast<double>(inv_freq[i]), &s, &c);
    const float cs = static_cast<float>(c) * attn_factor, sn = static_cast<float>(s) * attn_factor;
    float* xh = x + th * head_dim;
    const float x0 = xh[i * a], x1 = xh[i * a + b];
    xh[i * a] = x0 * cs - x1 * sn;
    xh[i * a + b] = x0 * sn + x1 * cs;
  }
}

__global__ void silu_mul_kernel(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

__global__ void add_kernel(float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    x[i] += y[i];
}

__global__ void add_bias_kernel(float* y, const float* bias, int64_t n_rows, int64_t m) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n_rows * m;
       i += int64_t{gridDim.x} * blockDim.x)
    y[i] += bias[i % m];
}

__global__ void to_bf16_kernel(const float* x, __nv_bfloat16* out, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x)
    out[i] = __float2bfloat16_rn(x[i]);
}

__device__ float block_max(float v) {
  __shared__ float partial[kThreads / 32];
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  float m = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) m = fmaxf(m, partial[w]);
  return m;
}

// One block per row: the row's largest magnitude picks a power of two 2^-e
// (e >= 0) that keeps every scaled value within 2^15, well inside F16's range;
// the row is written scaled and 2^e kept for the GEMM's output row.
__global__ void to_f16_scaled_kernel(const float* x, __half* out, float* scale, int64_t cols) {
  const float* xr = x + blockIdx.x * cols;
  __half* yr = out + blockIdx.x * cols;
  float m = 0.0f;
  for (int64_t i = threadIdx.x; i < cols; i += kThreads) m = fmaxf(m, fabsf(xr[i]));
  m = block_max(m);
  int e = 0;
  if (isfinite(m) && m > 32768.0f) {
    frexpf(m, &e);  // m = f * 2^e, f in [0.5, 1)
    e -= 15;
  }
  const float down = ldexpf(1.0f, -e);  // exact: a power of two
  for (int64_t i = threadIdx.x; i < cols; i += kThreads) yr[i] = __float2half_rn(xr[i] * down);
  if (threadIdx.x == 0) scale[blockIdx.x] = ldexpf(1.0f, e);
}

__global__ void scale_rows_kernel(float* y, const float* scale, int64_t n_rows, int64_t m) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n_rows * m;
       i += int64_t{gridDim.x} * blockDim.x)
    y[i] *= scale[i / m];
}

__global__ void kv_store_kernel(const float* k, const float* v, const int32_t* slots, float* k_cache,
                                float* v_cache, int64_t n_tokens, int64_t kv_dim, int64_t n_slots, int* err) {
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < n_tokens * kv_dim;
       idx += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = idx / kv_dim, c = idx % kv_dim;
    const int64_t slot = slots[t];
    if (slot < 0 || slot >= n_slots) {
      if (c == 0) atomicOr(err, kErrKvStore);
      continue;
    }
    k_cache[slot * kv_dim + c] = k[idx];
    v_cache[slot * kv_dim + c] = v[idx];
  }
}

}  // namespace

cudaError_t embed(const void* table, WeightType type, const int32_t* ids, float* out, int64_t n_ids,
                  int64_t n_rows, int64_t dim, int* err, cudaStream_t stream) {
  if (n_ids < 0 || dim <= 0) return cudaErrorInvalidValue;
  if (n_ids == 0) return cudaSuccess;
  return launch_checked([&] {
    embed_kernel<<<grid_for(n_ids * dim), kThreads, 0, stream>>>(static_cast<const uint8_t*>(table), type, ids, out,
                                                                   n_ids, n_rows, dim, kErrEmbed, err);
  });
}

cudaError_t gather_rows(const float* x, const int32_t* rows, float* out, int64_t n_rows, int64_t n_src,
                        int64_t dim, int* err, cudaStream_t stream) {
  if (n_rows < 0 || dim <= 0) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  return launch_checked([&] {
    embed_kernel<<<grid_for(n_rows * dim), kThreads, 0, stream>>>(reinterpret_cast<const uint8_t*>(x),
                                                                    WeightType::kF32, rows, out, n_rows, n_src, dim,
                                                                    kErrGather, err);
  });
}

cudaError_t rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t dim, float eps,
                     cudaStream_t stream) {
  if (n_rows < 0 || n_rows > 0x7fffffff || dim <= 0) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  return launch_checked([&] {
    rms_norm_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(x, w, out, dim, eps);
  });
}

cudaError_t rope(float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens, int64_t n_heads,
                 int64_t head_dim, RopeLayout layout, float attn_factor, cudaStream_t stream) {
  if (n_tokens < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0) return cudaErrorInvalidValue;
  if (n_tokens == 0) return cudaSuccess;
  return launch_checked([&] {
    rope_kernel<<<grid_for(n_tokens * n_heads * head_dim / 2), kThreads, 0, stream>>>(
        x, pos, inv_freq, n_tokens, n_heads, head_dim, layout, attn_factor);
  });
}

cudaError_t silu_mul(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  return launch_checked([&] {
    silu_mul_kernel<<<grid_for(n), kThreads, 0, stream>>>(gate, up, out, n);
  });
}

cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n < 0) return cudaErrorInvalidValue;
  if (n == 0) return cudaSuccess;
  return launch_checked([&] {
    add_kernel<<<grid_for(n), kThreads, 0, stream>>>(x, y, n);
  });
}

cudaError_t add_bias(float* y, const float* bias, int64_t n_rows, int64_t m, cudaStream_t stream) {
  if (n_rows < 0 || m <= 0) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  return launch_checked([&] {
    add_bias_kernel<<<grid_for(n_rows * m), kThreads, 0, stream>>>(y, bias, n_rows, m);
  });
}

cudaError_t convert_rows(const float* x, void* out, float* scale, WeightType type, int64_t n_rows, int64_t cols,
                         cudaStream_t stream) {
  if (n_rows < 0 || n_rows > 0x7fffffff || cols <= 0) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  if (type == WeightType::kBF16) {
    return launch_checked([&] {
      to_bf16_kernel<<<grid_for(n_rows * cols), kThreads, 0, stream>>>(x, static_cast<__nv_bfloat16*>(out),
                                                                         n_rows * cols);
    });
  }
  if (type != WeightType::kF16) return cudaErrorInvalidValue;
  return launch_checked([&] {
    to_f16_scaled_kernel<<<static_cast<unsigned>(n_rows), kThreads, 0, stream>>>(x, static_cast<__half*>(out), scale,
                                                                                 cols);
  });
}

cudaError_t scale_rows(float* y, const float* scale, int64_t n_rows, int64_t m, cudaStream_t stream) {
  if (n_rows < 0 || m <= 0) return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  return launch_checked([&] {
    scale_rows_kernel<<<grid_for(n_rows * m), kThreads, 0, stream>>>(y, scale, n_rows, m);
  });
}

cudaError_t kv_store(const float* k, const float* v, const int32_t* slots, float* k_cache, float* v_cache,
                     int64_t n_tokens, int64_t kv_dim, int64_t n_slots, int* err, cudaStream_t stream) {
  if (n_tokens < 0 || kv_dim <= 0) return cudaErrorInvalidValue;
  if (n_tokens == 0) return cudaSuccess;
  return launch_checked([&] {
    kv_store_kernel<<<grid_for(n_tokens * kv_dim), kThreads, 0, stream>>>(k, v, slots, k_cache, v_cache, n_tokens,
                                                                          kv_dim, n_slots, err);
  });
}

}  // namespace sb::cuda
