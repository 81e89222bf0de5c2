// Kernels over Q8_0 / Q4_0 weights kept in their GGML block layout. A block is
// decoded in registers into two 16-lane vectors (elements 0..15 and 16..31),
// each value exactly d * q (an f16 times a small integer is exact in float),
// and multiplied with F32 activations. Activations are not quantized: the
// result equals matmul() over the dequantized weights, bit for bit, and the
// per-element FMA order is the same 16-lane, k-ordered one whatever the tile
// shape, the number of rows or the thread split.
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <utility>

#include "kernels/cpu/lanes.h"
#include "kernels/cpu/ops.h"

namespace sb::cpu {

namespace {

constexpr int64_t kBlockElems = 32;
constexpr int kTileTokens = 4;
constexpr int kTileRows = 6;
// How far ahead of each row's block the tile prefetches. A tile walks its six
// rows side by side, each only k/32 blocks long: streams too short for the
// hardware prefetcher (without this, weights streamed from memory ran about
// 4x slower than from cache).
constexpr size_t kPrefetchBytes = 16 * 1024;
// Below this many multiply-adds a task is not worth waking a thread for.
constexpr int64_t kMinTaskMacs = 48 * 1024;

constexpr size_t block_bytes(QuantFormat f) { return f == QuantFormat::kQ8_0 ? 34 : 18; }

inline float block_scale(const uint8_t* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return static_cast<float>(std::bit_cast<_Float16>(h));
}

// Weights 0..15 and 16..31 of one block.
struct BlockLanes {
  Lanes lo, hi;
};

template <QuantFormat F>
BlockLanes decode_block(const uint8_t* block) {
  const float d = block_scale(block);
  const uint8_t* q = block + 2;
#if defined(__AVX512F__)
  // All-ones maskz forms: the plain instructions, without GCC 12's warning.
  constexpr __mmask16 kAll = 0xffff;
  const __m512 vd = _mm512_set1_ps(d);
  if constexpr (F == QuantFormat::kQ8_0) {
    const __m512i lo = _mm512_maskz_cvtepi8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    const __m512i hi = _mm512_maskz_cvtepi8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 16)));
    return {_mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll, lo), vd),
            _mm512_mul_ps(_mm512_maskz_cvtepi32_ps(kAll, hi), vd)};
  } else {
    // A 16-entry table of d * (v - 8) looked up by nibble; permutexvar reads
    // only an index's low 4 bits, so the byte itself indexes its low nibble.
    const __m512 table = _mm512_mul_ps(_mm512_setr_ps(-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7), vd);
    const __m512i bytes = _mm512_maskz_cvtepu8_epi32(kAll, _mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
    return {_mm512_maskz_permutexvar_ps(kAll, bytes, table),
            _mm512_maskz_permutexvar_ps(kAll, _mm512_maskz_srli_epi32(kAll, bytes, 4), table)};
  }
#else
  BlockLanes b;
  for (int j = 0; j < kLanes; ++j) {
    if constexpr (F == QuantFormat::kQ8_0) {
      b.lo.v[j] = d * static_cast<float>(static_cast<int8_t>(q[j]));
      b.hi.v[j] = d * static_cast<float>(static_cast<int8_t>(q[j + 16]));
    } else {
      b.lo.v[j] = d * static_cast<float>((q[j] & 0x0f) - 8);
      b.hi.v[j] = d * static_cast<float>((q[j] >> 4) - 8);
    }
  }
  return b;
#endif
}

// y[t][o] for t < TT tokens and o < TO weight rows, full k. Each iteration
// decodes one block of every row, then runs each token's FMAs against them.
template <QuantFormat F, int TT, int TO>
void tile(const float* x, const uint8_t* w, const float* bias, float* y, int64_t k, int64_t m) {
  const size_t row_bytes = static_cast<size_t>(k / kBlockElems) * block_bytes(F);
  Lanes acc[TT][TO];
  for (int t = 0; t < TT; ++t)
    for (int o = 0; o < TO; ++o) acc[t][o] = lanes_zero();
  const uint8_t* block = w;
  for (int64_t i = 0; i < k; i += kBlockElems, block += block_bytes(F)) {
    BlockLanes wv[TO];
    for (int o = 0; o < TO; ++o) {
      __builtin_prefetch(block + o * row_bytes + kPrefetchBytes);
      wv[o] = decode_block<F>(block + o * row_bytes);
    }
    for (int t = 0; t < TT; ++t) {
      const Lanes lo = lanes_load(x + t * k + i), hi = lanes_load(x + t * k + i + kLanes);
      for (int o = 0; o < TO; ++o) acc[t][o] = lanes_fma(hi, wv[o].hi, lanes_fma(lo, wv[o].lo, acc[t][o]));
    }
  }
  for (int t = 0; t < TT; ++t)
    for (int o = 0; o < TO; ++o) {
      const float s = lanes_sum(acc[t][o]);
      y[t * m + o] = bias ? s + bias[o] : s;
    }
}

