// Every CUDA backend op against the CPU backend on random inputs of awkward
// sizes (rows 1, 3, 17; lengths that are not multiples of the block size; GQA),
// outputs poisoned with NaN before each run, errors within the dtype's rounding.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "core/base/tensor.h"
#include "gpu_test_util.h"

namespace {

using sb::DType;
using sb::test::check_close;
using sb::test::DeviceBuffer;
using sb::test::random_floats;

// A host weight in `dtype`, encoded from random floats, kept alive with its view.
struct HostWeight {
  std::vector<uint8_t> bytes;
  sb::TensorView view;
  std::vector<float> values;  // what the weight holds, as float (dequantized)
};

HostWeight make_weight(std::mt19937& rng, DType dtype, int64_t rows, int64_t cols) {
  HostWeight w;
  const std::vector<float> src = random_floats(rng, static_cast<size_t>(rows * cols));
  w.bytes.resize(static_cast<size_t>(rows) * sb::dtype_row_bytes(dtype, cols));
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = src.data() + r * cols;
    uint8_t* out = w.bytes.data() + static_cast<size_t>(r) * sb::dtype_row_bytes(dtype, cols);
    switch (dtype) {
      case DType::kF32: std::memcpy(out, in, static_cast<size_t>(cols) * 4); break;
      case DType::kF16:
      case DType::kBF16:
        for (int64_t c = 0; c < cols; ++c) {
          const uint16_t h = dtype == DType::kF16 ? sb::f32_to_f16(in[c]) : sb::f32_to_bf16(in[c]);
          std::memcpy(out + 2 * c, &h, 2);
        }
        break;
      case DType::kQ8_0:
      case DType::kQ4_0: sb::quantize_row(dtype, in, out, cols); break;
    }
  }
  w.view = sb::TensorView{"w", dtype, rows, cols, w.bytes.data()};
  w.values.resize(src.size());
  for (int64_t r = 0; r < rows; ++r) sb::dequantize_row(dtype, w.view.row(r), w.values.data() + r * cols, cols);
  return w;
}

// Both backends plus helpers to upload the same host data to each.
struct Pair {
  std::unique_ptr<sb::Backend> cpu = sb::make_cpu_backend(2);
  std::unique_ptr<sb::Backend> gpu;
  explicit Pair(sb::CudaBackendOptions::Weights weights = sb::CudaBackendOptions::Weights::kAuto)
      : gpu(sb::test::cuda_backend(weights)) {}
};

struct Uploaded {
  sb::Backend& b;
  sb::DeviceWeight w;
  Uploaded(sb::Backend& backend, const sb::TensorView& view) : b(backend) {
    auto u = b.upload_weight(view);
    REQUIRE_MESSAGE(u.ok(), u.status().to_string());
    w = *u;
  }
  ~Uploaded() { b.release_weight(w); }
};

const int64_t kRowCounts[] = {1, 3, 17};

// x_scale: the activations' magnitude (uniform in [-x_scale, x_scale]).
void check_matmul(Pair& p, std::mt19937& rng, DType dtype, int64_t n, int64_t k, int64_t m, bool with_bias,
                  double tol, float x_scale = 1.0f) {
  CAPTURE(sb::dtype_name(dtype));
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(m);
  const HostWeight w = make_weight(rng, dtype, m, k);
  const HostWeight bias = make_weight(rng, DType::kF32, 1, m);
  const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * k), x_scale);
  const sb::TensorView no_bias{"b", DType::kF32, 1, m, nullptr};
  std::vector<float> out[2];
  sb::Backend* backends[2] = {p.cpu.get(), p.gpu.get()};
  for (int i = 0; i < 2; ++i) {
    Uploaded uw(*backends[i], w.view), ub(*backends[i], with_bias ? bias.view : no_bias);
    DeviceBuffer<float> dx(*backends[i], x), dy(*backends[i], static_cast<size_t>(n * m));
    dy.poison();
    const sb::Status s = backends[i]->matmul(dx.get(), uw.w, ub.w, dy.get(), n);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    out[i] = dy.get_host();
  }
  // The rounding bound scales with sum |x_i w_i| of each output.
  for (int64_t r = 0; r < n; ++r)
    for (int64_t o = 0; o < m; ++o) {
      double absdot = with_bias ? std::fabs(bias.values[static_cast<size_t>(o)]) : 0.0;
      for (int64_t i = 0; i < k; ++i)
        absdot += std::fabs(x[static_cast<size_t>(r * k + i)] * w.values[static_cast<size_t>(o * k + i)]);
      const size_t at = static_cast<size_t>(r * m + o);
      if (!(std::fabs(out[1][at] - out[0][at]) <= tol * absdot)) {
        FAIL_CHECK("y[" << r << "][" << o << "]: cuda " << out[1][at] << ", cpu " << out[0][at]);
        return;
      }
    }
}

}  // namespace

