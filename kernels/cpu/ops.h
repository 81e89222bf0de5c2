// CPU kernel launchers: plain functions over raw float/int32 pointers and sizes,
// run on a ThreadPool (and, where they vectorize, one path's KernelTable),
// returning KernelStatus (never throwing, never allocating).
// Every output element is computed by the same instruction sequence whatever
// the number of rows or threads, so a row's result never depends on its batch.
#pragma once

#include <cstdint>

#include "kernels/cpu/kernel_table.h"
#include "kernels/cpu/thread_pool.h"

namespace sb::cpu {

enum class KernelStatus { kOk, kBadShape };

// Pairs of dimensions RoPE rotates together.
enum class RopeLayout {
  kInterleaved,  // (2i, 2i+1)
  kHalf,         // (i, i + head_dim/2)
};

// y = x * w^T (+ bias) for w [m, k] stored in `format` (used in place), by
// one path's kernels: every path gives the same bits (kernel_table.h has the
// numerics), and y[t][o] never depends on n, m or the thread split.
// Quantized formats need k % 32 == 0 and `scratch`: matmul_scratch_bytes(format, k)
// bytes, 64-byte aligned, for the int8 activations (quantized kMatmulChunk rows
// at a time); float formats ignore it.
KernelStatus matmul(ThreadPool& pool, const KernelTable& kernels, WeightFormat format,
                    const float* x,     // [n, k]
                    const void* w,      // [m, k] in format
                    const float* bias,  // [m] or nullptr
                    float* y,           // [n, m]
                    int64_t n, int64_t k, int64_t m, void* scratch = nullptr);
constexpr int64_t kMatmulChunk = 64;
size_t matmul_scratch_bytes(WeightFormat format, int64_t k);

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w. out may alias x.
KernelStatus rms_norm(ThreadPool& pool, const KernelTable& kernels,
                      const float* x,  // [n_rows, dim]
                      const float* w,  // [dim]
                      float* out,      // [n_rows, dim]
                      int64_t n_rows, int64_t dim, float eps);

// Rotates every head of every token in place by angle pos * inv_freq[i] for
// pair i; cos and sin are scaled by attn_factor (YaRN; 1 otherwise).
KernelStatus rope(ThreadPool& pool,
                  float* x,                // [n_tokens, n_heads, head_dim]
                  const int32_t* pos,      // [n_tokens]
                  const float* inv_freq,   // [head_dim / 2]
                  int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                  RopeLayout layout, float attn_factor);

// out = gelu_tanh(gate) * up, elementwise (GELU, tanh approximation: Gemma's
// gated MLP). out may alias gate or up.
KernelStatus gelu_tanh_mul(ThreadPool& pool, const float* gate, const float* up, float* out, int64_t n);

// x = cap * tanh(x / cap), elementwise (Gemma's logit soft-capping).
KernelStatus softcap(ThreadPool& pool, float* x, float cap, int64_t n);

// x *= s, elementwise.
KernelStatus scale(ThreadPool& pool, float* x, float s, int64_t n);

// out = silu(gate) * up, elementwise. out may alias gate or up.
KernelStatus silu_mul(ThreadPool& pool, const float* gate, const float* up, float* out, int64_t n);

// x += y, elementwise.
KernelStatus add(ThreadPool& pool, float* x, const float* y, int64_t n);

// out[i] = table[ids[i]]; ids are checked against n_rows.
KernelStatus gather_rows(ThreadPool& pool,
                         const float* table,  // [n_rows, dim]
                         const int32_t* ids,  // [n_ids]
                         float* out,          // [n_ids, dim]
                         int64_t n_ids, int64_t n_rows, int64_t dim);

// Row r of out (stride dst_ld) = row r of x (stride src_ld), cols floats each.
KernelStatus copy_rows(ThreadPool& pool,
                       const float* x,  // [n_rows, src_ld]
                       float* out,      // [n_rows, dst_ld]
                       int64_t n_rows, int64_t cols, int64_t src_ld, int64_t dst_ld);

// gather_rows() from a weight table in any format, each row converted exactly
// to F32; dim must be a whole number of the format's blocks.
KernelStatus gather_weight_rows(ThreadPool& pool, WeightFormat format,
                                const void* table,   // [n_rows, dim] in format
                                const int32_t* ids,  // [n_ids]
                                float* out,          // [n_ids, dim]
                                int64_t n_ids, int64_t n_rows, int64_t dim);

// Writes each token's key and value into its cache slot (slot = block * block_size + offset).
KernelStatus kv_store(ThreadPool& pool,
                      const float* k,         // [n_tokens, kv_dim]
                      const float* v,         // [n_tokens, kv_dim]
                      const int32_t* slots,   // [n_tokens]
                      float* k_cache,         // [n_slots, kv_dim]
                      float* v_cache,         // [n_slots, kv_dim]
                      int64_t n_tokens, int64_t kv_dim, int64_t n_slots);

// Causal attention over a paged KV cache for a ragged batch of query tokens:
// token t (sequence token_seq[t], position pos[t]) attends to its sequence's
// cached positions 0..pos[t] (the last `window` of them when window > 0),
// found through that sequence's block table.
struct AttentionArgs {
  const float* q;             // [n_tokens, n_head, head_dim]
  const float* k_cache;       // [n_slots, n_kv_head, head_dim]
  const float* v_cache;       // [n_slots, n_kv_head, head_dim]
  const int32_t* pos;         // [n_tokens]
  const int32_t* token_seq;   // [n_tokens] row of block_tables
  const int32_t* block_tables;// [n_seqs, max_blocks]
  float* out;                 // [n_tokens, n_head, head_dim]
  int64_t n_tokens = 0;
  int64_t n_seqs = 0;
  int64_t n_head = 0;
  int64_t n_kv_head = 0;
  int64_t head_dim = 0;
  int64_t block_size = 0;
  int64_t max_blocks = 0;
  int64_t n_slots = 0;
  float scale = 1.0f;         // usually 1/sqrt(head_dim)
  int64_t window = 0;         // > 0: sliding window, positions pos-window+1..pos
  float softcap = 0.0f;       // > 0: scores become softcap * tanh(score / softcap)
};
// Limits of the attention kernel's stack buffers.
constexpr int64_t kMaxHeadDim = 512;
constexpr int64_t kMaxBlockSize = 256;
KernelStatus attention(ThreadPool& pool, const KernelTable& kernels, const AttentionArgs& a);

}  // namespace sb::cpu
