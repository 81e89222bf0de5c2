// Paged causal attention on the CPU: one task per (token, head) range; each
// (token, head) walks its sequence's visible blocks in order with an online softmax
// rescaled once per block, so its result depends only on its own sequence.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {

constexpr int64_t kMinTaskMacs = 16 * 1024;

// First position a query at `pos` sees: all of them, or the last `window` (sliding-window attention).
int64_t first_visible(const AttentionArgs& a, int64_t pos) {
  return a.window > 0 ? std::max<int64_t>(0, pos + 1 - a.window) : 0;
}

// out[d] for one query head over cached positions lo..n_kv-1.
void attend_one(const AttentionArgs& a, const float* q, const int32_t* table, int64_t lo, int64_t n_kv,
                int64_t kv_head, float* out) {
  const int64_t hd = a.head_dim;
  const int64_t kv_stride = a.n_kv_head * hd;
  float acc[kMaxHeadDim];
  float s[kMaxBlockSize];
  std::fill(acc, acc + hd, 0.0f);
  float m = -std::numeric_limits<float>::infinity();
  float l = 0.0f;
  for (int64_t b = lo / a.block_size; b * a.block_size < n_kv; ++b) {
    const int64_t base = static_cast<int64_t>(table[b]) * a.block_size;
    const int64_t j0 = std::max<int64_t>(0, lo - b * a.block_size);
    const int64_t cnt = std::min(a.block_size, n_kv - b * a.block_size);
    float m_blk = -std::numeric_limits<float>::infinity();
    for (int64_t j = j0; j < cnt; ++j) {
      s[j] = dot(q, a.k_cache + (base + j) * kv_stride + kv_head * hd, hd) * a.scale;
      if (a.softcap > 0) s[j] = a.softcap * std::tanh(s[j] / a.softcap);
      m_blk = std::max(m_blk, s[j]);
    }
    const float m_new = std::max(m, m_blk);
    const float corr = std::exp(m - m_new);  // 0 on the first block
    l *= corr;
    for (int64_t d = 0; d < hd; ++d) acc[d] *= corr;
    for (int64_t j = j0; j < cnt; ++j) {
      const float p = std::exp(s[j] - m_new);
      l += p;
      const float* v = a.v_cache + (base + j) * kv_stride + kv_head * hd;
      for (int64_t d = 0; d < hd; ++d) acc[d] += p * v[d];
    }
    m = m_new;
  }
  const float inv = 1.0f / l;
  for (int64_t d = 0; d < hd; ++d) out[d] = acc[d] * inv;
}

}  // namespace

KernelStatus attention(ThreadPool& pool, const AttentionArgs& a) {
  if (a.n_tokens < 0 || a.n_head <= 0 || a.n_kv_head <= 0 || a.n_head % a.n_kv_head != 0 || a.head_dim <= 0 ||
      a.head_dim > kMaxHeadDim || a.block_size <= 0 || a.block_size > kMaxBlockSize || a.max_blocks <= 0)
    return KernelStatus::kBadShape;
  // Validate the plan up front: positions within the table, blocks within the cache.
  int64_t work = 0;
  for (int64_t t = 0; t < a.n_tokens; ++t) {
    const int64_t seq = a.token_seq[t];
    const int64_t n_kv = static_cast<int64_t>(a.pos[t]) + 1;
    if (seq < 0 || seq >= a.n_seqs || n_kv <= 0 || n_kv > a.max_blocks * a.block_size)
      return KernelStatus::kBadShape;
    const int32_t* table = a.block_tables + seq * a.max_blocks;
    for (int64_t b = first_visible(a, n_kv - 1) / a.block_size; b * a.block_size < n_kv; ++b)
      if (table[b] < 0 || (static_cast<int64_t>(table[b]) + 1) * a.block_size > a.n_slots)
        return KernelStatus::kBadShape;
    work += (n_kv - first_visible(a, n_kv - 1)) * a.head_dim * a.n_head * 2;
  }
  const int64_t n_items = a.n_tokens * a.n_head;
  const int64_t n_tasks = std::min(n_items, std::max<int64_t>(1, work / kMinTaskMacs));
  const int64_t group = a.n_head / a.n_kv_head;
  pool.run(n_tasks, [&](int64_t task) {
    for (int64_t it = n_items * task / n_tasks; it < n_items * (task + 1) / n_tasks; ++it) {
      const int64_t t = it / a.n_head, h = it % a.n_head;
      const int32_t* table = a.block_tables + a.token_seq[t] * a.max_blocks;
      attend_one(a, a.q + (t * a.n_head + h) * a.head_dim, table, first_visible(a, a.pos[t]),
                 static_cast<int64_t>(a.pos[t]) + 1, h / group, a.out + (t * a.n_head + h) * a.head_dim);
    }
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
