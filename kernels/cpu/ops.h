// CPU kernel launchers: plain functions over raw float/int32 pointers and sizes,
// run on a ThreadPool, returning KernelStatus (never throwing, never allocating).
// Every output element is computed by the same instruction sequence whatever
// the number of rows or threads, so a row's result never depends on its batch.
#pragma once

#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace sb::cpu {

enum class KernelStatus { kOk, kBadShape };

// Pairs of dimensions RoPE rotates together.
enum class RopeLayout {
  kInterleaved,  // (2i, 2i+1)
  kHalf,         // (i, i + head_dim/2)
};

// y = x * w^T (+ bias). Each y[t][o] is one dot product over k, accumulated in
// 16 lanes in k order and summed by a fixed tree: independent of n and m.
KernelStatus matmul(ThreadPool& pool,
                    const float* x,     // [n, k]
                    const float* w,     // [m, k]
                    const float* bias,  // [m] or nullptr
                    float* y,           // [n, m]
                    int64_t n, int64_t k, int64_t m);

// The dot product matmul uses, exposed for attention and for tests.
float dot(const float* a, const float* b, int64_t k);

// GGML block layouts of quantized weights: rows of k / 32 blocks, each an f16
// scale d then 32 quants; weight j of a block is d * q[j].
enum class QuantFormat {
  kQ8_0,  // 34 bytes: d, int8 q[32]
  kQ4_0,  // 18 bytes: d, 16 bytes whose low nibbles are q[0..15] and high nibbles q[16..31], each minus 8
};

// y = x * w^T (+ bias) for a quantized w; k must be a multiple of 32. Weights
// are dequantized exactly in registers and x stays F32, so each y[t][o] runs
// the same 16-lane FMA sequence and tree as matmul() over the dequantized
// weights: independent of n, m and threads.
KernelStatus matmul_quant(ThreadPool& pool, QuantFormat format,
                          const float* x,     // [n, k]
                          const void* w,      // [m, k] in blocks
                          const float* bias,  // [m] or nullptr
                          float* y,           // [n, m]
                          int64_t n, int64_t k, int64_t m);

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w. out may alias x.
KernelStatus rms_norm(ThreadPool& pool,
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

// gather_rows() from a quantized table, dequantizing each row; dim must be a
// multiple of 32.
KernelStatus gather_rows_quant(ThreadPool& pool, QuantFormat format,
                               const void* table,   // [n_rows, dim] in blocks
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
KernelStatus attention(ThreadPool& pool, const AttentionArgs& a);

}  // namespace sb::cpu
