// stories260K.gguf, greedy from BOS with no prompt, reproduces the published
// greedy text (../shared/models/stories260K.greedy.txt: llama2.c-style 256 steps,
// i.e. 256 tokens after BOS, stopping early if the model emits BOS, then a newline).
// Also the single-sequence generation speed through the Engine.
#include <doctest/doctest.h>

#include <chrono>
#include <vector>

#include "core/engine.h"
#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/sampler.h"
#include "core/tokenizer/tokenizer.h"
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

TEST_CASE("stories260K greedy throughput (informational)") {
  auto model = sb::load_model(kModel);
  REQUIRE(model.ok());
  auto tok = sb::Tokenizer::load(kModel);
  REQUIRE(tok.ok());
  for (int threads : {1, 2}) {
    auto backend = sb::make_cpu_backend(threads);
    sb::EngineOptions options;
    options.max_seqs = 1;
    auto engine = sb::Engine::create(*model, **tok, *backend, options);
    REQUIRE(engine.ok());
    sb::GenerationRequest req;
    req.prompt = {1};
    req.sampling.temperature = 0;
    req.max_tokens = 256;
    req.ignore_eos = true;
    const auto t0 = std::chrono::steady_clock::now();
    REQUIRE((*engine)->add(req).ok());
    std::vector<sb::FinishedRequest> done;
    while ((*engine)->has_work()) REQUIRE((*engine)->step(&done).ok());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    REQUIRE(done.size() == 1);
    const int n = done[0].result.completion_tokens;
    MESSAGE(threads << " thread(s): " << n << " tokens in " << s * 1e3 << " ms = " << n / s << " tok/s");
  }
}
