// The per-path kernels of kernel_table.h, written once over a lane type V that
// each path's translation unit defines (isa_*.cpp). V lives in that unit's
// anonymous namespace, so every instantiation here has internal linkage: no
// path's copy of a function can stand in for another's at link time
// (tests/kernels/check_isa_symbols.sh checks the objects).
//
// V provides:
//   kParts: registers per 16 lanes; Reg: one of them (16 / kParts floats)
//   kTileTokens, kTileRows: the float tile; kQuantTileTokens, kQuantTileRows: the int8 tile
//   Reg zero(); Reg load(const float*); Reg load(const F16*); Reg load(const Bf16*)
//   Reg fma(Reg a, Reg b, Reg c);  float sum(const Reg (&parts)[kParts])  (the fixed tree)
//   void sum4(const Reg (&v)[4][kParts], float* out): four sums, the same tree each
//   kBlocksPerPart (1 or 2 blocks of 32 per register; kParts * kBlocksPerPart == 2)
//   WeightPart load_weights<F, kLive>(const uint8_t* first_block, int part): a part's
//     weights decoded to int8 (as |w| and w's signs, for u8 x s8 products) and scales;
//     kLive = 1: the pair's second block does not exist and is not read
//   ActPart load_acts(const int8_t* q, const float* d, int part)  (q, d at the pair's first block)
//   Reg accumulate<kLive>(const ActPart&, const WeightPart&, Reg acc)
//     (kLive = 1: only the first block's lanes change)
//   void quantize_row(const float* x, int64_t n_blocks, int8_t* q, float* d)
// Tile shapes are chosen so a tile's accumulators, inputs and temporaries fit
// the path's register file (16 ymm / 32 zmm) without spills.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

#include "kernels/cpu/kernel_table.h"