TEST_CASE("cuda matmul: F32/F16/BF16 weights through cuBLAS, Q8_0/Q4_0 through our kernel, with and without bias") {
  Pair p;
  std::mt19937 rng(1);
  // Tolerances: FP32 accumulation, plus the activations' rounding to F16 (2^-11) or BF16 (2^-8).
  const std::pair<DType, double> cases[] = {{DType::kF32, 2e-5}, {DType::kF16, 7e-4}, {DType::kBF16, 5e-3},
                                            {DType::kQ8_0, 2e-5}, {DType::kQ4_0, 2e-5}};
  for (auto [dtype, tol] : cases)
    for (int64_t n : kRowCounts) {
      check_matmul(p, rng, dtype, n, 96, 33, false, tol);
      check_matmul(p, rng, dtype, n, 160, 257, true, tol);
    }
  check_matmul(p, rng, DType::kF32, 3, 100, 65, true, 2e-5);  // k not a multiple of 32
  check_matmul(p, rng, DType::kF32, 300, 64, 31, false, 2e-5);
  // 16M activations per conversion chunk: 4100 x 4096 takes two chunks.
  check_matmul(p, rng, DType::kBF16, 4100, 4096, 3, true, 5e-3);
}

TEST_CASE("cuda matmul: F16 weights with activations past F16's range stay finite and exact to F16 rounding") {
  // Llama/Qwen "massive activation" channels reach 1e3-1e5 at the down projection's
  // input; narrowed to F16 as they are, they would become inf and then NaN.
  Pair p;
  std::mt19937 rng(3);
  for (int64_t n : kRowCounts) check_matmul(p, rng, DType::kF16, n, 96, 33, true, 7e-4, 2e5f);
  check_matmul(p, rng, DType::kF16, 70000, 32, 3, true, 7e-4, 1e5f);  // two chunks of row scales
}

TEST_CASE("cuda upload: an F16/BF16 matrix wider than the conversion workspace is refused, naming it") {
  Pair p;
  const int64_t cols = (int64_t{16} << 20) + 1;
  std::vector<uint16_t> zeros(static_cast<size_t>(2 * cols));
  const sb::TensorView wide{"blk.0.ffn_down.weight", DType::kBF16, 2, cols, zeros.data()};
  const auto u = p.gpu->upload_weight(wide);
  REQUIRE(!u.ok());
  CHECK(u.status().message().find("blk.0.ffn_down.weight") != std::string::npos);
}

TEST_CASE("cuda matmul: --dtype bf16 narrows F32 weights, f32 widens BF16 ones") {
  std::mt19937 rng(2);
  Pair bf16(sb::CudaBackendOptions::Weights::kBF16);
  for (int64_t n : kRowCounts) check_matmul(bf16, rng, DType::kF32, n, 96, 33, true, 1e-2);
  Pair f32(sb::CudaBackendOptions::Weights::kF32);
  for (int64_t n : kRowCounts) check_matmul(f32, rng, DType::kBF16, n, 96, 33, true, 2e-5);
}

