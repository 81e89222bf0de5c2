// The AVX-512 path's lanes (AVX-512 F/BW/DQ/VL): the 16 lanes as one zmm
// register, two blocks of 32 int8 per register, with the per-lane FMA order and
// the tree of every path. Included only by isa_avx512.cpp and
// isa_avx512_vnni.cpp, which are compiled for these instructions
// (kernels/CMakeLists.txt).
#pragma once

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/tiles.h"

namespace sb::cpu {

namespace {

// kVnni: int8 dot products by AVX512-VNNI (vpdpbusd) instead of maddubs + madd.
template <bool kVnni>
struct Avx512 {
  static constexpr int kParts = 1;
  // Float tile: 4 x 6 = 24 zmm accumulators, 4 activations, 1 weight.
  static constexpr int kTileTokens = 4, kTileRows = 6;
  // Int8 tile: 4 x 3 = 12 accumulators, three rows' weights (|w| and scales;
  // signs in mask registers), a token's activations and scale, temporaries.
  static constexpr int kQuantTileTokens = 4, kQuantTileRows = 3;
  static constexpr int kBlocksPerPart = 2;
  using Reg = __m512;

  static Reg zero() { return _mm512_setzero_ps(); }
  static Reg load(const float* p) { return _mm512_loadu_ps(p); }
  static Reg load(const F16* p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static Reg load(const Bf16* p) {
    const __m512i u = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
    return _mm512_castsi512_ps(_mm512_slli_epi32(u, 16));
  }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(const Reg (&parts)[1]) {
    const __m512 a = parts[0];
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(a), _mm512_extractf32x8_ps(a, 1));  // lane i + lane i+8
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }

  // Four sums at once, each by the same tree: lanes i + i+8, then i + i+4, i + i+2, i + i+1.
  static void sum4(const Reg (&v)[4][1], float* out) {
    const __m512 h01 = _mm512_add_ps(_mm512_shuffle_f32x4(v[0][0], v[1][0], 0x44),   // [v0 0-7 | v1 0-7]
                                     _mm512_shuffle_f32x4(v[0][0], v[1][0], 0xee));  // + [v0 8-15 | v1 8-15]
    const __m512 h23 = _mm512_add_ps(_mm512_shuffle_f32x4(v[2][0], v[3][0], 0x44),
                                     _mm512_shuffle_f32x4(v[2][0], v[3][0], 0xee));
    const __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(h01, h23, 0x88),   // [h0 0-3 | h1 0-3 | h2 0-3 | h3 0-3]
                                   _mm512_shuffle_f32x4(h01, h23, 0xdd));  // + [h0 4-7 | ... ]
    const __m512 d = _mm512_add_ps(q, _mm512_shuffle_ps(q, q, 0xee));     // lanes 0,1 of each 4: i + i+2
    const __m512 s = _mm512_add_ps(d, _mm512_shuffle_ps(d, d, 0x55));     // lane 0 of each 4: + lane 1
    const __m512i pick = _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    _mm_storeu_ps(out, _mm512_castps512_ps128(_mm512_permutexvar_ps(pick, s)));
  }

  // Two blocks' weights as |w| (u8) with w's signs as a mask, and their scales
  // (lanes 0-7: the first block's, 8-15: the second's).
  struct WeightPart {
    __m512i abs;
    __mmask64 neg;
    __m512 d;
  };
  template <WeightFormat F, int kLive>
  static WeightPart load_weights(const uint8_t* blk, int) {
    constexpr size_t kBlockBytes = format_block_bytes(F);
    const uint16_t h0 = static_cast<uint16_t>(blk[0] | blk[1] << 8);
    const uint16_t h1 = kLive == 2 ? static_cast<uint16_t>(blk[kBlockBytes] | blk[kBlockBytes + 1] << 8) : 0;
    __m512i w;
    if constexpr (F == WeightFormat::kQ8_0) {
      const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
      const __m256i b1 = kLive == 2 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kBlockBytes + 2))
                                    : _mm256_setzero_si256();
      w = _mm512_inserti64x4(_mm512_zextsi256_si512(b0), b1, 1);
    } else {
      const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 2));
      const __m128i r1 = kLive == 2 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + kBlockBytes + 2))
                                    : _mm_setzero_si128();
      const __m256i raw = _mm256_set_m128i(r1, r0);
      const __m256i nibble = _mm256_set1_epi8(0x0f);
      const __m256i lo = _mm256_and_si256(raw, nibble), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), nibble);
      // 128-bit chunks [r0 lo, r1 lo, r0 hi, r1 hi] -> [r0 lo, r0 hi, r1 lo, r1 hi]
      const __m512i z = _mm512_inserti64x4(_mm512_zextsi256_si512(lo), hi, 1);
      w = _mm512_sub_epi8(_mm512_shuffle_i64x2(z, z, _MM_SHUFFLE(3, 1, 2, 0)), _mm512_set1_epi8(8));
      if constexpr (kLive == 1) w = _mm512_maskz_mov_epi8(0xffffffffull, w);  // the missing block stays 0
    }
    const __m256i hv = _mm256_set_m128i(_mm_set1_epi16(static_cast<short>(h1)), _mm_set1_epi16(static_cast<short>(h0)));
    return {_mm512_abs_epi8(w), _mm512_movepi8_mask(w), _mm512_cvtph_ps(hv)};
  }

  struct ActPart {
    __m512i q;
    __m512 d;
  };
  static ActPart load_acts(const int8_t* q, const float* d, int) {
    // A plain 8-byte load, not the masked-load intrinsic: GCC treats that as a
    // call that may read the accumulators, and would keep them in memory.
    const __m128 two = _mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(d)));
    const __m512i pick = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1);
    return {_mm512_loadu_si512(q), _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(two))};
  }

  // Lane j of each block: the exact sum of elements 4j..4j+3 (|w| times x with
  // w's sign: no pair exceeds 2 * 128 * 127, so maddubs never saturates).
  template <int kLive>
  static Reg accumulate(const ActPart& x, const WeightPart& w, Reg acc) {
    const __m512i xs = _mm512_mask_sub_epi8(x.q, w.neg, _mm512_setzero_si512(), x.q);
    __m512i p;
    if constexpr (kVnni) {
      p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w.abs, xs);
    } else {
      p = _mm512_madd_epi16(_mm512_maddubs_epi16(w.abs, xs), _mm512_set1_epi16(1));
    }
    const __m512 c = _mm512_mul_ps(x.d, w.d);
    if constexpr (kLive == 2) {
      return _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), c, acc);
    } else {
      return _mm512_mask3_fmadd_ps(_mm512_cvtepi32_ps(p), c, acc, 0x00ff);  // lanes 8-15 keep acc
    }
  }

  static void quantize_row(const float* x, int64_t n_blocks, int8_t* q, float* d) {
    for (int64_t b = 0; b < n_blocks; ++b, x += 32, q += 32) {
      const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
      const __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1));
      const __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(m), _mm512_extractf32x8_ps(m, 1));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      d[b] = _mm_cvtss_f32(m4) / 127.0f;
      const __m512 id = _mm512_set1_ps(d[b] != 0.0f ? 1.0f / d[b] : 0.0f);
      // Round half to even, then narrow with saturation (values are within +-127).
      const __m512i c0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, id)), c1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, id));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q), _mm512_cvtsepi32_epi8(c0));
      _mm_storeu_si128(reinterpret_cast<__m128i*>(q + 16), _mm512_cvtsepi32_epi8(c1));
    }
  }
};

}  // namespace

}  // namespace sb::cpu
