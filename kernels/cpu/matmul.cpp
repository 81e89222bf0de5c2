// The matmul driver: splits the output rows over the pool in whole tiles and
// runs one path's row kernel on each part; for quantized weights it first
// quantizes kMatmulChunk rows of activations at a time into the scratch. The
// kernels compute each y[t][o] by the same sequence whatever the split or the
// batch (kernel_table.h), so results are bitwise equal alone or batched, on
// any thread count.
#include <algorithm>

#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {

// Below this many multiply-adds a task is not worth waking a thread for.
constexpr int64_t kMinTaskMacs = 48 * 1024;
// At most this many tasks per thread: enough to balance uneven threads, few
// enough that each task's rows are many (a block of activations is reused
// across all of a task's rows while it sits in the cache).
constexpr int64_t kTasksPerThread = 4;
// Activation elements below which quantizing them stays on the calling thread.
constexpr int64_t kMinQuantizeElems = 32 * 1024;

int64_t padded_blocks(int64_t k) { return (k / 32 + 1) / 2 * 2; }

void run_rows(ThreadPool& pool, const KernelTable& kt, WeightFormat format, const TileArgs& a) {
  const int64_t tile = kt.tile_rows;
  const int64_t row_tiles = (a.m + tile - 1) / tile;
  const int64_t by_work = std::max<int64_t>(1, a.n * a.m * a.k / kMinTaskMacs);
  const int64_t n_tasks = std::min({row_tiles, by_work, kTasksPerThread * pool.n_threads()});
  const auto rows = kt.matmul_rows[static_cast<int>(format)];
  pool.run(n_tasks, [&](int64_t task) {
    const int64_t o0 = row_tiles * task / n_tasks * tile;
    const int64_t o1 = std::min(a.m, row_tiles * (task + 1) / n_tasks * tile);
    rows(a, o0, o1);
  });
}

}  // namespace

size_t matmul_scratch_bytes(WeightFormat format, int64_t k) {
  if (!is_quantized(format)) return 0;
  const size_t q_bytes = static_cast<size_t>(kMatmulChunk * padded_blocks(k) * 32);
  return q_bytes + static_cast<size_t>(kMatmulChunk * padded_blocks(k)) * sizeof(float);
}

KernelStatus matmul(ThreadPool& pool, const KernelTable& kernels, WeightFormat format, const float* x, const void* w,
                    const float* bias, float* y, int64_t n, int64_t k, int64_t m, void* scratch) {
  if (n < 0 || k <= 0 || m <= 0) return KernelStatus::kBadShape;
  if (is_quantized(format) && (k % 32 != 0 || scratch == nullptr)) return KernelStatus::kBadShape;
  if (n == 0) return KernelStatus::kOk;
  TileArgs a;
  a.w = w;
  a.bias = bias;
  a.k = k;
  a.m = m;
  if (!is_quantized(format)) {
    a.x = x;
    a.y = y;
    a.n = n;
    run_rows(pool, kernels, format, a);
    return KernelStatus::kOk;
  }
  Int8Rows xq;
  xq.n_blocks = k / 32;
  xq.stride_blocks = padded_blocks(k);
  xq.q = static_cast<int8_t*>(scratch);
  xq.d = reinterpret_cast<float*>(xq.q + kMatmulChunk * xq.stride_blocks * 32);
  a.xq = &xq;
  for (int64_t t0 = 0; t0 < n; t0 += kMatmulChunk) {
    const int64_t rows = std::min(kMatmulChunk, n - t0);
    const float* xc = x + t0 * k;
    const int64_t q_tasks = std::min(rows, std::max<int64_t>(1, rows * k / kMinQuantizeElems));
    pool.run(q_tasks, [&](int64_t task) {
      kernels.quantize_rows(xc, k, xq, rows * task / q_tasks, rows * (task + 1) / q_tasks);
    });
    a.y = y + t0 * m;
    a.n = rows;
    run_rows(pool, kernels, format, a);
  }
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