TEST_CASE("cuda embed and gather_rows: exact rows of every table dtype") {
  Pair p;
  std::mt19937 rng(3);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    CAPTURE(sb::dtype_name(dtype));
    const int64_t rows = 37, cols = sb::dtype_block_elems(dtype) == 32 ? 64 : 40;
    const HostWeight table = make_weight(rng, dtype, rows, cols);
    for (int64_t n : kRowCounts) {
      std::vector<int32_t> ids(static_cast<size_t>(n));
      for (auto& id : ids) id = static_cast<int32_t>(rng() % rows);
      ids[0] = static_cast<int32_t>(rows - 1);
      std::vector<float> out[2];
      sb::Backend* backends[2] = {p.cpu.get(), p.gpu.get()};
      for (int i = 0; i < 2; ++i) {
        Uploaded t(*backends[i], table.view);
        DeviceBuffer<int32_t> d_ids(*backends[i], ids);
        DeviceBuffer<float> d_out(*backends[i], static_cast<size_t>(n * cols));
        d_out.poison();
        REQUIRE(backends[i]->embed(t.w, d_ids.get(), d_out.get(), n).ok());
        out[i] = d_out.get_host();
      }
      check_close(out[1], out[0], 0.0);
    }
  }
  for (int64_t n : kRowCounts) {
    const int64_t n_src = 19, dim = 45;
    const std::vector<float> x = random_floats(rng, static_cast<size_t>(n_src * dim));
    std::vector<int32_t> rows(static_cast<size_t>(n));
    for (auto& r : rows) r = static_cast<int32_t>(rng() % n_src);
    DeviceBuffer<float> dx(*p.gpu, x), out(*p.gpu, static_cast<size_t>(n * dim));
    DeviceBuffer<int32_t> d_rows(*p.gpu, rows);
    out.poison();
    REQUIRE(p.gpu->gather_rows(dx.get(), d_rows.get(), out.get(), n, n_src, dim).ok());
    std::vector<float> want;
    for (int32_t r : rows) want.insert(want.end(), x.begin() + r * dim, x.begin() + (r + 1) * dim);
    check_close(out.get_host(), want, 0.0);
  }
}

TEST_CASE("cuda out-of-range indices are reported at the next copy to host, then cleared") {
  Pair p;
  std::mt19937 rng(4);
  const HostWeight table = make_weight(rng, DType::kF32, 5, 8);
  Uploaded t(*p.gpu, table.view);
  DeviceBuffer<int32_t> ids(*p.gpu, std::vector<int32_t>{1, 5});
  DeviceBuffer<float> out(*p.gpu, 16);
  REQUIRE(p.gpu->embed(t.w, ids.get(), out.get(), 2).ok());
  std::vector<float> host(16);
  const sb::Status s = p.gpu->copy_to_host(host.data(), out.get(), 64);
  CHECK(!s.ok());
  CHECK(s.message().find("embed") != std::string::npos);
  ids.set({1, 4});
  REQUIRE(p.gpu->embed(t.w, ids.get(), out.get(), 2).ok());
  CHECK(p.gpu->copy_to_host(host.data(), out.get(), 64).ok());
  CHECK(std::equal(host.begin(), host.begin() + 8, table.values.begin() + 8));
}

TEST_CASE("cuda rms_norm, silu_mul, add: row widths 1, 7, 300, 4097") {
  Pair p;
  std::mt19937 rng(5);
  for (int64_t dim : {1, 7, 300, 4097})
    for (int64_t n : kRowCounts) {
      CAPTURE(dim);
      CAPTURE(n);
      const HostWeight w = make_weight(rng, DType::kF32, 1, dim);
      const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * dim), 3.0f);
      const std::vector<float> y = random_floats(rng, static_cast<size_t>(n * dim), 3.0f);
      std::vector<float> norm[2], silu[2], sum[2];
      sb::Backend* backends[2] = {p.cpu.get(), p.gpu.get()};
      for (int i = 0; i < 2; ++i) {
        Uploaded uw(*backends[i], w.view);
        DeviceBuffer<float> dx(*backends[i], x), dy(*backends[i], y), out(*backends[i], x.size());
        out.poison();
        REQUIRE(backends[i]->rms_norm(dx.get(), uw.w, out.get(), n, 1e-5f).ok());
        norm[i] = out.get_host();
        REQUIRE(backends[i]->rms_norm(dx.get(), uw.w, dx.get(), n, 1e-5f).ok());  // in place
        CHECK(dx.get_host() == norm[i]);
        dx.set(x);
        out.poison();
        REQUIRE(backends[i]->silu_mul(dx.get(), dy.get(), out.get(), n * dim).ok());
        silu[i] = out.get_host();
        REQUIRE(backends[i]->add(dx.get(), dy.get(), n * dim).ok());
        sum[i] = dx.get_host();
      }
      check_close(norm[1], norm[0], 1e-5, 1e-3);  // sums of up to 4097 squares in another order
      check_close(silu[1], silu[0], 2e-6, 1e-6);
      check_close(sum[1], sum[0], 0.0);
    }
}

