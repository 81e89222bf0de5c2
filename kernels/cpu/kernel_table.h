// The kernels that come in one version per instruction-set path (cpu_isa.h):
// a table of plain function pointers, filled by that path's translation unit
// (isa_*.cpp, each compiled with its own -m flags; tiles.h is their shared
// source). Every entry gives the same bits on every path: the drivers in
// matmul.cpp and quant.cpp split work over threads and may pick any path.
//
// Numerics (the contract every path implements):
// - Float weights (F32, and F16/BF16 converted exactly in registers): each
//   y[t][o] is one dot product accumulated in 16 lanes, lane l summing
//   x[i] * w[i] for i = l, l+16, ... by FMA in k order (a k tail is padded with
//   zeros), then one fixed tree 16 -> 8 -> 4 -> 2 -> 1 (lane i + lane i+w), then
//   + bias. F16/BF16 weights therefore give exactly the F32 kernel's result on
//   the widened weights.
// - Quantized weights (Q8_0, Q4_0) with int8 activations: each row of x is
//   quantized in blocks of 32 (ActFormat::kQ8Blocks32): d = max|x| / 127,
//   q = round-half-even(x * (1/d)) in [-127, 127] (d = 0: q = 0). For block b
//   and j = 0..7, P_b[j] = sum of q_x * q_w over elements 4j..4j+3 (exact int32;
//   Q4_0's q_w is nibble - 8). Lane 8 * (b % 2) + j accumulates
//   fma(float(P_b[j]), d_x[b] * d_w[b], acc) in block order (an odd last block
//   touches lanes 0..7 only), then the same 16 -> 1 tree, then + bias. Error
//   against float64 x * dequantized w: at most sum over blocks of
//   (max|x_b| / 254) * sum|w_b| from rounding x, plus float rounding
//   (k/64 + 6) * 2^-24 * sum|x * w| (tests/kernels/test_quant_kernels.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cpu/cpu_isa.h"

namespace sb::cpu {

// How a weight matrix [m, k] is stored, row-major; used in place.
enum class WeightFormat {
  kF32,
  kF16,
  kBF16,
  // GGML blocks of 32 along a row: an f16 scale d, then the quants; weight j is d * q[j].
  kQ8_0,  // 34 bytes: d, int8 q[32]
  kQ4_0,  // 18 bytes: d, 16 bytes whose low nibbles are q[0..15] and high nibbles q[16..31], each minus 8
};
constexpr int kWeightFormats = 5;

constexpr bool is_quantized(WeightFormat f) { return f == WeightFormat::kQ8_0 || f == WeightFormat::kQ4_0; }
// Elements per block along a row (1 for float formats) and bytes per block.
constexpr int64_t format_block_elems(WeightFormat f) { return is_quantized(f) ? 32 : 1; }
constexpr size_t format_block_bytes(WeightFormat f) {
  switch (f) {
    case WeightFormat::kF32: return 4;
    case WeightFormat::kF16:
    case WeightFormat::kBF16: return 2;
    case WeightFormat::kQ8_0: return 34;
    case WeightFormat::kQ4_0: return 18;
  }
  return 0;
}
constexpr size_t format_row_bytes(WeightFormat f, int64_t k) {
  return static_cast<size_t>(k / format_block_elems(f)) * format_block_bytes(f);
}

// Half-precision weights as stored (bit patterns).
struct F16 {
  uint16_t bits;
};
struct Bf16 {
  uint16_t bits;
};

// Rows of activations quantized for the quantized formats (kernel_table.h
// numerics): per row, n_blocks blocks of 32 int8 then zero blocks up to
// stride_blocks (even, so pairs of blocks never read past a row).
struct Int8Rows {
  int8_t* q = nullptr;  // [n, stride_blocks * 32]
  float* d = nullptr;   // [n, stride_blocks]
  int64_t n_blocks = 0;
  int64_t stride_blocks = 0;
};

// One matmul y = x * w^T (+ bias) as the per-path row kernels see it.
struct TileArgs {
  const float* x = nullptr;     // [n, k]: float formats
  const Int8Rows* xq = nullptr; // x quantized: quantized formats
  const void* w = nullptr;      // [m, k] in the format
  const float* bias = nullptr;  // [m] or nullptr
  float* y = nullptr;           // [n, m]
  int64_t n = 0, k = 0, m = 0;
};

struct KernelTable {
  CpuIsa isa = CpuIsa::kPortable;
  bool vnni = false;  // int8 dot products by VNNI (same integers)
  int tile_rows = 1;  // weight rows per tile: thread splits keep to multiples of it
  // y rows [o0, o1) for every token, by weight format.
  void (*matmul_rows[kWeightFormats])(const TileArgs& a, int64_t o0, int64_t o1) = {};
  // The float dot product of the contract above (attention, RMSNorm).
  float (*dot)(const float* a, const float* b, int64_t k) = nullptr;
  // Quantizes rows [r0, r1) of x [n, k] into out (kQ8Blocks32); k % 32 == 0.
  void (*quantize_rows)(const float* x, int64_t k, const Int8Rows& out, int64_t r0, int64_t r1) = nullptr;
};

// The table of `isa`, with VNNI where the CPU has it (the portable table when
// this CPU cannot run `isa`: callers check cpu_isa_supported first).
const KernelTable& kernel_table(CpuIsa isa);
// Every table this CPU runs, VNNI and non-VNNI variants apart (tests compare them all).
int supported_kernel_tables(const KernelTable** out, int max_out);

// Each path's translation unit (kernels_avx2_vnni etc. exist only in x86 builds).
const KernelTable& kernels_portable();
const KernelTable& kernels_avx2();
const KernelTable& kernels_avx2_vnni();
const KernelTable& kernels_avx512();
const KernelTable& kernels_avx512_vnni();

}  // namespace sb::cpu
