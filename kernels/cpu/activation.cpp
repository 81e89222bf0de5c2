// Elementwise CPU kernels of the Gemma family: the GELU-tanh gated MLP, logit
// soft-capping and scaling. Each element depends only on its own inputs.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {

constexpr int64_t kMinTaskElems = 32 * 1024;

// Calls fn(i0, i1) over [0, n) in chunks of at least kMinTaskElems elements.
template <typename F>
void for_elems(ThreadPool& pool, int64_t n, F&& fn) {
  const int64_t n_tasks = std::max<int64_t>(1, std::min(n, n / kMinTaskElems));
  pool.run(n_tasks, [&](int64_t task) { fn(n * task / n_tasks, n * (task + 1) / n_tasks); });
}

}  // namespace

KernelStatus gelu_tanh_mul(ThreadPool& pool, const float* gate, const float* up, float* out, int64_t n) {
  if (n < 0) return KernelStatus::kBadShape;
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for_elems(pool, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float g = gate[i];
      out[i] = 0.5f * g * (1.0f + std::tanh(kSqrt2OverPi * (g + 0.044715f * g * g * g))) * up[i];
    }
  });
  return KernelStatus::kOk;
}

KernelStatus softcap(ThreadPool& pool, float* x, float cap, int64_t n) {
  if (n < 0 || !(cap > 0)) return KernelStatus::kBadShape;
  for_elems(pool, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) x[i] = cap * std::tanh(x[i] / cap);
  });
  return KernelStatus::kOk;
}

KernelStatus scale(ThreadPool& pool, float* x, float s, int64_t n) {
  if (n < 0) return KernelStatus::kBadShape;
  for_elems(pool, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) x[i] *= s;
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
