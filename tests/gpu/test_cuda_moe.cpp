// The CUDA mixture-of-experts ops against the CPU backend: routing and grouping
// equal (ties included), grouped matmuls of every weight dtype and the weighted
// sum within rounding; outputs poisoned with NaN before each run.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include "core/base/tensor.h"
#include "gpu_test_util.h"

namespace {

using sb::DType;
using sb::test::check_close;
using sb::test::DeviceBuffer;
using sb::test::random_floats;

struct Routed {
  std::vector<int32_t> choice_expert, expert_rows, row_token, choice_row;
  std::vector<float> weights;
};

Routed route(sb::Backend& b, const std::vector<float>& logits, int64_t n_tokens, int64_t n_expert, int64_t n_used) {
  const size_t pairs = static_cast<size_t>(n_tokens * n_used);
  DeviceBuffer<float> dl(b, logits), w(b, pairs);
  DeviceBuffer<int32_t> ce(b, pairs), er(b, static_cast<size_t>(n_expert + 1)), rt(b, pairs), cr(b, pairs);
  w.poison();
  sb::MoeRouteOp op;
  op.logits = dl.get();
  op.choice_expert = ce.get();
  op.weights = w.get();
  op.expert_rows = er.get();
  op.row_token = rt.get();
  op.choice_row = cr.get();
  op.n_tokens = n_tokens;
  op.n_expert = n_expert;
  op.n_used = n_used;
  REQUIRE(b.moe_route(op).ok());
  return Routed{ce.get_host(), er.get_host(), rt.get_host(), cr.get_host(), w.get_host()};
}

}  // namespace

TEST_CASE("cuda moe_route: the CPU's choices (ties to the lower expert), grouping and weights") {
  std::unique_ptr<sb::Backend> cpu = sb::make_cpu_backend(2), gpu = sb::test::cuda_backend();
  std::mt19937 rng(3);
  for (int64_t n_tokens : {1, 3, 17, 300})
    for (auto [n_expert, n_used] : {std::pair<int64_t, int64_t>{8, 2}, {128, 8}, {256, 8}}) {
      CAPTURE(n_tokens);
      CAPTURE(n_expert);
      std::vector<float> logits = random_floats(rng, static_cast<size_t>(n_tokens * n_expert), 4.0f);
      for (int64_t e = 0; e < n_expert; ++e) logits[static_cast<size_t>(e)] = 0.0f;  // token 0: all tie
      if (n_tokens > 1) logits[static_cast<size_t>(n_expert + 5)] = logits[static_cast<size_t>(n_expert + 1)];
      const Routed want = route(*cpu, logits, n_tokens, n_expert, n_used);
      const Routed got = route(*gpu, logits, n_tokens, n_expert, n_used);
      CHECK(got.choice_expert == want.choice_expert);
      CHECK(got.expert_rows == want.expert_rows);
      CHECK(got.row_token == want.row_token);
      CHECK(got.choice_row == want.choice_row);
      check_close(got.weights, want.weights, 1e-6);
    }
}

TEST_CASE("cuda moe_matmul and moe_combine: every weight dtype, empty experts skipped") {
  std::unique_ptr<sb::Backend> cpu = sb::make_cpu_backend(2), gpu = sb::test::cuda_backend();
  std::mt19937 rng(4);
  const int64_t n_expert = 6, n_used = 2, k = 96, m = 37;
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0})
    for (int64_t n_tokens : {1, 3, 17}) {
      CAPTURE(sb::dtype_name(dtype));
      CAPTURE(n_tokens);
      std::vector<std::vector<uint8_t>> bytes(n_expert);
      std::vector<sb::TensorView> views(n_expert);
      for (int64_t e = 0; e < n_expert; ++e) {
        const std::vector<float> src = random_floats(rng, static_cast<size_t>(m * k));
        bytes[e].resize(static_cast<size_t>(m) * sb::dtype_row_bytes(dtype, k));
        for (int64_t r = 0; r < m; ++r) {
          uint8_t* out = bytes[e].data() + static_cast<size_t>(r) * sb::dtype_row_bytes(dtype, k);
          const float* in = src.data() + r * k;
          if (dtype == DType::kF32) {
            std::memcpy(out, in, static_cast<size_t>(k) * 4);
          } else if (dtype == DType::kF16 || dtype == DType::kBF16) {
            for (int64_t c = 0; c < k; ++c) {
              const uint16_t h = dtype == DType::kF16 ? sb::f32_to_f16(in[c]) : sb::f32_to_bf16(in[c]);
              std::memcpy(out + 2 * c, &h, 2);
            }
          } else {
            sb::quantize_row(dtype, in, out, k);
          }
        }
        views[e] = sb::TensorView{"expert", dtype, m, k, bytes[e].data()};
      }
      // Experts 1 and 4 get no tokens.
      std::vector<float> logits = random_floats(rng, static_cast<size_t>(n_tokens * n_expert));
      for (int64_t t = 0; t < n_tokens; ++t) logits[t * n_expert + 1] = logits[t * n_expert + 4] = -100.0f;
      const std::vector<float> x = random_floats(rng, static_cast<size_t>(n_tokens * k));
      std::vector<float> y[2], out[2];
      sb::Backend* backends[2] = {cpu.get(), gpu.get()};
      for (int i = 0; i < 2; ++i) {
        sb::Backend& b = *backends[i];
        std::vector<sb::DeviceWeight> experts;
        for (const sb::TensorView& v : views) {
          auto u = b.upload_weight(v);
          REQUIRE(u.ok());
          experts.push_back(*u);
        }
        const Routed r = route(b, logits, n_tokens, n_expert, n_used);
        const int64_t pairs = n_tokens * n_used;
        DeviceBuffer<float> dx(b, x), xs(b, static_cast<size_t>(pairs * k)), ys(b, static_cast<size_t>(pairs * m)),
            dout(b, static_cast<size_t>(n_tokens * m)), w(b, r.weights);
        DeviceBuffer<int32_t> rows(b, r.expert_rows), tok(b, r.row_token), cr(b, r.choice_row);
        ys.poison();
        dout.poison();
        REQUIRE(b.gather_rows(dx.get(), tok.get(), xs.get(), pairs, n_tokens, k).ok());
        REQUIRE(b.moe_matmul(xs.get(), experts.data(), n_expert, rows.get(), ys.get(), pairs).ok());
        REQUIRE(b.moe_combine(ys.get(), cr.get(), w.get(), dout.get(), n_tokens, n_used, m).ok());
        y[i] = ys.get_host();
        out[i] = dout.get_host();
        for (const sb::DeviceWeight& e : experts) b.release_weight(e);
      }
      // Both dequantize the same weights exactly and multiply F32 activations: only the summation order differs.
      check_close(y[1], y[0], 1e-5, 1.0);
      check_close(out[1], out[0], 1e-5, 1.0);
    }
}

TEST_CASE("cuda moe ops refuse more experts than a grouped matmul takes") {
  std::unique_ptr<sb::Backend> gpu = sb::test::cuda_backend();
  DeviceBuffer<float> buf(*gpu, 1024);
  DeviceBuffer<int32_t> ints(*gpu, 1024);
  sb::MoeRouteOp op;
  op.logits = buf.get();
  op.choice_expert = op.expert_rows = op.row_token = op.choice_row = ints.get();
  op.weights = buf.get();
  op.n_tokens = 1;
  op.n_expert = 300;
  op.n_used = 2;
  CHECK(gpu->moe_route(op).code() == sb::StatusCode::kUnsupported);
}
