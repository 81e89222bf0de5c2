// The portable path: plain C++ at the x86-64 baseline, one lane at a time. It
// is the reference the vector paths are tested against bit for bit, and the
// fallback on a CPU without AVX2.
#include <bit>
#include <cmath>

#include "kernels/cpu/tiles.h"

namespace sb::cpu {

namespace {

struct Portable {
  static constexpr int kParts = 1;
  static constexpr int kTileTokens = 4, kTileRows = 4;
  static constexpr int kQuantTileTokens = 4, kQuantTileRows = 4;
  static constexpr int kBlocksPerPart = 2;

  struct Reg {
    float v[tiles::kLanes];
  };
  static Reg zero() { return Reg{}; }
  static Reg load(const float* p) {
    Reg r;
    for (int i = 0; i < tiles::kLanes; ++i) r.v[i] = p[i];
    return r;
  }
  static Reg load(const F16* p) {
    Reg r;
    for (int i = 0; i < tiles::kLanes; ++i) r.v[i] = f16(p[i].bits);
    return r;
  }
  static Reg load(const Bf16* p) {
    Reg r;
    for (int i = 0; i < tiles::kLanes; ++i) r.v[i] = std::bit_cast<float>(static_cast<uint32_t>(p[i].bits) << 16);
    return r;
  }
  static Reg fma(Reg a, Reg b, Reg c) {
    for (int i = 0; i < tiles::kLanes; ++i) c.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
    return c;
  }
  static float sum(const Reg (&parts)[1]) {
    Reg a = parts[0];
    for (int w = tiles::kLanes / 2; w >= 1; w /= 2)
      for (int i = 0; i < w; ++i) a.v[i] += a.v[i + w];
    return a.v[0];
  }
  static void sum4(const Reg (&v)[4][1], float* out) {
    for (int j = 0; j < 4; ++j) out[j] = sum(v[j]);
  }

  static float f16(uint16_t bits) { return static_cast<float>(std::bit_cast<_Float16>(bits)); }

  // Two blocks' weights as int8 and their scales (the second zero when not live).
  struct WeightPart {
    int8_t q[64];
    float d[2];
  };
  template <WeightFormat F, int kLive>
  static WeightPart load_weights(const uint8_t* blk, int) {
    constexpr size_t kBlockBytes = format_block_bytes(F);
    WeightPart w{};
    for (int b = 0; b < kLive; ++b) {
      const uint8_t* p = blk + b * kBlockBytes;
      w.d[b] = f16(static_cast<uint16_t>(p[0] | p[1] << 8));
      for (int j = 0; j < 16; ++j) {
        if constexpr (F == WeightFormat::kQ8_0) {
          w.q[32 * b + j] = static_cast<int8_t>(p[2 + j]);
          w.q[32 * b + j + 16] = static_cast<int8_t>(p[2 + j + 16]);
        } else {
          w.q[32 * b + j] = static_cast<int8_t>((p[2 + j] & 0x0f) - 8);
          w.q[32 * b + j + 16] = static_cast<int8_t>((p[2 + j] >> 4) - 8);
        }
      }
    }
    return w;
  }

  struct ActPart {
    const int8_t* q;
    const float* d;
  };
  static ActPart load_acts(const int8_t* q, const float* d, int) { return {q, d}; }

  template <int kLive>
  static Reg accumulate(const ActPart& x, const WeightPart& w, Reg acc) {
    for (int lane = 0; lane < 8 * kLive; ++lane) {
      const int b = lane / 8, j = lane % 8;
      int32_t s = 0;
      for (int e = 32 * b + 4 * j; e < 32 * b + 4 * j + 4; ++e) s += int32_t{x.q[e]} * int32_t{w.q[e]};
      acc.v[lane] = std::fma(static_cast<float>(s), x.d[b] * w.d[b], acc.v[lane]);
    }
    return acc;
  }

  static void quantize_row(const float* x, int64_t n_blocks, int8_t* q, float* d) {
    for (int64_t b = 0; b < n_blocks; ++b, x += 32, q += 32) {
      float amax = 0.0f;
      for (int e = 0; e < 32; ++e) {
        const float a = std::fabs(x[e]);
        amax = a > amax ? a : amax;
      }
      d[b] = amax / 127.0f;
      const float id = d[b] != 0.0f ? 1.0f / d[b] : 0.0f;
      for (int e = 0; e < 32; ++e) {
        const float v = std::nearbyint(x[e] * id);
        q[e] = v == v ? static_cast<int8_t>(static_cast<int>(v)) : int8_t{-128};  // NaN: as the vector paths
      }
    }
  }
};

}  // namespace

const KernelTable& kernels_portable() {
  static const KernelTable table = tiles::make_table<Portable>(CpuIsa::kPortable, false);
  return table;
}

}  // namespace sb::cpu
