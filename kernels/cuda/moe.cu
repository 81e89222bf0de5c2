// Mixture-of-experts kernels: routing (one thread per token), grouping (one
// block, one thread per expert, stable in (token, choice) order), a grouped
// matmul whose blocks each take one expert's rows against a tile of its
// output rows, and the weighted sum in choice order.
#include <cmath>

#include "kernels/cuda/moe.h"
#include "kernels/cuda/weights.cuh"

namespace sb::cuda {

namespace {

struct ExpertTable {
  const void* w[kMaxExperts];
};

__device__ inline float ordered(float v) { return isnan(v) ? -INFINITY : v; }

__device__ inline bool before(const float* l, int64_t a, int64_t b) {
  const float la = ordered(l[a]), lb = ordered(l[b]);
  return la > lb || (la == lb && a < b);
}

__global__ void route_kernel(const float* logits, int32_t* choice_expert, float* weights, int64_t n_tokens,
                             int64_t n_expert, int64_t n_used, bool norm_topk) {
  const int64_t t = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (t >= n_tokens) return;
  const float* l = logits + t * n_expert;
  int32_t* ce = choice_expert + t * n_used;
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
  for (int64_t e = 0; e < n_expert; ++e) all += exp(static_cast<double>(l[e]) - top);
  for (int64_t j = 0; j < n_used; ++j) chosen += exp(static_cast<double>(l[ce[j]]) - top);
  const double denom = norm_topk ? chosen : all;
  for (int64_t j = 0; j < n_used; ++j)
    weights[t * n_used + j] = static_cast<float>(exp(static_cast<double>(l[ce[j]]) - top) / denom);
}

// One block; thread e counts expert e's pairs, thread 0 turns counts into starts,
// then thread e places its pairs in pair order.
__global__ void group_kernel(const int32_t* choice_expert, int32_t* expert_rows, int32_t* row_token,
                             int32_t* choice_row, int64_t n_pairs, int64_t n_expert, int64_t n_used) {
  __shared__ int32_t start[kMaxExperts + 1];
  const int e = threadIdx.x;
  int32_t count = 0;
  if (e < n_expert)
    for (int64_t p = 0; p < n_pairs; ++p) count += choice_expert[p] == e;
  if (e < n_expert) start[e + 1] = count;
  __syncthreads();
  if (e == 0) {
    start[0] = 0;
    for (int64_t i = 0; i < n_expert; ++i) start[i + 1] += start[i];
  }
  __syncthreads();
  if (e <= n_expert) expert_rows[e] = start[e];
  if (e >= n_expert) return;
  int32_t r = start[e];
  for (int64_t p = 0; p < n_pairs; ++p) {
    if (choice_expert[p] != e) continue;
    row_token[r] = static_cast<int32_t>(p / n_used);
    choice_row[p] = r++;
  }
}

constexpr int kWarps = kThreads / 32;
constexpr int kRowsPerPass = 4;

// Block (x, e): warp w computes output column o = x * kWarps + w for every row
// of expert e, kRowsPerPass rows per pass over the weight row.
__global__ void grouped_matmul_kernel(const float* x, ExpertTable experts, WeightType type,
                                      const int32_t* expert_rows, float* y, int64_t n_rows, int64_t k, int64_t m) {
  const int64_t e = blockIdx.y;
  const int64_t o = blockIdx.x * int64_t{kWarps} + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t r0 = expert_rows[e], r1 = min(static_cast<int64_t>(expert_rows[e + 1]), n_rows);
  if (o >= m || r0 >= r1) return;
  const uint8_t* w = static_cast<const uint8_t*>(experts.w[e]) + o * weight_row_bytes(type, k);
  for (int64_t r = r0; r < r1; r += kRowsPerPass) {
    const int n = static_cast<int>(min(static_cast<int64_t>(kRowsPerPass), r1 - r));
    float acc[kRowsPerPass] = {};
    for (int64_t i = lane; i < k; i += 32) {
      const float wv = weight_elem(w, type, i);
      for (int q = 0; q < n; ++q) acc[q] += x[(r + q) * k + i] * wv;
    }
    for (int q = 0; q < n; ++q) {
      const float s = warp_sum(acc[q]);
      if (lane == 0) y[(r + q) * m + o] = s;
    }
  }
}

__global__ void combine_kernel(const float* y, const int32_t* choice_row, const float* weights, float* out,
                               int64_t n_tokens, int64_t n_used, int64_t dim) {
  const int64_t n = n_tokens * dim;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t t = i / dim, d = i % dim;
    float s = 0;
    for (int64_t j = 0; j < n_used; ++j)
      s = j == 0 ? weights[t * n_used] * y[choice_row[t * n_used] * dim + d]
                 : s + weights[t * n_used + j] * y[choice_row[t * n_used + j] * dim + d];
    out[i] = s;
  }
}

}  // namespace

cudaError_t moe_route(const float* logits, int32_t* choice_expert, float* weights, int32_t* expert_rows,
                      int32_t* row_token, int32_t* choice_row, int64_t n_tokens, int64_t n_expert, int64_t n_used,
                      bool norm_topk, cudaStream_t stream) {
  if (n_tokens < 0 || n_expert <= 0 || n_expert > kMaxExperts || n_used <= 0 || n_used > n_expert ||
      n_tokens * n_used > INT32_MAX)
    return cudaErrorInvalidValue;
  if (n_tokens > 0) {
    const cudaError_t e = launch_checked([&] {
      route_kernel<<<static_cast<unsigned>((n_tokens + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
          logits, choice_expert, weights, n_tokens, n_expert, n_used, norm_topk);
    });
    if (e != cudaSuccess) return e;
  }
  return launch_checked([&] {
    group_kernel<<<1, static_cast<unsigned>(n_expert + 1), 0, stream>>>(choice_expert, expert_rows, row_token,
                                                                         choice_row, n_tokens * n_used, n_expert,
                                                                         n_used);
  });
}

cudaError_t moe_matmul(const float* x, const void* const* experts, WeightType type, int64_t n_expert,
                       const int32_t* expert_rows, float* y, int64_t n_rows, int64_t k, int64_t m,
                       cudaStream_t stream) {
  if (n_expert <= 0 || n_expert > kMaxExperts || n_rows < 0 || k <= 0 || m <= 0 ||
      ((type == WeightType::kQ8_0 || type == WeightType::kQ4_0) && k % 32 != 0))
    return cudaErrorInvalidValue;
  if (n_rows == 0) return cudaSuccess;
  ExpertTable table{};
  for (int64_t e = 0; e < n_expert; ++e) table.w[e] = experts[e];
  const dim3 grid(static_cast<unsigned>((m + kWarps - 1) / kWarps), static_cast<unsigned>(n_expert));
  return launch_checked([&] {
    grouped_matmul_kernel<<<grid, kThreads, 0, stream>>>(x, table, type, expert_rows, y, n_rows, k, m);
  });
}

cudaError_t moe_combine(const float* y, const int32_t* choice_row, const float* weights, float* out,
                        int64_t n_tokens, int64_t n_used, int64_t dim, cudaStream_t stream) {
  if (n_tokens < 0 || n_used <= 0 || dim <= 0) return cudaErrorInvalidValue;
  if (n_tokens == 0) return cudaSuccess;
  return launch_checked([&] {
    combine_kernel<<<grid_for(n_tokens * dim), kThreads, 0, stream>>>(y, choice_row, weights, out, n_tokens,
                                                                      n_used, dim);
  });
}

}  // namespace sb::cuda
