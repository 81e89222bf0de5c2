// Row-wise and elementwise CPU kernels: RMSNorm, RoPE, SwiGLU, residual add,
// row gather, KV-cache store. Each output depends only on its own row's inputs.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {
// Elements below which a kernel runs on the calling thread only.
constexpr int64_t kMinTaskElems = 32 * 1024;

// Calls fn(r0, r1) over [0, n_rows) in chunks of at least kMinTaskElems elements.
template <typename F>
void for_rows(ThreadPool& pool, int64_t n_rows, int64_t row_elems, F&& fn) {
  const int64_t by_work = std::max<int64_t>(1, n_rows * row_elems / kMinTaskElems);
  const int64_t n_tasks = std::min(n_rows, by_work);
  pool.run(n_tasks, [&](int64_t task) { fn(n_rows * task / n_tasks, n_rows * (task + 1) / n_tasks); });
}
}  // namespace

KernelStatus rms_norm(ThreadPool& pool, const KernelTable& kernels, const float* x, const float* w, float* out,
                      int64_t n_rows, int64_t dim, float eps) {
  if (n_rows < 0 || dim <= 0) return KernelStatus::kBadShape;
  for_rows(pool, n_rows, dim, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * dim;
      float* yr = out + r * dim;
      const float ss = kernels.dot(xr, xr, dim);
      const float inv = 1.0f / std::sqrt(ss / static_cast<float>(dim) + eps);
      for (int64_t i = 0; i < dim; ++i) yr[i] = xr[i] * inv * w[i];
    }
  });
  return KernelStatus::kOk;
}

KernelStatus rope(ThreadPool& pool, float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens,
                  int64_t n_heads, int64_t head_dim, RopeLayout layout, float attn_factor) {
  if (n_tokens < 0 || n_heads <= 0 || head_dim <= 0 || head_dim % 2 != 0 || head_dim > kMaxHeadDim)
    return KernelStatus::kBadShape;
  const int64_t half = head_dim / 2;
  // Pair i is (i * a, i * a + b): interleaved a=2, b=1; half a=1, b=half.
  const int64_t a = layout == RopeLayout::kInterleaved ? 2 : 1;
  const int64_t b = layout == RopeLayout::kInterleaved ? 1 : half;
  for_rows(pool, n_tokens, n_heads * head_dim, [&](int64_t t0, int64_t t1) {
    float cs[kMaxHeadDim / 2], sn[kMaxHeadDim / 2];
    for (int64_t t = t0; t < t1; ++t) {
      for (int64_t i = 0; i < half; ++i) {
        const double angle = static_cast<double>(pos[t]) * static_cast<double>(inv_freq[i]);
        cs[i] = static_cast<float>(std::cos(angle)) * attn_factor;
        sn[i] = static_cast<float>(std::sin(angle)) * attn_factor;
      }
      for (int64_t h = 0; h < n_heads; ++h) {
        float* xh = x + (t * n_heads + h) * head_dim;
        for (int64_t i = 0; i < half; ++i) {
          const float x0 = xh[i * a], x1 = xh[i * a + b];
          xh[i * a] = x0 * cs[i] - x1 * sn[i];
          xh[i * a + b] = x0 * sn[i] + x1 * cs[i];
        }
      }
    }
  });
  return KernelStatus::kOk;
}

KernelStatus silu_mul(ThreadPool& pool, const float* gate, const float* up, float* out, int64_t n) {
  if (n < 0) return KernelStatus::kBadShape;
  for_rows(pool, n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float g = gate[i];
      out[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
  });
  return KernelStatus::kOk;
}

KernelStatus add(ThreadPool& pool, float* x, const float* y, int64_t n) {
  if (n < 0) return KernelStatus::kBadShape;
  for_rows(pool, n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) x[i] += y[i];
  });
  return KernelStatus::kOk;
}

KernelStatus gather_rows(ThreadPool& pool, const float* table, const int32_t* ids, float* out, int64_t n_ids,
                         int64_t n_rows, int64_t dim) {
  if (n_ids < 0 || dim <= 0) return KernelStatus::kBadShape;
  for (int64_t i = 0; i < n_ids; ++i)
    if (ids[i] < 0 || ids[i] >= n_rows) return KernelStatus::kBadShape;
  for_rows(pool, n_ids, dim, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      std::memcpy(out + i * dim, table + static_cast<int64_t>(ids[i]) * dim, static_cast<size_t>(dim) * 4);
  });
  return KernelStatus::kOk;
}

KernelStatus copy_rows(ThreadPool& pool, const float* x, float* out, int64_t n_rows, int64_t cols, int64_t src_ld,
                       int64_t dst_ld) {
  if (n_rows < 0 || cols <= 0 || src_ld < cols || dst_ld < cols) return KernelStatus::kBadShape;
  for_rows(pool, n_rows, cols, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(out + r * dst_ld, x + r * src_ld, static_cast<size_t>(cols) * 4);
  });
  return KernelStatus::kOk;
}

KernelStatus kv_store(ThreadPool& pool, const float* k, const float* v, const int32_t* slots, float* k_cache,
                      float* v_cache, int64_t n_tokens, int64_t kv_dim, int64_t n_slots) {
  if (n_tokens < 0 || kv_dim <= 0) return KernelStatus::kBadShape;
  for (int64_t t = 0; t < n_tokens; ++t)
    if (slots[t] < 0 || slots[t] >= n_slots) return KernelStatus::kBadShape;
  const size_t bytes = static_cast<size_t>(kv_dim) * 4;
  for_rows(pool, n_tokens, 2 * kv_dim, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      std::memcpy(k_cache + static_cast<int64_t>(slots[t]) * kv_dim, k + t * kv_dim, bytes);
      std::memcpy(v_cache + static_cast<int64_t>(slots[t]) * kv_dim, v + t * kv_dim, bytes);
    }
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