namespace sb::cpu::tiles {

constexpr int kLanes = 16;
// Tokens per pass over a task's rows: their activations stay in L2 while the
// rows stream past once per block of tokens.
constexpr int64_t kTokenBlock = 64;

// Elements of k per pass on a path with several registers per 16 lanes
// (kParts > 1): the parts take turns over each block, so only one part's
// accumulators are live (in registers) at a time while the tile's rows stay in L1.
constexpr int64_t kKBlock = 256;

// y[o] = sum of acc[o] (+ bias[o]) for o < TO: four rows at a time where they fit.
template <class V, int TO>
[[gnu::always_inline]] inline void store_sums(const typename V::Reg (&acc)[TO][V::kParts], const float* bias,
                                              float* y) {
  int o = 0;
  for (; o + 4 <= TO; o += 4) {
    typename V::Reg group[4][V::kParts];
    for (int j = 0; j < 4; ++j)
      for (int p = 0; p < V::kParts; ++p) group[j][p] = acc[o + j][p];
    float s[4];
    V::sum4(group, s);
    for (int j = 0; j < 4; ++j) y[o + j] = bias ? s[j] + bias[o + j] : s[j];
  }
  for (; o < TO; ++o) {
    const float s = V::sum(acc[o]);
    y[o] = bias ? s + bias[o] : s;
  }
}

// acc[t][o] += x[t] * w[o] lane by lane, part p of the 16-lane chunks starting in [i0, i1).
template <class V, class W, int TT, int TO>
[[gnu::always_inline]] inline void float_chunks(typename V::Reg (&acc)[TT][TO], int p, const float* x, int64_t ldx,
                                                const W* w, int64_t ldw, int64_t i0, int64_t i1) {
  constexpr int L = kLanes / V::kParts;
  for (int64_t i = i0 + p * L; i < i1; i += kLanes) {
    typename V::Reg xv[TT];
    for (int t = 0; t < TT; ++t) xv[t] = V::load(x + t * ldx + i);
    for (int o = 0; o < TO; ++o) {
      const typename V::Reg wv = V::load(w + o * ldw + i);
      for (int t = 0; t < TT; ++t) acc[t][o] = V::fma(xv[t], wv, acc[t][o]);
    }
  }
}

// y[t][o] for t < TT tokens and o < TO rows over the full k.
template <class V, class W, int TT, int TO>
void float_tile(const float* x, const W* w, const float* bias, float* y, int64_t k, int64_t m) {
  using Reg = typename V::Reg;
  constexpr int P = V::kParts;
  Reg acc[P][TT][TO];
  for (int p = 0; p < P; ++p)
    for (int t = 0; t < TT; ++t)
      for (int o = 0; o < TO; ++o) acc[p][t][o] = V::zero();
  const int64_t full = k / kLanes * kLanes;
  if constexpr (P == 1) {
    float_chunks<V, W, TT, TO>(acc[0], 0, x, k, w, k, 0, full);
  } else {
    for (int64_t i0 = 0; i0 < full; i0 += kKBlock) {
      const int64_t i1 = full - i0 < kKBlock ? full : i0 + kKBlock;
      for (int p = 0; p < P; ++p) {
        Reg a[TT][TO];
        for (int t = 0; t < TT; ++t)
          for (int o = 0; o < TO; ++o) a[t][o] = acc[p][t][o];
        float_chunks<V, W, TT, TO>(a, p, x, k, w, k, i0, i1);
        for (int t = 0; t < TT; ++t)
          for (int o = 0; o < TO; ++o) acc[p][t][o] = a[t][o];
      }
    }
  }
  if (full < k) {  // the tail, zero-padded to 16 lanes
    float xt[TT][kLanes] = {};
    W wt[TO][kLanes] = {};
    const size_t rest = static_cast<size_t>(k - full);
    for (int t = 0; t < TT; ++t) std::memcpy(xt[t], x + t * k + full, rest * sizeof(float));
    for (int o = 0; o < TO; ++o) std::memcpy(wt[o], w + o * k + full, rest * sizeof(W));
    for (int p = 0; p < P; ++p) float_chunks<V, W, TT, TO>(acc[p], p, xt[0], kLanes, wt[0], kLanes, 0, kLanes);
  }
  for (int t = 0; t < TT; ++t) {
    Reg sums[TO][P];
    for (int o = 0; o < TO; ++o)
      for (int p = 0; p < P; ++p) sums[o][p] = acc[p][t][o];
    store_sums<V, TO>(sums, bias, y + t * m);
  }
}

template <class V>
float dot(const float* a, const float* b, int64_t k) {
  float r;
  float_tile<V, float, 1, 1>(a, b, nullptr, &r, k, 1);
  return r;
}

// Calls tile(tokens, rows) for every tile of rows [o0, o1) x all tokens, in
// blocks of about kTokenBlock tokens.
template <int TT, int TO, class Tile>
void for_each_tile(int64_t n, int64_t o0, int64_t o1, Tile&& tile) {
  constexpr int64_t kBlock = kTokenBlock / TT * TT;  // whole tiles
  for (int64_t t0 = 0; t0 < n; t0 += kBlock) {
    const int64_t t1 = n - t0 < kBlock ? n : t0 + kBlock;
    for (int64_t o = o0; o < o1; o += TO)
      for (int64_t t = t0; t < t1; t += TT)
        tile(t, o, static_cast<int>(t1 - t < TT ? t1 - t : TT), static_cast<int>(o1 - o < TO ? o1 - o : TO));
  }
}

// fn<tokens, rows> for tokens <= TT, rows <= TO, at [(tokens - 1) * TO + rows - 1].
template <class Fn, int N>
struct TileTable {
  Fn fn[N];
};
template <class Fn, int TT, int TO, template <int, int> class Pick>
constexpr TileTable<Fn, TT * TO> tile_table() {
  return []<int... I>(std::integer_sequence<int, I...>) {
    return TileTable<Fn, TT * TO>{{Pick<I / TO + 1, I % TO + 1>::fn...}};
  }(std::make_integer_sequence<int, TT * TO>{});
}

template <class V, class W>
struct FloatTiles {
  using Fn = void (*)(const float*, const W*, const float*, float*, int64_t, int64_t);
  template <int T, int O>
  struct Pick {
    static constexpr Fn fn = float_tile<V, W, T, O>;
  };
  static constexpr auto table = tile_table<Fn, V::kTileTokens, V::kTileRows, Pick>();
};

template <class V, class W>
void float_rows(const TileArgs& a, int64_t o0, int64_t o1) {
  using T = FloatTiles<V, W>;
  const W* w = static_cast<const W*>(a.w);
  for_each_tile<V::kTileTokens, V::kTileRows>(a.n, o0, o1, [&](int64_t t, int64_t o, int tokens, int rows) {
    T::table.fn[(tokens - 1) * V::kTileRows + rows - 1](
        a.x + t * a.k, w + o * a.k, a.bias ? a.bias + o : nullptr, a.y + t * a.m + o, a.k, a.m);
  });
}

// How far ahead of each row's block a quantized tile prefetches. A tile walks
// its rows side by side, each only k/32 blocks long: streams too short for the
// hardware prefetcher.
constexpr size_t kPrefetchBytes = 16 * 1024;

// One pair of blocks (kLive = 2) or a last lone block (kLive = 1) of the int8
// tile: every row's weights decoded once, then each token's products.
template <class V, WeightFormat F, int TT, int TO, int kLive>
[[gnu::always_inline]] inline void quant_pair(typename V::Reg (&acc)[TT][TO][V::kParts], const int8_t* xq,
                                              int64_t q_stride, const float* xd, int64_t d_stride,
                                              const uint8_t* w, size_t row_bytes) {
  for (int p = 0; p < V::kParts; ++p) {
    if (p * V::kBlocksPerPart >= kLive) break;
    typename V::WeightPart wv[TO];
    for (int o = 0; o < TO; ++o) {
      if (p == 0) __builtin_prefetch(w + o * row_bytes + kPrefetchBytes);
      wv[o] = V::template load_weights<F, kLive>(w + o * row_bytes, p);
    }
    for (int t = 0; t < TT; ++t) {
      const typename V::ActPart xv = V::load_acts(xq + t * q_stride, xd + t * d_stride, p);
      for (int o = 0; o < TO; ++o) acc[t][o][p] = V::template accumulate<kLive>(xv, wv[o], acc[t][o][p]);
    }
  }
}

// The int8 tile: y[t][o] for t < TT tokens (from row t0 of xq), o < TO rows
// over all blocks, in pairs of blocks (kernel_table.h numerics).
template <class V, WeightFormat F, int TT, int TO>
void quant_tile(const Int8Rows& xq, int64_t t0, const uint8_t* w, size_t row_bytes, const float* bias, float* y,
                int64_t m) {
  using Reg = typename V::Reg;
  constexpr int P = V::kParts;
  constexpr size_t kPairBytes = 2 * format_block_bytes(F);
  Reg acc[TT][TO][P];
  for (int t = 0; t < TT; ++t)
    for (int o = 0; o < TO; ++o)
      for (int p = 0; p < P; ++p) acc[t][o][p] = V::zero();
  const int64_t n_blocks = xq.n_blocks, d_stride = xq.stride_blocks, q_stride = d_stride * 32;
  const int8_t* q = xq.q + t0 * q_stride;
  const float* d = xq.d + t0 * d_stride;
  int64_t b = 0;
  for (; b + 2 <= n_blocks; b += 2, q += 64, d += 2, w += kPairBytes)
    quant_pair<V, F, TT, TO, 2>(acc, q, q_stride, d, d_stride, w, row_bytes);
  if (b < n_blocks) quant_pair<V, F, TT, TO, 1>(acc, q, q_stride, d, d_stride, w, row_bytes);
  for (int t = 0; t < TT; ++t) store_sums<V, TO>(acc[t], bias, y + t * m);
}

template <class V, WeightFormat F>
struct QuantTiles {
  using Fn = void (*)(const Int8Rows&, int64_t, const uint8_t*, size_t, const float*, float*, int64_t);
  template <int T, int O>
  struct Pick {
    static constexpr Fn fn = quant_tile<V, F, T, O>;
  };
  static constexpr auto table = tile_table<Fn, V::kQuantTileTokens, V::kQuantTileRows, Pick>();
};

template <class V, WeightFormat F>
void quant_rows(const TileArgs& a, int64_t o0, int64_t o1) {
  using T = QuantTiles<V, F>;
  const auto* w = static_cast<const uint8_t*>(a.w);
  constexpr size_t kBlockBytes = format_block_bytes(F);
  const size_t row_bytes = static_cast<size_t>(a.k / 32) * kBlockBytes;
  for_each_tile<V::kQuantTileTokens, V::kQuantTileRows>(a.n, o0, o1, [&](int64_t t, int64_t o, int tokens, int rows) {
    T::table.fn[(tokens - 1) * V::kQuantTileRows + rows - 1](
        *a.xq, t, w + static_cast<size_t>(o) * row_bytes, row_bytes, a.bias ? a.bias + o : nullptr,
        a.y + t * a.m + o, a.m);
  });
}

template <class V>
void quantize_rows(const float* x, int64_t k, const Int8Rows& out, int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    int8_t* q = out.q + r * out.stride_blocks * 32;
    float* d = out.d + r * out.stride_blocks;
    V::quantize_row(x + r * k, out.n_blocks, q, d);
    std::memset(q + out.n_blocks * 32, 0, static_cast<size_t>(out.stride_blocks - out.n_blocks) * 32);
    for (int64_t b = out.n_blocks; b < out.stride_blocks; ++b) d[b] = 0.0f;
  }
}

// The table of path V.
template <class V>
KernelTable make_table(CpuIsa isa, bool vnni) {
  KernelTable t;
  t.isa = isa;
  t.vnni = vnni;
  t.tile_rows = V::kTileRows;
  t.matmul_rows[static_cast<int>(WeightFormat::kF32)] = float_rows<V, float>;
  t.matmul_rows[static_cast<int>(WeightFormat::kF16)] = float_rows<V, F16>;
  t.matmul_rows[static_cast<int>(WeightFormat::kBF16)] = float_rows<V, Bf16>;
  t.matmul_rows[static_cast<int>(WeightFormat::kQ8_0)] = quant_rows<V, WeightFormat::kQ8_0>;
  t.matmul_rows[static_cast<int>(WeightFormat::kQ4_0)] = quant_rows<V, WeightFormat::kQ4_0>;
  t.dot = dot<V>;
  t.quantize_rows = quantize_rows<V>;
  return t;
}

}  // namespace sb::cpu::tiles
