// Embedding lookups from weight tables in any stored format: each row chosen
// is converted exactly to F32 (F16/BF16 widened, Q8_0/Q4_0 blocks as d * q,
// an f16 times a small integer, exact in float). Plain scalar code: a lookup
// reads a few rows per token.
#include <algorithm>
#include <bit>
#include <cstring>

#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {

float f16_value(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return static_cast<float>(std::bit_cast<_Float16>(h));
}

void convert_row(WeightFormat format, const uint8_t* row, float* out, int64_t dim) {
  switch (format) {
    case WeightFormat::kF32:
      std::memcpy(out, row, static_cast<size_t>(dim) * sizeof(float));
      return;
    case WeightFormat::kF16:
      for (int64_t i = 0; i < dim; ++i) out[i] = f16_value(row + 2 * i);
      return;
    case WeightFormat::kBF16:
      for (int64_t i = 0; i < dim; ++i) {
        uint16_t b;
        std::memcpy(&b, row + 2 * i, 2);
        out[i] = std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
      }
      return;
    case WeightFormat::kQ8_0:
    case WeightFormat::kQ4_0:
      for (int64_t i = 0; i < dim; i += 32, row += format_block_bytes(format), out += 32) {
        const float d = f16_value(row);
        const uint8_t* q = row + 2;
        for (int j = 0; j < 16; ++j) {
          if (format == WeightFormat::kQ8_0) {
            out[j] = d * static_cast<float>(static_cast<int8_t>(q[j]));
            out[j + 16] = d * static_cast<float>(static_cast<int8_t>(q[j + 16]));
          } else {
            out[j] = d * static_cast<float>((q[j] & 0x0f) - 8);
            out[j + 16] = d * static_cast<float>((q[j] >> 4) - 8);
          }
        }
      }
      return;
  }
}

}  // namespace

KernelStatus gather_weight_rows(ThreadPool& pool, WeightFormat format, const void* table, const int32_t* ids,
                                float* out, int64_t n_ids, int64_t n_rows, int64_t dim) {
  if (n_ids < 0 || dim <= 0 || dim % format_block_elems(format) != 0) return KernelStatus::kBadShape;
  for (int64_t i = 0; i < n_ids; ++i)
    if (ids[i] < 0 || ids[i] >= n_rows) return KernelStatus::kBadShape;
  const size_t row_bytes = format_row_bytes(format, dim);
  const auto* base = static_cast<const uint8_t*>(table);
  const int64_t n_tasks = std::min<int64_t>(n_ids, pool.n_threads());
  pool.run(n_tasks, [&](int64_t task) {
    for (int64_t i = n_ids * task / n_tasks; i < n_ids * (task + 1) / n_tasks; ++i)
      convert_row(format, base + static_cast<size_t>(ids[i]) * row_bytes, out + i * dim, dim);
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
