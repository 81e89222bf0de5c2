// Mixture-of-experts routing and combining on the CPU. A token's choices and
// weights depend on its own logits alone, and its output sums its experts in
// choice order, so results are bitwise the same however tokens are grouped.
#include "kernels/cpu/moe.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sb::cpu {

namespace {

float ordered(float v) { return std::isnan(v) ? -std::numeric_limits<float>::infinity() : v; }

// Whether expert a comes before expert b: the larger logit, then the lower index.
bool before(const float* l, int64_t a, int64_t b) {
  const float la = ordered(l[a]), lb = ordered(l[b]);
  return la > lb || (la == lb && a < b);
}

// Token t's choices (each the first expert, in the order above, after the previous one) and weights.
void route_token(const float* l, int32_t* ce, float* w, int64_t n_expert, int64_t n_used, bool norm_topk) {
  for (int64_t j = 0; j < n_used; ++j) {
    int64_t best = -1;
    for (int64_t e = 0; e < n_expert; ++e) {
      if (j > 0 && !before(l, ce[j - 1], e)) continue;
      if (best < 0 || before(l, e, best)) best = e;
    }
    ce[j] = static_cast<int32_t>(best);
  }
  const double top = ordered(l[ce[0]]);
  double all = 0, chosen = 0;
  for (int64_t e = 0; e < n_expert; ++e) all += std::exp(static_cast<double>(l[e]) - top);
  for (int64_t j = 0; j < n_used; ++j) chosen += std::exp(static_cast<double>(l[ce[j]]) - top);
  const double denom = norm_topk ? chosen : all;
  for (int64_t j = 0; j < n_used; ++j) w[j] = static_cast<float>(std::exp(static_cast<double>(l[ce[j]]) - top) / denom);
}

}  // namespace

KernelStatus moe_route(ThreadPool& pool, const float* logits, int32_t* choice_expert, float* weights,
                       int32_t* expert_rows, int32_t* row_token, int32_t* choice_row, int64_t n_tokens,
                       int64_t n_expert, int64_t n_used, bool norm_topk) {
  if (n_tokens < 0 || n_expert <= 0 || n_used <= 0 || n_used > n_expert ||
      n_tokens * n_used > std::numeric_limits<int32_t>::max())
    return KernelStatus::kBadShape;
  const int64_t n_tasks = std::min<int64_t>(n_tokens, pool.n_threads());
  pool.run(n_tasks, [&](int64_t task) {
    for (int64_t t = n_tokens * task / n_tasks; t < n_tokens * (task + 1) / n_tasks; ++t)
      route_token(logits + t * n_expert, choice_expert + t * n_used, weights + t * n_used, n_expert, n_used,
                  norm_topk);
  });
  // Counting sort of the pairs by expert: counts, starts, then each pair at its
  // expert's cursor (which leaves expert_rows[e] at the end of e), shifted back.
  const int64_t n_pairs = n_tokens * n_used;
  std::fill(expert_rows, expert_rows + n_expert + 1, 0);
  for (int64_t p = 0; p < n_pairs; ++p) ++expert_rows[choice_expert[p] + 1];
  for (int64_t e = 0; e < n_expert; ++e) expert_rows[e + 1] += expert_rows[e];
  for (int64_t p = 0; p < n_pairs; ++p) {
    const int32_t r = expert_rows[choice_expert[p]]++;
    row_token[r] = static_cast<int32_t>(p / n_used);
    choice_row[p] = r;
  }
  for (int64_t e = n_expert; e > 0; --e) expert_rows[e] = expert_rows[e - 1];
  expert_rows[0] = 0;
  return KernelStatus::kOk;
}

KernelStatus moe_combine(ThreadPool& pool, const float* y, const int32_t* choice_row, const float* weights,
                         float* out, int64_t n_tokens, int64_t n_used, int64_t dim) {
  if (n_tokens < 0 || n_used <= 0 || dim <= 0) return KernelStatus::kBadShape;
  const int64_t n_rows = n_tokens * n_used;
  for (int64_t p = 0; p < n_rows; ++p)
    if (choice_row[p] < 0 || choice_row[p] >= n_rows) return KernelStatus::kBadShape;
  const int64_t n_tasks = std::min<int64_t>(n_tokens, pool.n_threads());
  pool.run(n_tasks, [&](int64_t task) {
    for (int64_t t = n_tokens * task / n_tasks; t < n_tokens * (task + 1) / n_tasks; ++t) {
      float* o = out + t * dim;
      for (int64_t j = 0; j < n_used; ++j) {
        const float w = weights[t * n_used + j];
        const float* src = y + static_cast<int64_t>(choice_row[t * n_used + j]) * dim;
        if (j == 0) {
          for (int64_t d = 0; d < dim; ++d) o[d] = w * src[d];
        } else {
          for (int64_t d = 0; d < dim; ++d) o[d] += w * src[d];
        }
      }
    }
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
