// formats/widen_model: the widened stories260K computes the same function. Its
// greedy text from BOS equals stories260K's published reference text, and its
// logits along that sequence stay within 1e-4 (relative to the row's largest)
// of stories260K's own, for a head-dim-preserving and a head-dim-64 widening.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/modelgen/widen_model.h"
#include "core/sampler.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {

const std::string kModel = sb::test::shared_path("models/stories260K.gguf");

struct Greedy {
  std::vector<int32_t> tokens;  // generated after BOS
  std::vector<float> logits;    // [tokens.size(), n_vocab]
};

// Greedy decoding from BOS, one token per forward, up to `steps` tokens (stopping at BOS).
Greedy greedy_from_bos(const std::string& path, int steps) {
  auto model = sb::load_model(path);
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  auto backend = sb::make_cpu_backend(2);
  sb::KvCache kv((steps + 15) / 16, 16, 1, steps);
  auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{1, 1, 1});
  REQUIRE(fwd.ok());
  const int seq = kv.seq_create();
  const int n_vocab = model->config.n_vocab;
  std::vector<float> logits(static_cast<size_t>(n_vocab));
  Greedy g;
  int32_t token = model->config.bos_id;
  for (int pos = 0; pos < steps; ++pos) {
    REQUIRE(kv.seq_grow(seq, pos + 1));
    const int32_t p = pos, row = 0;
    REQUIRE((*fwd)->run(sb::ForwardBatch{std::span(&token, 1), std::span(&p, 1), std::span(&seq, 1),
                                         std::span(&row, 1)},
                        kv, logits.data())
                .ok());
    g.logits.insert(g.logits.end(), logits.begin(), logits.end());
    token = sb::argmax(logits.data(), n_vocab);
    if (token == model->config.bos_id) break;
    g.tokens.push_back(token);
  }
  return g;
}

std::string decode(const std::vector<int32_t>& tokens) {
  auto tok = sb::Tokenizer::load(kModel);
  REQUIRE(tok.ok());
  sb::StreamDecoder decoder(**tok);
  std::string text;
  for (int32_t t : tokens) text += decoder.push(t);
  return text + decoder.finish() + "\n";
}

}  // namespace

TEST_CASE("widen_model: the widened stories260K generates the same text with the same logits") {
  const Greedy base = greedy_from_bos(kModel, 256);
  CHECK(decode(base.tokens) == sb::test::read_file(sb::test::shared_path("models/stories260K.greedy.txt")));
  const std::string dir = sb::test::scratch_dir("widen_model");
  struct Case {
    sb::WidenShape shape;
    int steps;
  };
  // Source: dim 64, 5 layers, 8 heads of 8, 4 kv heads, ffn 172.
  for (const Case& c : {Case{{96, 7, 200, 8}, 256}, Case{{640, 6, 256, 64}, 48}}) {
    CAPTURE(c.shape.dim);
    const std::string path = dir + "/wide" + std::to_string(c.shape.dim) + ".gguf";
    const sb::Status s = sb::write_widened_model(kModel, path, c.shape, 7);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    auto wide_model = sb::load_model(path);
    REQUIRE(wide_model.ok());
    CHECK(wide_model->config.dim == c.shape.dim);
    CHECK(wide_model->config.n_layer == c.shape.n_layer);
    CHECK(wide_model->config.ffn_dim == c.shape.ffn_dim);
    CHECK(wide_model->config.head_dim == c.shape.head_dim);
    CHECK(wide_model->config.n_head == 2 * wide_model->config.n_kv_head);
    const Greedy wide = greedy_from_bos(path, c.steps);
    const size_t n = std::min(base.tokens.size(), static_cast<size_t>(c.steps));
    REQUIRE(wide.tokens.size() >= n);
    CHECK(std::equal(base.tokens.begin(), base.tokens.begin() + static_cast<std::ptrdiff_t>(n), wide.tokens.begin()));
    const size_t n_vocab = 512;
    double worst = 0;
    for (size_t row = 0; row < n; ++row) {
      float largest = 0, diff = 0;
      for (size_t i = row * n_vocab; i < (row + 1) * n_vocab; ++i) {
        largest = std::max(largest, std::fabs(base.logits[i]));
        diff = std::max(diff, std::fabs(base.logits[i] - wide.logits[i]));
      }
      worst = std::max(worst, static_cast<double>(diff / largest));
    }
    MESSAGE("largest relative logit difference: " << worst);
    CHECK(worst < 1e-4);
  }
}

TEST_CASE("widen_model: matrices in the asked dtype, vectors F32; quantized ones need whole blocks") {
  const std::string dir = sb::test::scratch_dir("widen_model_dtype");
  const std::string path = dir + "/wide.gguf";
  for (const auto& [type, dtype] : {std::pair{sb::gguf::TensorType::kBF16, sb::DType::kBF16},
                                    std::pair{sb::gguf::TensorType::kQ8_0, sb::DType::kQ8_0}}) {
    CAPTURE(sb::dtype_name(dtype));
    const sb::Status s = sb::write_widened_model(kModel, path, sb::WidenShape{128, 6, 256, 16}, 7, type);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    auto m = sb::load_model(path);
    REQUIRE(m.ok());
    CHECK(m->weights.layers[5].w_down.dtype == dtype);
    CHECK(m->weights.lm_head.dtype == dtype);
    CHECK(m->weights.layers[0].attn_norm.dtype == sb::DType::kF32);
  }
  const sb::Status odd = sb::write_widened_model(kModel, path, sb::WidenShape{96, 6, 200, 8}, 7,
                                                 sb::gguf::TensorType::kQ4_0);  // ffn 200 is not whole blocks of 32
  CHECK(odd.code() == sb::StatusCode::kInvalidArgument);
  CHECK(odd.message().find("multiples of 32") != std::string::npos);
}

TEST_CASE("widen_model: shapes that cannot compute the same function are refused") {
  const std::string dir = sb::test::scratch_dir("widen_model_bad");
  for (const sb::WidenShape& bad : {sb::WidenShape{32, 5, 172, 8}, sb::WidenShape{64, 4, 172, 8},
                                    sb::WidenShape{64, 5, 100, 8}, sb::WidenShape{96, 5, 172, 12},
                                    sb::WidenShape{72, 5, 172, 8}, sb::WidenShape{64, 5, 172, 16}}) {
    const sb::Status s = sb::write_widened_model(kModel, dir + "/bad.gguf", bad, 1);
    CHECK_MESSAGE(s.code() == sb::StatusCode::kInvalidArgument, s.to_string());
  }
  auto shape = sb::parse_widen_shape("768,16,2048");
  REQUIRE(shape.ok());
  CHECK(shape->dim == 768);
  CHECK(shape->n_layer == 16);
  CHECK(shape->ffn_dim == 2048);
  CHECK(shape->head_dim == 64);
  auto with_head = sb::parse_widen_shape("128,6,256,16");
  REQUIRE(with_head.ok());
  CHECK(with_head->head_dim == 16);
  for (const char* spec : {"", "768", "768,16", "768,16,2048,64,1", "768,x,2048", "768,16,0", "768,16,-3", "768,,2048"})
    CHECK_MESSAGE(!sb::parse_widen_shape(spec).ok(), spec);
}
