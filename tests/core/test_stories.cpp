// stories260K.gguf, greedy from BOS with no prompt, reproduces the published
// greedy text (../shared/models/stories260K.greedy.txt: llama2.c-style 256 steps,
// i.e. 256 tokens after BOS, stopping early if the model emits BOS, then a newline).
// Also the Generator's stop strings, limits and seeding.
#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "core/forward.h"
#include "core/generate.h"
#include "core/kv_cache.h"
#include "core/model.h"
#include "core/sampler.h"
#include "core/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {
const std::string kModel = sb::test::shared_path("models/stories260K.gguf");
const std::string kGreedy = sb::test::shared_path("models/stories260K.greedy.txt");
}  // namespace

TEST_CASE("stories260K greedy from BOS reproduces the reference text") {
  auto model = sb::load_model(kModel);
  REQUIRE_MESSAGE(model.ok(), model.status().to_string());
  auto tok = sb::Tokenizer::load(kModel);
  REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
  const int bos = (*tok)->bos_id();
  REQUIRE(bos == 1);
  auto backend = sb::make_cpu_backend(2);
  const int max_ctx = model->config.max_ctx;
  sb::KvCache kv((max_ctx + 15) / 16, 16, 1, max_ctx);
  auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{1, 1, 1});
  REQUIRE(fwd.ok());
  const int seq = kv.seq_create();
  std::vector<float> logits(static_cast<size_t>(model->config.n_vocab));
  sb::StreamDecoder decoder(**tok);
  std::string text;
  int32_t token = bos;
  const int steps = 256;
  REQUIRE(steps <= max_ctx);
  for (int pos = 0; pos < steps; ++pos) {
    REQUIRE(kv.seq_grow(seq, pos + 1));
    const int32_t p = pos, row = 0;
    REQUIRE((*fwd)->run(sb::ForwardBatch{std::span(&token, 1), std::span(&p, 1), std::span(&seq, 1),
                                         std::span(&row, 1)},
                        kv, logits.data())
                .ok());
    token = sb::argmax(logits.data(), model->config.n_vocab);
    if (token == bos) break;
    text += decoder.push(token);
  }
  text += decoder.finish() + "\n";
  const std::string want = sb::test::read_file(kGreedy);
  REQUIRE(!want.empty());
  CHECK(text == want);
}

TEST_CASE("generator: stop strings, max_tokens, usage, and seeded sampling") {
  auto model = sb::load_model(kModel);
  REQUIRE(model.ok());
  auto tok = sb::Tokenizer::load(kModel);
  REQUIRE(tok.ok());
  auto backend = sb::make_cpu_backend(2);
  auto gen = sb::Generator::create(*model, **tok, *backend);
  REQUIRE(gen.ok());
  const std::string want = sb::test::read_file(kGreedy);

  sb::GenerationRequest req;
  req.prompt = {1};
  req.sampling.temperature = 0;
  req.max_tokens = 20;
  auto r = (*gen)->generate(req);
  REQUIRE(r.ok());
  CHECK(r->finish_reason == sb::FinishReason::kLength);
  CHECK(r->completion_tokens == 20);
  CHECK(r->prompt_tokens == 1);
  CHECK(want.rfind(r->text, 0) == 0);  // a prefix of the greedy text

  // "park" first appears in the first line; the text stops right before it.
  req.max_tokens = 200;
  req.stop = {"nothing-like-this", "park"};
  r = (*gen)->generate(req);
  REQUIRE(r.ok());
  CHECK(r->finish_reason == sb::FinishReason::kStop);
  CHECK(r->text == want.substr(0, want.find("park")));
  // A stop string spanning token boundaries ("girl named" is several tokens).
  req.stop = {"girl named"};
  r = (*gen)->generate(req);
  REQUIRE(r.ok());
  CHECK(r->text == want.substr(0, want.find("girl named")));

  // Seeded sampling is reproducible; a different record index changes the draw.
  req.stop.clear();
  req.sampling = sb::SamplingParams{1.0f, 0.9f, 40, 0.05f, 123};
  req.max_tokens = 40;
  auto a = (*gen)->generate(req);
  auto b = (*gen)->generate(req);
  req.index = 1;
  auto c = (*gen)->generate(req);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(a->tokens == b->tokens);
  CHECK(a->tokens != c->tokens);

  req.prompt.clear();
  CHECK((*gen)->generate(req).status().code() == sb::StatusCode::kInvalidArgument);
}

TEST_CASE("stories260K greedy throughput (informational)") {
  auto model = sb::load_model(kModel);
  REQUIRE(model.ok());
  auto tok = sb::Tokenizer::load(kModel);
  REQUIRE(tok.ok());
  for (int threads : {1, 2}) {
    auto backend = sb::make_cpu_backend(threads);
    auto gen = sb::Generator::create(*model, **tok, *backend);
    REQUIRE(gen.ok());
    sb::GenerationRequest req;
    req.prompt = {1};
    req.sampling.temperature = 0;
    req.max_tokens = 256;
    req.ignore_eos = true;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = (*gen)->generate(req);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(r.ok());
    MESSAGE(threads << " thread(s): " << r->completion_tokens << " tokens in " << s * 1e3 << " ms = "
                    << r->completion_tokens / s << " tok/s");
  }
}
