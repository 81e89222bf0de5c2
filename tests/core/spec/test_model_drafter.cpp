// Model drafters: a draft cache kept in step with the request's tokens equals
// a fresh one after accepts, rejections, skips and releases; drafting stops at
// the calibrated-survival early stop; draft models load as self:q8_0/q4_0
// (quantized within bounds) or as a file whose vocabulary must match.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/model/model.h"
#include "core/spec/confidence_policy.h"
#include "core/spec/model_drafter.h"
#include "core/tokenizer/tokenizer.h"
#include "core/spec/spec_test_util.h"

namespace {

using sb::test::draft_model;
using sb::test::draft_spec;
using sb::test::kStories;
using sb::test::load;
using sb::test::Loaded;
using sb::test::qwen3_shape;

}  // namespace

TEST_CASE("model drafter: a draft kept in step equals a fresh draft after accepts, rejections, skips and releases") {
  const std::string path = sb::test::scratch_dir("speculative_sync") + "/target.gguf";
  REQUIRE(sb::write_random_model(path, qwen3_shape(32, 2, 4, 2), 5).ok());
  Loaded l = load(path);
  sb::DrafterLimits limits;
  limits.max_k = 4;
  limits.max_seqs = 3;
  limits.max_ctx = 160;
  limits.max_batch_tokens = 16;  // catch-up runs in chunks
  limits.kv_cache_tokens = 3 * 160;
  limits.kv_block_size = 4;
  auto kept = sb::ModelDrafter::create(l.model, *l.backend, limits, 300);
  auto fresh = sb::ModelDrafter::create(l.model, *l.backend, limits, 300);
  REQUIRE(kept.ok());
  REQUIRE(fresh.ok());
  const sb::SamplingParams greedy{0.0f, 1.0f, 0, 0.0f, 0}, sampled{0.8f, 0.95f, 0, 0.0f, 3};
  std::vector<std::vector<int32_t>> tokens = {{1, 5, 9, 14, 3}, {}, {}};
  for (int t = 0; t < 23; ++t) tokens[1].push_back(3 + (t * 37) % 290);
  for (int t = 0; t < 40; ++t) tokens[2].push_back(3 + (t * 11) % 290);
  std::vector<sb::Draft> got(3), want(3);
  int rejections = 0;
  for (int round = 0; round < 14; ++round) {
    INFO("round " << round);
    std::vector<sb::DraftRequest> reqs, ref;
    for (size_t m = 0; m < 3; ++m) {
      if ((round + static_cast<int>(m)) % 5 == 4) continue;  // not drafting this step
      const int k = 1 + (round + static_cast<int>(m)) % 4;
      const sb::SamplingParams* sp = m == 1 ? &sampled : &greedy;
      reqs.push_back({10 + m, tokens[m], k, sp, m, &got[m]});
      ref.push_back({10 + m, tokens[m], k, sp, m, &want[m]});
      (*fresh)->release(10 + m);
    }
    REQUIRE((*kept)->propose(reqs, sb::DraftStop{}).ok());
    REQUIRE((*fresh)->propose(ref, sb::DraftStop{}).ok());
    for (const sb::DraftRequest& r : reqs) {
      const size_t m = r.id - 10;
      INFO("request " << m);
      REQUIRE(got[m].size() == r.k);
      CHECK(got[m].tokens == want[m].tokens);
      CHECK(got[m].confidence == want[m].confidence);
      CHECK(got[m].q_begin == want[m].q_begin);
      // What the target might do: accept a prefix, then its own token (a
      // rejection where it differs from the draft).
      const int n_accepted = (round * 3 + static_cast<int>(m)) % (r.k + 1);
      for (int j = 0; j < n_accepted; ++j) tokens[m].push_back(got[m].tokens[static_cast<size_t>(j)]);
      const int32_t next = 3 + (round * 53 + static_cast<int>(m) * 7) % 290;
      rejections += n_accepted < r.k && next != got[m].tokens[static_cast<size_t>(n_accepted)];
      tokens[m].push_back(next);
    }
    for (size_t m = 0; m < 3; ++m)
      if ((round + static_cast<int>(m)) % 5 == 4) tokens[m].push_back(3 + round);  // verified elsewhere
    if (round == 6) (*kept)->release(11);  // preempted: recomputed from scratch
  }
  CHECK(rejections > 5);
}

