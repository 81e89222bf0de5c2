// The AVX2 path's lanes (AVX2 + FMA + F16C): the 16 lanes as two ymm registers
// (lanes 0-7 and 8-15), with the per-lane FMA order and the tree of every
// path. Included only by isa_avx2.cpp and isa_avx2_vnni.cpp, which are
// compiled for these instructions (kernels/CMakeLists.txt).
#pragma once

#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/tiles.h"

namespace sb::cpu {

namespace {

// kVnni: int8 dot products by AVX-VNNI (vpdpbusd) instead of maddubs + madd.
template <bool kVnni>
struct Avx2 {
  static constexpr int kParts = 2;
  // Float tile: 3 x 4 = 12 ymm accumulators of one part (tiles.h runs the two
  // parts in turns over blocks of k), 3 activations, 1 weight.
  static constexpr int kTileTokens = 3, kTileRows = 4;
  // Int8 tile: 2 x 2 accumulators, one row's weights (|w|, signs, scale), a
  // token's activations and scale, and the products' temporaries.
  static constexpr int kQuantTileTokens = 2, kQuantTileRows = 1;
  static constexpr int kBlocksPerPart = 1;
  using Reg = __m256;

  static Reg zero() { return _mm256_setzero_ps(); }
  static Reg load(const float* p) { return _mm256_loadu_ps(p); }
  static Reg load(const F16* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static Reg load(const Bf16* p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
  }
  static Reg fma(Reg a, Reg b, Reg c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(const Reg (&parts)[2]) {
    const __m256 h = _mm256_add_ps(parts[0], parts[1]);  // lane i + lane i+8
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }

  // Four sums at once, each by the same tree: lanes i + i+8, then i + i+4, i + i+2, i + i+1.
  static void sum4(const Reg (&v)[4][2], float* out) {
    __m256 h[4];
    for (int j = 0; j < 4; ++j) h[j] = _mm256_add_ps(v[j][0], v[j][1]);
    const __m256 q01 = _mm256_add_ps(_mm256_permute2f128_ps(h[0], h[1], 0x20),   // [h0 0-3 | h1 0-3]
                                     _mm256_permute2f128_ps(h[0], h[1], 0x31));  // + [h0 4-7 | h1 4-7]
    const __m256 q23 = _mm256_add_ps(_mm256_permute2f128_ps(h[2], h[3], 0x20),
                                     _mm256_permute2f128_ps(h[2], h[3], 0x31));
    // [q0 0,1 q2 0,1 | q1 0,1 q3 0,1] + [q0 2,3 q2 2,3 | q1 2,3 q3 2,3]
    const __m256 d = _mm256_add_ps(_mm256_shuffle_ps(q01, q23, 0x44), _mm256_shuffle_ps(q01, q23, 0xee));
    const __m256 s = _mm256_hadd_ps(d, d);  // [s0 s2 s0 s2 | s1 s3 s1 s3]
    _mm_storeu_ps(out, _mm_unpacklo_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)));
  }

  // One block's weights as |w| (u8) and w (whose signs go onto the activations), and its scale.
  struct WeightPart {
    __m256i abs, sgn;
    __m256 d;
  };
  template <WeightFormat F, int kLive>
  static WeightPart load_weights(const uint8_t* blk, int part) {
    constexpr size_t kBlockBytes = format_block_bytes(F);
    const uint8_t* p = blk + part * kBlockBytes;
    uint16_t h;
    std::memcpy(&h, p, 2);
    __m256i w;
    if constexpr (F == WeightFormat::kQ8_0) {
      w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    } else {
      const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2));
      const __m128i nibble = _mm_set1_epi8(0x0f);
      const __m128i lo = _mm_and_si128(raw, nibble), hi = _mm_and_si128(_mm_srli_epi16(raw, 4), nibble);
      w = _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
    }
    return {_mm256_abs_epi8(w), w, _mm256_set1_ps(_cvtsh_ss(h))};
  }

  struct ActPart {
    __m256i q;
    __m256 d;
  };
  static ActPart load_acts(const int8_t* q, const float* d, int part) {
    // set1 rather than the broadcast intrinsic: GCC treats that as a call that
    // may read the accumulators, and would keep them in memory.
    return {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 32 * part)), _mm256_set1_ps(d[part])};
  }

  // Lane j: the exact sum of elements 4j..4j+3 (|w| * (x with w's sign): no
  // pair exceeds 2 * 128 * 127, so maddubs never saturates).
  template <int kLive>
  static Reg accumulate(const ActPart& x, const WeightPart& w, Reg acc) {
    const __m256i xs = _mm256_sign_epi8(x.q, w.sgn);
    __m256i p;
    if constexpr (kVnni) {
      p = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), w.abs, xs);
    } else {
      p = _mm256_madd_epi16(_mm256_maddubs_epi16(w.abs, xs), _mm256_set1_epi16(1));
    }
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_mul_ps(x.d, w.d), acc);
  }

  static void quantize_row(const float* x, int64_t n_blocks, int8_t* q, float* d) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t b = 0; b < n_blocks; ++b, x += 32, q += 32) {
      __m256 v[4];
      for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + 8 * i);
      const __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v[0]), _mm256_andnot_ps(sign, v[1])),
                                     _mm256_max_ps(_mm256_andnot_ps(sign, v[2]), _mm256_andnot_ps(sign, v[3])));
      __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
      m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
      m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
      d[b] = _mm_cvtss_f32(m4) / 127.0f;
      const __m256 id = _mm256_set1_ps(d[b] != 0.0f ? 1.0f / d[b] : 0.0f);
      __m256i c[4];
      for (int i = 0; i < 4; ++i) c[i] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i], id));  // round half to even
      // packs interleave the 128-bit halves; the permute puts elements back in order.
      const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(c[0], c[1]), _mm256_packs_epi32(c[2], c[3]));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(q),
                          _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
    }
  }
};

}  // namespace

}  // namespace sb::cpu
