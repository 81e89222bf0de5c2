// Batch-invariant matmul: y[t][o] = dot(x[t], w[o]) for a tile of tokens by a
// tile of output rows. Each dot accumulates in 16 independent lanes (lane l sums
// k = l, l+16, ... in order, FMA) and ends with one fixed horizontal sum; tiles
// of any shape run that same sequence per element, so results are bitwise equal
// for a row alone or in a batch, on any thread split.
#include <algorithm>
#include <cmath>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {

constexpr int kTileTokens = 4;
constexpr int kTileRows = 6;
// Below this many multiply-adds a task is not worth waking a thread for.
constexpr int64_t kMinTaskMacs = 48 * 1024;

// y[t][o] for t < TT tokens and o < TO rows, full k.
template <int TT, int TO>
void tile(const float* x, const float* w, const float* bias, float* y, int64_t k, int64_t m) {
  Lanes acc[TT][TO];
  for (int t = 0; t < TT; ++t)
    for (int o = 0; o < TO; ++o) acc[t][o] = lanes_zero();
  int64_t i = 0;
  for (; i + kLanes <= k; i += kLanes) {
    Lanes xv[TT];
    for (int t = 0; t < TT; ++t) xv[t] = lanes_load(x + t * k + i);
    for (int o = 0; o < TO; ++o) {
      const Lanes wv = lanes_load(w + o * k + i);
      for (int t = 0; t < TT; ++t) acc[t][o] = lanes_fma(xv[t], wv, acc[t][o]);
    }
  }
  if (i < k) {
    const int rest = static_cast<int>(k - i);
    Lanes xv[TT];
    for (int t = 0; t < TT; ++t) xv[t] = lanes_load_tail(x + t * k + i, rest);
    for (int o = 0; o < TO; ++o) {
      const Lanes wv = lanes_load_tail(w + o * k + i, rest);
      for (int t = 0; t < TT; ++t) acc[t][o] = lanes_fma(xv[t], wv, acc[t][o]);
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int o = 0; o < TO; ++o) {
      const float s = lanes_sum(acc[t][o]);
      y[t * m + o] = bias ? s + bias[o] : s;
    }
}

using TileFn = void (*)(const float*, const float*, const float*, float*, int64_t, int64_t);

template <int TT>
constexpr TileFn tile_for_rows(int rows) {
  switch (rows) {
    case 1: return tile<TT, 1>;
    case 2: return tile<TT, 2>;
    case 3: return tile<TT, 3>;
    case 4: return tile<TT, 4>;
    case 5: return tile<TT, 5>;
    default: return tile<TT, 6>;
  }
}

TileFn tile_for(int tokens, int rows) {
  switch (tokens) {
    case 1: return tile_for_rows<1>(rows);
    case 2: return tile_for_rows<2>(rows);
    case 3: return tile_for_rows<3>(rows);
    default: return tile_for_rows<4>(rows);
  }
}

// All tokens against output rows [o0, o1).
void matmul_rows(const float* x, const float* w, const float* bias, float* y, int64_t n, int64_t k,
                 int64_t m, int64_t o0, int64_t o1) {
  for (int64_t o = o0; o < o1; o += kTileRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kTileRows, o1 - o));
    for (int64_t t = 0; t < n; t += kTileTokens) {
      const int tokens = static_cast<int>(std::min<int64_t>(kTileTokens, n - t));
      tile_for(tokens, rows)(x + t * k, w + o * k, bias ? bias + o : nullptr, y + t * m + o, k, m);
    }
  }
}

}  // namespace

float dot(const float* a, const float* b, int64_t k) {
  float r;
  tile<1, 1>(a, b, nullptr, &r, k, 1);
  return r;
}

KernelStatus matmul(ThreadPool& pool, const float* x, const float* w, const float* bias, float* y,
                    int64_t n, int64_t k, int64_t m) {
  if (n < 0 || k <= 0 || m <= 0) return KernelStatus::kBadShape;
  if (n == 0) return KernelStatus::kOk;
  const int64_t row_tiles = (m + kTileRows - 1) / kTileRows;
  const int64_t by_work = std::max<int64_t>(1, n * m * k / kMinTaskMacs);
  const int64_t n_tasks = std::min(row_tiles, by_work);
  pool.run(n_tasks, [&](int64_t task) {
    const int64_t o0 = row_tiles * task / n_tasks * kTileRows;
    const int64_t o1 = std::min(m, row_tiles * (task + 1) / n_tasks * kTileRows);
    matmul_rows(x, w, bias, y, n, k, m, o0, o1);
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
