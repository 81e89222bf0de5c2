// CUDA kernels of the mixture-of-experts MLP (Qwen3-MoE), the same contracts
// as the CPU's (kernels/cpu/moe.h): routing grouped by expert, the grouped
// experts' matmuls and the weighted sum. Everything stays on the device: the
// grouped matmul reads the expert row ranges there, so a step needs no sync.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/ops.h"

namespace sb::cuda {

// Experts one grouped matmul can take (their weight pointers travel as a kernel argument).
constexpr int64_t kMaxExperts = 256;

// Routing and grouping as sb::cpu::moe_route describes (ties to the lower
// expert index, weights in double); n_expert <= kMaxExperts.
cudaError_t moe_route(const float* logits, int32_t* choice_expert, float* weights, int32_t* expert_rows,
                      int32_t* row_token, int32_t* choice_row, int64_t n_tokens, int64_t n_expert, int64_t n_used,
                      bool norm_topk, cudaStream_t stream);

// Rows expert_rows[e] .. expert_rows[e+1]-1 of y [n_rows, m] = those rows of x
// [n_rows, k] times experts[e]^T ([m, k] each, all of one type); experts
// without rows are not read.                        experts: host array [n_expert]
cudaError_t moe_matmul(const float* x, const void* const* experts, WeightType type, int64_t n_expert,
                       const int32_t* expert_rows, float* y, int64_t n_rows, int64_t k, int64_t m,
                       cudaStream_t stream);

// out[t] = sum over j (in order) of weights[t, j] * y[choice_row[t, j]].
cudaError_t moe_combine(const float* y, const int32_t* choice_row, const float* weights, float* out,
                        int64_t n_tokens, int64_t n_used, int64_t dim, cudaStream_t stream);

}  // namespace sb::cuda