TEST_CASE("cuda rope: both layouts, head_dim 6 and 128, positions up to 40000, YaRN factor") {
  Pair p;
  std::mt19937 rng(6);
  for (sb::RopeStyle style : {sb::RopeStyle::kInterleaved, sb::RopeStyle::kHalf})
    for (int64_t hd : {6, 128})
      for (int64_t n : kRowCounts)
        for (float attn_factor : {1.0f, 1.2f}) {
          const int64_t n_heads = 3;
          std::vector<float> inv_freq(static_cast<size_t>(hd / 2));
          for (size_t i = 0; i < inv_freq.size(); ++i)
            inv_freq[i] = static_cast<float>(std::pow(10000.0, -2.0 * static_cast<double>(i) / hd));
          std::vector<int32_t> pos(static_cast<size_t>(n));
          for (auto& q : pos) q = static_cast<int32_t>(rng() % 40000);
          const std::vector<float> x = random_floats(rng, static_cast<size_t>(n * n_heads * hd));
          std::vector<float> out[2];
          sb::Backend* backends[2] = {p.cpu.get(), p.gpu.get()};
          for (int i = 0; i < 2; ++i) {
            DeviceBuffer<float> dx(*backends[i], x), df(*backends[i], inv_freq);
            DeviceBuffer<int32_t> dp(*backends[i], pos);
            REQUIRE(backends[i]->rope(dx.get(), dp.get(), df.get(), n, n_heads, hd, style, attn_factor).ok());
            out[i] = dx.get_host();
          }
          check_close(out[1], out[0], 2e-6, 1.0);
        }
}

TEST_CASE("cuda kv_store: rows land in their slots, other slots untouched") {
  Pair p;
  std::mt19937 rng(7);
  for (int64_t n : kRowCounts) {
    const int64_t kv_dim = 24, n_slots = 40;
    std::vector<int32_t> slots(static_cast<size_t>(n_slots));
    std::iota(slots.begin(), slots.end(), 0);
    std::shuffle(slots.begin(), slots.end(), rng);
    slots.resize(static_cast<size_t>(n));
    const std::vector<float> k = random_floats(rng, static_cast<size_t>(n * kv_dim));
    const std::vector<float> v = random_floats(rng, static_cast<size_t>(n * kv_dim));
    const std::vector<float> cache = random_floats(rng, static_cast<size_t>(n_slots * kv_dim));
    std::vector<float> kc[2], vc[2];
    sb::Backend* backends[2] = {p.cpu.get(), p.gpu.get()};
    for (int i = 0; i < 2; ++i) {
      DeviceBuffer<float> dk(*backends[i], k), dv(*backends[i], v), dkc(*backends[i], cache), dvc(*backends[i], cache);
      DeviceBuffer<int32_t> ds(*backends[i], slots);
      REQUIRE(backends[i]->kv_store(dk.get(), dv.get(), ds.get(), dkc.get(), dvc.get(), n, kv_dim, n_slots).ok());
      kc[i] = dkc.get_host();
      vc[i] = dvc.get_host();
    }
    check_close(kc[1], kc[0], 0.0);
    check_close(vc[1], vc[0], 0.0);
  }
}

