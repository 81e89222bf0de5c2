// core/modelgen/random_model: a head dim other than dim / n_head and BF16
// matrices (the qwen3-4b benchmark shape's features) load as written: the
// BF16 file holds the F32 file's values rounded to BF16, and both compute
// nearly the same logits.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {

sb::RandomModelShape small_qwen3(bool bf16) {
  sb::RandomModelShape s;
  s.dim = 48;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_kv_head = 2;
  s.head_dim = 16;  // q rows 64 != dim
  s.ffn_dim = 96;
  s.qwen3 = true;
  s.bf16 = bf16;
  return s;
}

std::vector<float> first_logits(const sb::Model& model) {
  auto backend = sb::make_cpu_backend(1);
  sb::KvCache kv(1, 16, 1, 16);
  auto fwd = sb::Forward::create(model, *backend, kv, sb::ForwardLimits{3, 1, 1});
  REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
  const int seq = kv.seq_create();
  REQUIRE(kv.seq_grow(seq, 3));
  const int32_t ids[3] = {1, 300, 301}, pos[3] = {0, 1, 2}, seqs[3] = {seq, seq, seq}, row = 2;
  std::vector<float> logits(static_cast<size_t>(model.config.n_vocab));
  const sb::Status s = (*fwd)->run(sb::ForwardBatch{ids, pos, seqs, std::span(&row, 1)}, kv, logits.data());
  REQUIRE_MESSAGE(s.ok(), s.to_string());
  return logits;
}

}  // namespace

TEST_CASE("random model: head_dim apart from dim / n_head, and BF16 matrices holding the F32 values rounded") {
  const std::string dir = sb::test::scratch_dir("random_model");
  REQUIRE(sb::write_random_model(dir + "/f32.gguf", small_qwen3(false), 11).ok());
  REQUIRE(sb::write_random_model(dir + "/bf16.gguf", small_qwen3(true), 11).ok());
  auto f32 = sb::load_model(dir + "/f32.gguf");
  auto bf16 = sb::load_model(dir + "/bf16.gguf");
  REQUIRE_MESSAGE(f32.ok(), f32.status().to_string());
  REQUIRE_MESSAGE(bf16.ok(), bf16.status().to_string());
  CHECK(bf16->config.head_dim == 16);
  CHECK(bf16->config.dim == 48);
  const sb::TensorView& wq = bf16->weights.layers[1].wq;
  CHECK(wq.dtype == sb::DType::kBF16);
  CHECK(wq.rows == 64);
  CHECK(bf16->weights.layers[1].attn_norm.dtype == sb::DType::kF32);
  const sb::TensorView& wq32 = f32->weights.layers[1].wq;
  std::vector<float> a(static_cast<size_t>(wq.cols)), b(a.size());
  for (int64_t r : {int64_t{0}, wq.rows - 1}) {
    sb::dequantize_row(wq.dtype, wq.row(r), a.data(), wq.cols);
    sb::dequantize_row(wq32.dtype, wq32.row(r), b.data(), wq32.cols);
    for (size_t i = 0; i < a.size(); ++i) {
      const uint16_t h = sb::f32_to_bf16(b[i]);
      float rounded;
      sb::dequantize_row(sb::DType::kBF16, &h, &rounded, 1);
      REQUIRE(a[i] == rounded);
    }
  }
  const std::vector<float> la = first_logits(*f32), lb = first_logits(*bf16);
  float scale = 0;
  for (float x : la) scale = std::max(scale, std::fabs(x));
  for (size_t i = 0; i < la.size(); ++i) CHECK(std::fabs(la[i] - lb[i]) <= 0.05f * scale);
}