TEST_CASE("model drafter: drafting stops once the calibrated survival falls under the marginal") {
  Loaded l = load(kStories);
  sb::DrafterLimits limits;
  limits.max_k = 8;
  limits.max_seqs = 4;
  limits.max_ctx = 256;
  limits.kv_cache_tokens = 4 * 256;
  auto d = sb::ModelDrafter::create(draft_model("self:q8_0", l), *l.backend, limits, l.model.config.n_vocab);
  REQUIRE(d.ok());
  const sb::ConfidenceCalibrator calibrator(8);  // no observations: calibrated == raw
  const sb::SamplingParams greedy{0.0f, 1.0f, 0, 0.0f, 0};
  std::vector<std::vector<int32_t>> prompts = {l.tok->encode("Once upon a time", true),
                                               l.tok->encode("The dog ran. The dog", true),
                                               l.tok->encode("Lily wanted", true)};
  std::vector<sb::Draft> out(3);
  for (double threshold : {0.0, 0.3, 0.6, 0.9, 1.1}) {
    INFO("threshold " << threshold);
    std::vector<sb::DraftRequest> reqs;
    for (size_t m = 0; m < 3; ++m) reqs.push_back({m, prompts[m], 8, &greedy, m, &out[m]});
    REQUIRE((*d)->propose(reqs, sb::DraftStop{&calibrator, threshold}).ok());
    for (size_t m = 0; m < 3; ++m) {
      // The draft runs until the product of confidences drops under the threshold (that token included).
      double a = 1;
      int want = 0;
      while (want < 8) {
        const float raw = out[m].confidence[static_cast<size_t>(std::min(want, out[m].size() - 1))];
        a *= calibrator.calibrated(sb::DraftRegime::kGreedy, want, raw);
        ++want;
        if (a < threshold) break;
      }
      CHECK(out[m].size() == want);
      if (threshold == 0.0) CHECK(out[m].size() == 8);
      if (threshold > 1.0) CHECK(out[m].size() == 1);
    }
  }
}

TEST_CASE("draft models: self: kinds, vocabulary mismatch names the first differing token") {
  Loaded l = load(kStories);
  const std::string dir = sb::test::scratch_dir("speculative_vocab");
  sb::RandomModelShape shape;
  shape.n_vocab = l.model.config.n_vocab;
  REQUIRE(sb::write_random_model(dir + "/same_size.gguf", shape, 1).ok());
  auto other_tok = sb::Tokenizer::load(dir + "/same_size.gguf");
  REQUIRE(other_tok.ok());
  int first = 0;
  while (first < shape.n_vocab && (*other_tok)->token_piece(first) == l.tok->token_piece(first)) ++first;
  REQUIRE(first < shape.n_vocab);
  auto mismatch = sb::load_draft_model(draft_spec(dir + "/same_size.gguf"), l.model, *l.tok);
  REQUIRE(!mismatch.ok());
  const std::string msg = mismatch.status().message();
  CHECK(msg.find("token id " + std::to_string(first) + ":") != std::string::npos);
  CHECK(msg.find("'" + (*other_tok)->token_piece(first) + "' in the draft") != std::string::npos);
  CHECK(msg.find("'" + l.tok->token_piece(first) + "' in the target") != std::string::npos);
  // Same pieces, more of them: the first id only one side has.
  shape.n_vocab = 300;
  REQUIRE(sb::write_random_model(dir + "/v300.gguf", shape, 1).ok());
  shape.n_vocab = 310;
  REQUIRE(sb::write_random_model(dir + "/v310.gguf", shape, 2).ok());
  Loaded v300 = load(dir + "/v300.gguf");
  auto longer = sb::load_draft_model(draft_spec(dir + "/v310.gguf"), v300.model, *v300.tok);
  REQUIRE(!longer.ok());
  CHECK(longer.status().message().find("first differing token id is 300") != std::string::npos);
  CHECK(!sb::load_draft_model(draft_spec(dir + "/missing.gguf"), l.model, *l.tok).ok());
  // self:q8_0 / self:q4_0 store the projections and the head quantized, each
  // element within half a quantization step of the original (Q4_0: a whole
  // step where the range's far end is clamped), plus the f16 scale's rounding.
  for (sb::DType dtype : {sb::DType::kQ8_0, sb::DType::kQ4_0}) {
    const sb::Model q = draft_model(dtype == sb::DType::kQ8_0 ? "self:q8_0" : "self:q4_0", l);
    const sb::TensorView& src = l.model.weights.layers[0].w_up;
    const sb::TensorView& dst = q.weights.layers[0].w_up;
    REQUIRE(dst.dtype == dtype);
    CHECK(q.weights.lm_head.dtype == dtype);
    CHECK(q.weights.tok_embd.data == l.model.weights.tok_embd.data);
    CHECK(q.weights.out_norm.data == l.model.weights.out_norm.data);
    std::vector<float> a(static_cast<size_t>(src.cols)), b(a.size());
    for (int64_t r = 0; r < src.rows; ++r) {
      sb::dequantize_row(src.dtype, src.row(r), a.data(), src.cols);
      sb::dequantize_row(dst.dtype, dst.row(r), b.data(), dst.cols);
      for (size_t g = 0; g < a.size(); g += 32) {
        float amax = 0;
        for (size_t i = g; i < g + 32; ++i) amax = std::max(amax, std::fabs(a[i]));
        const float bound = dtype == sb::DType::kQ8_0 ? 0.5f * amax / 127 : amax / 8;
        for (size_t i = g; i < g + 32; ++i) REQUIRE(std::fabs(a[i] - b[i]) <= bound + 1e-3f * amax + 1e-7f);
      }
    }
  }
}
