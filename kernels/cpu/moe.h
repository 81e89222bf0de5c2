// CPU kernels of the mixture-of-experts MLP (Qwen3-MoE): routing with grouping
// by expert, and the weighted sum of each token's expert outputs. The experts'
// matmuls themselves are matmul() / matmul_quant() over each expert's rows.
// Plain launchers over raw pointers; they never allocate.
#pragma once

#include <cstdint>

#include "kernels/cpu/ops.h"

namespace sb::cpu {

// Per token: the n_used largest router logits, in descending order, ties to
// the lower expert index (NaN counts as -infinity); their softmax weights over
// all n_expert logits (in double), renormalised over the chosen when norm_topk.
// Then the (token, choice) pairs grouped by expert, stable in (token, choice)
// order: expert e owns grouped rows expert_rows[e] .. expert_rows[e+1]-1,
// row_token[r] is grouped row r's token, choice_row[t * n_used + j] the grouped
// row of choice j of token t.
KernelStatus moe_route(ThreadPool& pool,
                       const float* logits,     // [n_tokens, n_expert]
                       int32_t* choice_expert,  // [n_tokens, n_used]
                       float* weights,          // [n_tokens, n_used]
                       int32_t* expert_rows,    // [n_expert + 1]
                       int32_t* row_token,      // [n_tokens * n_used]
                       int32_t* choice_row,     // [n_tokens * n_used]
                       int64_t n_tokens, int64_t n_expert, int64_t n_used, bool norm_topk);

// out[t] = sum over j = 0..n_used-1, in that order, of weights[t, j] * y[choice_row[t, j]];
// rows are checked against n_tokens * n_used.
KernelStatus moe_combine(ThreadPool& pool,
                         const float* y,            // [n_tokens * n_used, dim]
                         const int32_t* choice_row, // [n_tokens, n_used]
                         const float* weights,      // [n_tokens, n_used]
                         float* out,                // [n_tokens, dim]
                         int64_t n_tokens, int64_t n_used, int64_t dim);

}  // namespace sb::cpu