using TileFn = void (*)(const float*, const uint8_t*, const float*, float*, int64_t, int64_t);

// The tile for `tokens` <= kTileTokens tokens by `rows` <= kTileRows rows.
template <QuantFormat F>
TileFn tile_for(int tokens, int rows) {
  static constexpr auto table = []<int... I>(std::integer_sequence<int, I...>) {
    return std::array<TileFn, sizeof...(I)>{tile<F, I / kTileRows + 1, I % kTileRows + 1>...};
  }(std::make_integer_sequence<int, kTileTokens * kTileRows>{});
  return table[static_cast<size_t>((tokens - 1) * kTileRows + rows - 1)];
}

// All tokens against weight rows [o0, o1).
template <QuantFormat F>
void matmul_rows(const float* x, const uint8_t* w, const float* bias, float* y, int64_t n, int64_t k, int64_t m,
                 int64_t o0, int64_t o1) {
  const size_t row_bytes = static_cast<size_t>(k / kBlockElems) * block_bytes(F);
  for (int64_t o = o0; o < o1; o += kTileRows) {
    const int rows = static_cast<int>(std::min<int64_t>(kTileRows, o1 - o));
    for (int64_t t = 0; t < n; t += kTileTokens) {
      const int tokens = static_cast<int>(std::min<int64_t>(kTileTokens, n - t));
      tile_for<F>(tokens, rows)(x + t * k, w + static_cast<size_t>(o) * row_bytes, bias ? bias + o : nullptr,
                                y + t * m + o, k, m);
    }
  }
}

template <QuantFormat F>
void matmul_split(ThreadPool& pool, const float* x, const uint8_t* w, const float* bias, float* y, int64_t n,
                  int64_t k, int64_t m) {
  const int64_t row_tiles = (m + kTileRows - 1) / kTileRows;
  const int64_t by_work = std::max<int64_t>(1, n * m * k / kMinTaskMacs);
  const int64_t n_tasks = std::min(row_tiles, by_work);
  pool.run(n_tasks, [&](int64_t task) {
    const int64_t o0 = row_tiles * task / n_tasks * kTileRows;
    const int64_t o1 = std::min(m, row_tiles * (task + 1) / n_tasks * kTileRows);
    matmul_rows<F>(x, w, bias, y, n, k, m, o0, o1);
  });
}

template <QuantFormat F>
void decode_row(const uint8_t* row, float* out, int64_t dim) {
  for (int64_t i = 0; i < dim; i += kBlockElems, row += block_bytes(F)) {
    const BlockLanes b = decode_block<F>(row);
    lanes_store(out + i, b.lo);
    lanes_store(out + i + kLanes, b.hi);
  }
}

}  // namespace

KernelStatus matmul_quant(ThreadPool& pool, QuantFormat format, const float* x, const void* w, const float* bias,
                          float* y, int64_t n, int64_t k, int64_t m) {
  if (n < 0 || k <= 0 || m <= 0 || k % kBlockElems != 0) return KernelStatus::kBadShape;
  if (n == 0) return KernelStatus::kOk;
  const auto* wb = static_cast<const uint8_t*>(w);
  if (format == QuantFormat::kQ8_0) {
    matmul_split<QuantFormat::kQ8_0>(pool, x, wb, bias, y, n, k, m);
  } else {
    matmul_split<QuantFormat::kQ4_0>(pool, x, wb, bias, y, n, k, m);
  }
  return KernelStatus::kOk;
}

KernelStatus gather_rows_quant(ThreadPool& pool, QuantFormat format, const void* table, const int32_t* ids,
                               float* out, int64_t n_ids, int64_t n_rows, int64_t dim) {
  if (n_ids < 0 || dim <= 0 || dim % kBlockElems != 0) return KernelStatus::kBadShape;
  for (int64_t i = 0; i < n_ids; ++i)
    if (ids[i] < 0 || ids[i] >= n_rows) return KernelStatus::kBadShape;
  const size_t row_bytes = static_cast<size_t>(dim / kBlockElems) * block_bytes(format);
  const auto* base = static_cast<const uint8_t*>(table);
  const int64_t n_tasks = std::min<int64_t>(n_ids, pool.n_threads());
  pool.run(n_tasks, [&](int64_t task) {
    for (int64_t i = n_ids * task / n_tasks; i < n_ids * (task + 1) / n_tasks; ++i) {
      const uint8_t* row = base + static_cast<size_t>(ids[i]) * row_bytes;
      if (format == QuantFormat::kQ8_0) {
        decode_row<QuantFormat::kQ8_0>(row, out + i * dim, dim);
      } else {
        decode_row<QuantFormat::kQ4_0>(row, out + i * dim, dim);
      }
    }
  });
  return KernelStatus::kOk;
}

}  // namespace sb::cpu
