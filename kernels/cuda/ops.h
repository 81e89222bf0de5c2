// CUDA kernel launchers: plain functions over raw device pointers, sizes and a
// stream; they include no core/ header, never allocate or synchronise, and
// return the launch error. Kernels that read indices (ids, slots, positions,
// block tables) skip out-of-range ones, zero what they would have written, and
// set their KernelError bit in *err (device memory) for the adapter to report.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace sb::cuda {

// Storage of a weight on the device, row-major [rows, cols].
enum class WeightType : int {
  kF32,
  kF16,
  kBF16,
  kQ8_0,  // per 32 elements: f16 scale, 32 x int8 (34 bytes)
  kQ4_0,  // per 32 elements: f16 scale, 16 bytes of nibbles, low nibbles first (18 bytes)
};

// Bits of the device error word.
enum KernelError : int {
  kErrEmbed = 1,
  kErrGather = 2,
  kErrKvStore = 4,
  kErrAttention = 8,
};

// Pairs of dimensions RoPE rotates together.
enum class RopeLayout {
  kInterleaved,  // (2i, 2i+1)
  kHalf,         // (i, i + head_dim/2)
};

// Limit of the attention kernel's per-lane registers and shared memory.
constexpr int64_t kMaxHeadDim = 512;

// out[i] = table[ids[i]] converted to float.      table: [n_rows, dim], out: [n_ids, dim]
cudaError_t embed(const void* table, WeightType type, const int32_t* ids, float* out, int64_t n_ids,
                  int64_t n_rows, int64_t dim, int* err, cudaStream_t stream);

// out[i] = x[rows[i]].                             x: [n_src, dim], out: [n_rows, dim]
cudaError_t gather_rows(const float* x, const int32_t* rows, float* out, int64_t n_rows, int64_t n_src,
                        int64_t dim, int* err, cudaStream_t stream);

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w; out may alias x.   x, out: [n_rows, dim], w: [dim]
cudaError_t rms_norm(const float* x, const float* w, float* out, int64_t n_rows, int64_t dim, float eps,
                     cudaStream_t stream);

// In-place rotation of pair i of every head by pos[t] * inv_freq[i] (angle in
// double, as the CPU does); cos and sin scaled by attn_factor.  x: [n_tokens, n_heads, head_dim]
cudaError_t rope(float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens, int64_t n_heads,
                 int64_t head_dim, RopeLayout layout, float attn_factor, cudaStream_t stream);

// out = silu(gate) * up; out may alias gate or up.
cudaError_t silu_mul(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream);

// out = gelu_tanh(gate) * up (GELU, tanh approximation); out may alias gate or up.
cudaError_t gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n, cudaStream_t stream);

// x = cap * tanh(x / cap), cap > 0 (logit soft-capping).
cudaError_t softcap(float* x, float cap, int64_t n, cudaStream_t stream);

// x *= s
cudaError_t scale(float* x, float s, int64_t n, cudaStream_t stream);

// x += y
cudaError_t add(float* x, const float* y, int64_t n, cudaStream_t stream);

// y[r] += bias for each of n_rows rows.           y: [n_rows, m], bias: [m]
cudaError_t add_bias(float* y, const float* bias, int64_t n_rows, int64_t m, cudaStream_t stream);

// Converts rows of x for cuBLAS (round to nearest even). BF16 keeps F32's range:
// rows are converted as they are and `scale` is not written. F16 overflows past
// 65504 (activations of Llama/Qwen models reach 1e3-1e5): each row is multiplied
// by 2^-e, e >= 0 the smallest that keeps its largest magnitude within 2^15, and
// scale[r] = 2^e is what row r of the GEMM's output must be multiplied by
// (scale_rows). Powers of two are exact, so only F16's own rounding remains.
//   x: [n_rows, cols], out: [n_rows, cols] F16/BF16, scale: [n_rows]
cudaError_t convert_rows(const float* x, void* out, float* scale, WeightType type, int64_t n_rows, int64_t cols,
                         cudaStream_t stream);

// y[r] *= scale[r] for each of n_rows rows.        y: [n_rows, m], scale: [n_rows]
cudaError_t scale_rows(float* y, const float* scale, int64_t n_rows, int64_t m, cudaStream_t stream);

// Writes each token's K and V row at its cache slot.  k, v: [n_tokens, kv_dim], caches: [n_slots, kv_dim]
cudaError_t kv_store(const float* k, const float* v, const int32_t* slots, float* k_cache, float* v_cache,
                     int64_t n_tokens, int64_t kv_dim, int64_t n_slots, int* err, cudaStream_t stream);

// y = x * w^T for Q8_0 / Q4_0 weights (cols a multiple of 32).  x: [n, k], w: [m, k], y: [n, m]
cudaError_t quant_matmul(const float* x, const void* w, WeightType type, float* y, int64_t n, int64_t k,
                         int64_t m, cudaStream_t stream);

// Causal attention over the paged KV cache for a ragged batch of query tokens:
// token t (block table row token_seq[t], position pos[t]) attends to cached
// positions 0..pos[t] (pos[t]-window+1..pos[t] when window > 0; scores soft-capped
// as softcap * tanh(s / softcap) when softcap > 0); slot of position p is table[p / block_size] * block_size + p % block_size.
struct AttentionArgs {
  const float* q;               // [n_tokens, n_head, head_dim]
  const float* k_cache;         // [n_slots, n_kv_head, head_dim]
  const float* v_cache;         // [n_slots, n_kv_head, head_dim]
  const int32_t* pos;           // [n_tokens]
  const int32_t* token_seq;     // [n_tokens]
  const int32_t* block_tables;  // [n_seqs, max_blocks]
  float* out;                   // [n_tokens, n_head, head_dim]
  int64_t n_tokens;
  int64_t n_seqs;
  int64_t n_head;
  int64_t n_kv_head;
  int64_t head_dim;
  int64_t block_size;
  int64_t max_blocks;
  int64_t n_slots;
  float scale;
  int64_t window;
  float softcap;
};
cudaError_t attention(const AttentionArgs& a, int* err, cudaStream_t stream);

}  // namespace sb::cuda