namespace {

struct AttentionShape {
  int64_t n_head, n_kv_head, head_dim, block_size;
};

// Sequences of the given lengths, each querying its last q_counts[s] positions
// (decode 1, verification of drafts, prefill chunks); tokens interleaved across
// sequences; blocks taken from a shuffled pool.
void check_attention(Pair& p, std::mt19937& rng, const AttentionShape& shape, const std::vector<int>& lengths,
                     const std::vector<int>& q_counts) {
  CAPTURE(shape.n_head);
  CAPTURE(shape.n_kv_head);
  CAPTURE(shape.head_dim);
  CAPTURE(shape.block_size);
  const int64_t n_seqs = static_cast<int64_t>(lengths.size());
  const int64_t bs = shape.block_size;
  int64_t max_blocks = 0, total_blocks = 0;
  for (int len : lengths) {
    max_blocks = std::max<int64_t>(max_blocks, (len + bs - 1) / bs);
    total_blocks += (len + bs - 1) / bs;
  }
  const int64_t n_blocks = total_blocks + 3;  // spare blocks nobody reads
  std::vector<int32_t> pool(static_cast<size_t>(n_blocks));
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(n_seqs * max_blocks), -1);
  size_t next = 0;
  for (int64_t s = 0; s < n_seqs; ++s)
    for (int64_t b = 0; b * bs < lengths[static_cast<size_t>(s)]; ++b)
      tables[static_cast<size_t>(s * max_blocks + b)] = pool[next++];
  std::vector<int32_t> pos, token_seq;
  for (int round = 0;; ++round) {
    bool any = false;
    for (int64_t s = 0; s < n_seqs; ++s) {
      const int q = q_counts[static_cast<size_t>(s)];
      if (round >= q) continue;
      any = true;
      pos.push_back(lengths[static_cast<size_t>(s)] - q + round);
      token_seq.push_back(static_cast<int32_t>(s));
    }
    if (!any) break;
  }
  const int64_t n_tokens = static_cast<int64_t>(pos.size());
  const int64_t n_slots = n_blocks * bs, kv_dim = shape.n_kv_head * shape.head_dim;
  const int64_t q_dim = shape.n_head * shape.head_dim;
  const std::vector<float> q = random_floats(rng, static_cast<size_t>(n_tokens * q_dim), 2.0f);
  const std::vector<float> kc = random_floats(rng, static_cast<size_t>(n_slots * kv_dim), 2.0f);
  const std::vector<float> vc = random_floats(rng, static_cast<size_t>(n_slots * kv_dim));
  std::vector<float> out[2];
  sb::Backend* backends[2] = {p.cpu.get(), p.gpu.get()};
  for (int i = 0; i < 2; ++i) {
    DeviceBuffer<float> dq(*backends[i], q), dk(*backends[i], kc), dv(*backends[i], vc),
        dout(*backends[i], static_cast<size_t>(n_tokens * q_dim));
    DeviceBuffer<int32_t> dpos(*backends[i], pos), dseq(*backends[i], token_seq), dt(*backends[i], tables);
    dout.poison();
    sb::AttentionOp op;
    op.q = dq.get();
    op.k_cache = dk.get();
    op.v_cache = dv.get();
    op.pos = dpos.get();
    op.token_seq = dseq.get();
    op.block_tables = dt.get();
    op.out = dout.get();
    op.n_tokens = n_tokens;
    op.n_seqs = n_seqs;
    op.n_head = shape.n_head;
    op.n_kv_head = shape.n_kv_head;
    op.head_dim = shape.head_dim;
    op.block_size = bs;
    op.max_blocks = max_blocks;
    op.n_slots = n_slots;
    op.scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
    const sb::Status s = backends[i]->attention(op);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    out[i] = dout.get_host();
  }
  check_close(out[1], out[0], 1e-5, 1.0);  // outputs are convex combinations of V in [-1, 1]
}

}  // namespace

TEST_CASE("cuda attention: ragged decode, verification and prefill tokens over paged blocks, GQA") {
  Pair p;
  std::mt19937 rng(8);
  const AttentionShape shapes[] = {{8, 2, 64, 16}, {4, 4, 8, 5}, {6, 3, 96, 7}, {2, 1, 128, 16}, {4, 2, 256, 1}};
  for (const AttentionShape& shape : shapes) {
    check_attention(p, rng, shape, {1}, {1});
    check_attention(p, rng, shape, {17, 5, 33}, {1, 5, 4});
    std::vector<int> lengths, q_counts;
    for (int s = 0; s < 17; ++s) {
      lengths.push_back(1 + (s * 37) % 300);
      q_counts.push_back(std::min(lengths.back(), s % 3 == 0 ? 1 : s % 3 == 1 ? 4 : 23));
    }
    check_attention(p, rng, shape, lengths, q_counts);
  }
}
