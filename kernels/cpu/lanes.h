// The 16-lane float accumulator every batch-invariant dot product is built on:
// AVX-512 registers when compiled for them, a portable array otherwise. Both
// forms run the same arithmetic (FMA per lane, then one fixed 16->1 tree), so
// results are bitwise equal across the two builds' kernels.
#pragma once

#include <cmath>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace sb::cpu {

constexpr int kLanes = 16;

#if defined(__AVX512F__)
using Lanes = __m512;
inline Lanes lanes_zero() { return _mm512_setzero_ps(); }
inline Lanes lanes_load(const float* p) { return _mm512_loadu_ps(p); }
inline Lanes lanes_load_tail(const float* p, int n) {
  return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p);
}
inline void lanes_store(float* p, Lanes a) { _mm512_storeu_ps(p, a); }
inline Lanes lanes_fma(Lanes a, Lanes b, Lanes c) { return _mm512_fmadd_ps(a, b, c); }
inline float lanes_sum(Lanes a) {
  // Fixed tree: 16 -> 8 -> 4 -> 2 -> 1. (All-ones maskz forms compile to the
  // plain instructions; GCC 12 warns on the unmasked ones' undefined operand.)
  const __m256 h = _mm256_add_ps(_mm512_maskz_extractf32x8_ps(0xff, a, 0), _mm512_maskz_extractf32x8_ps(0xff, a, 1));
  const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
  return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
}
#else
// Portable form of the same 16-lane scheme (slower; for machines without AVX-512).
struct Lanes {
  float v[kLanes];
};
inline Lanes lanes_zero() { return Lanes{}; }
inline Lanes lanes_load(const float* p) {
  Lanes r;
  for (int i = 0; i < kLanes; ++i) r.v[i] = p[i];
  return r;
}
inline Lanes lanes_load_tail(const float* p, int n) {
  Lanes r{};
  for (int i = 0; i < n; ++i) r.v[i] = p[i];
  return r;
}
inline void lanes_store(float* p, Lanes a) {
  for (int i = 0; i < kLanes; ++i) p[i] = a.v[i];
}
inline Lanes lanes_fma(Lanes a, Lanes b, Lanes c) {
  for (int i = 0; i < kLanes; ++i) c.v[i] = std::fma(a.v[i], b.v[i], c.v[i]);
  return c;
}
inline float lanes_sum(Lanes a) {
  for (int w = kLanes / 2; w >= 1; w /= 2)
    for (int i = 0; i < w; ++i) a.v[i] += a.v[i + w];
  return a.v[0];
}
#endif

}  // namespace sb::cpu
