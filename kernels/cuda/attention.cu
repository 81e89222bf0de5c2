// Paged causal attention for a ragged batch of query tokens (decode tokens,
// prefill chunks and speculative verification alike): one thread block per
// (token, head). Its warps take the sequence's keys in turn, each keeping an
// online softmax with head_dim spread over the lanes; the warps' partial
// results are merged at the end. A token's result depends only on its own
// sequence's cache, never on the rest of the batch.
#include <cmath>

#include "kernels/cuda/ops.h"
#include "kernels/cuda/weights.cuh"

namespace sb::cuda {

namespace {

constexpr int kWarps = 4;
constexpr int kPerLane = static_cast<int>(kMaxHeadDim / 32);  // head_dim elements per lane, at most

__global__ void __launch_bounds__(kWarps * 32) attention_kernel(AttentionArgs a, int* err) {
  __shared__ float sq[kMaxHeadDim];
  __shared__ float wm[kWarps], wl[kWarps];
  __shared__ float wacc[kWarps][kMaxHeadDim];

  const int64_t t = blockIdx.x / a.n_head, h = blockIdx.x % a.n_head;
  const int64_t kv_head = h / (a.n_head / a.n_kv_head);
  const int64_t hd = a.head_dim;
  float* out = a.out + (t * a.n_head + h) * hd;
  const int64_t seq = a.token_seq[t];
  const int64_t n_kv = static_cast<int64_t>(a.pos[t]) + 1;
  const int64_t lo = a.window > 0 && n_kv > a.window ? n_kv - a.window : 0;  // first visible position

  // Validate this token's plan (sequence, length, every block it reads) as a block.
  bool bad = seq < 0 || seq >= a.n_seqs || n_kv <= 0 || n_kv > a.max_blocks * a.block_size;
  const int32_t* table = a.block_tables + (bad ? 0 : seq) * a.max_blocks;
  if (!bad) {
    for (int64_t b = lo / a.block_size + threadIdx.x; b * a.block_size < n_kv; b += blockDim.x)
      if (table[b] < 0 || (static_cast<int64_t>(table[b]) + 1) * a.block_size > a.n_slots) bad = true;
  }
  if (__syncthreads_or(bad)) {
    for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) out[d] = 0.0f;
    if (threadIdx.x == 0 && h == 0) atomicOr(err, kErrAttention);
    return;
  }

  const float* q = a.q + (t * a.n_head + h) * hd;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) sq[d] = q[d];
  __syncthreads();

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t kv_stride = a.n_kv_head * hd;
  float acc[kPerLane];
  float qr[kPerLane];
#pragma unroll
  for (int r = 0; r < kPerLane; ++r) {
    const int64_t d = lane + 32 * r;
    acc[r] = 0.0f;
    qr[r] = d < hd ? sq[d] : 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t j = lo + warp; j < n_kv; j += kWarps) {
    const int64_t slot = static_cast<int64_t>(table[j / a.block_size]) * a.block_size + j % a.block_size;
    const float* k = a.k_cache + slot * kv_stride + kv_head * hd;
    const float* v = a.v_cache + slot * kv_stride + kv_head * hd;
    float part = 0.0f;
#pragma unroll
    for (int r = 0; r < kPerLane; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < hd) part += qr[r] * k[d];
    }
    float s = warp_sum(part) * a.scale;
    if (a.softcap > 0) s = a.softcap * tanhf(s / a.softcap);
    const float m_new = fmaxf(m, s);
    const float corr = expf(m - m_new);  // 0 for the warp's first key
    const float p = expf(s - m_new);
    l = l * corr + p;
#pragma unroll
    for (int r = 0; r < kPerLane; ++r) {
      const int64_t d = lane + 32 * r;
      if (d < hd) acc[r] = acc[r] * corr + p * v[d];
    }
    m = m_new;
  }
  if (lane == 0) {
    wm[warp] = m;
    wl[warp] = l;
  }
#pragma unroll
  for (int r = 0; r < kPerLane; ++r) {
    const int64_t d = lane + 32 * r;
    if (d < hd) wacc[warp][d] = acc[r];
  }
  __syncthreads();

  // Merge: warp 0 always holds key lo, so m_all is finite; idle warps weigh 0.
  float m_all = wm[0];
  for (int w = 1; w < kWarps; ++w) m_all = fmaxf(m_all, wm[w]);
  float weight[kWarps];
  float l_all = 0.0f;
  for (int w = 0; w < kWarps; ++w) {
    weight[w] = expf(wm[w] - m_all);
    l_all += wl[w] * weight[w];
  }
  const float inv = 1.0f / l_all;
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float o = 0.0f;
    for (int w = 0; w < kWarps; ++w) o += wacc[w][d] * weight[w];
    out[d] = o * inv;
  }
}

}  // namespace

cudaError_t attention(const AttentionArgs& a, int* err, cudaStream_t stream) {
  if (a.n_tokens < 0 || a.n_head <= 0 || a.n_kv_head <= 0 || a.n_head % a.n_kv_head != 0 || a.head_dim <= 0 ||
      a.head_dim > kMaxHeadDim || a.block_size <= 0 || a.max_blocks <= 0 || a.n_seqs < 0 ||
      a.n_tokens * a.n_head > 0x7fffffff)
    return cudaErrorInvalidValue;
  if (a.n_tokens == 0) return cudaSuccess;
  return launch_checked([&] {
    attention_kernel<<<static_cast<unsigned>(a.n_tokens * a.n_head), kWarps * 32, 0, stream>>>(a, err);
  });
}

}  // namespace sb::cuda
