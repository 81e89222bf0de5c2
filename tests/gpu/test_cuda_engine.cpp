// End to end on the GPU: stories260K greedy from BOS reproduces the published
// text; the engine's greedy output with n-gram speculation equals its plain
// greedy output, alone and in a batch of 17, up to near-ties: the CUDA backend
// is not batch-invariant (Backend::batch_invariant), so where a verification
// batch rounds differently an argmax between two almost equal logits may flip.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/engine_test_util.h"
#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/sampler.h"
#include "core/tokenizer/tokenizer.h"
#include "gpu_test_util.h"
#include "test_util.h"

namespace {

const std::string kStories = sb::test::shared_path("models/stories260K.gguf");

using sb::test::Loaded;

std::vector<sb::GenerationResult> run_engine(const Loaded& l, sb::Backend& backend, const sb::EngineOptions& options,
                                             const std::vector<sb::GenerationRequest>& reqs,
                                             sb::EngineStats* stats) {
  auto engine = sb::Engine::create(l.model, *l.tok, backend, options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().to_string());
  std::map<uint64_t, size_t> order;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto id = (*engine)->add(reqs[i]);
    REQUIRE_MESSAGE(id.ok(), id.status().to_string());
    order[*id] = i;
  }
  std::vector<sb::GenerationResult> out(reqs.size());
  std::vector<sb::FinishedRequest> finished;
  while ((*engine)->has_work()) {
    const sb::Status s = (*engine)->step(&finished);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    for (sb::FinishedRequest& f : finished) out[order.at(f.id)] = std::move(f.result);
    finished.clear();
  }
  *stats = (*engine)->stats();
  return out;
}

// True when `other` equals `plain` token for token, or first differs where plain's
// two most likely tokens were within rounding of each other (plain ran with
// logprobs = 2) and other took the runner-up; what follows a flip may differ.
bool equal_up_to_near_ties(const sb::GenerationResult& plain, const sb::GenerationResult& other) {
  const size_t n = std::min(plain.tokens.size(), other.tokens.size());
  for (size_t j = 0; j < n; ++j) {
    if (plain.tokens[j] == other.tokens[j]) continue;
    const sb::TokenLogprob& first = plain.top_logprobs[2 * j];
    const sb::TokenLogprob& second = plain.top_logprobs[2 * j + 1];
    MESSAGE("tokens differ at " << j << ": logprob gap " << first.logprob - second.logprob);
    return first.logprob - second.logprob < 1e-3f && other.tokens[j] == second.id;
  }
  return plain.tokens.size() == other.tokens.size();
}

}  // namespace

TEST_CASE("cuda: stories260K greedy from BOS reproduces the reference text") {
  const Loaded l = sb::test::load(kStories);
  auto backend = sb::test::cuda_backend();
  const int max_ctx = l.model.config.max_ctx;
  sb::KvCache kv((max_ctx + 15) / 16, 16, 1, max_ctx);
  auto fwd = sb::Forward::create(l.model, *backend, kv, sb::ForwardLimits{1, 1, 1});
  REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
  const int seq = kv.seq_create();
  std::vector<float> logits(static_cast<size_t>(l.model.config.n_vocab));
  sb::StreamDecoder decoder(*l.tok);
  std::string text;
  const int bos = l.tok->bos_id();
  int32_t token = bos;
  for (int pos = 0; pos < 256; ++pos) {
    REQUIRE(kv.seq_grow(seq, pos + 1));
    const int32_t p = pos, row = 0;
    const sb::Status s = (*fwd)->run(
        sb::ForwardBatch{std::span(&token, 1), std::span(&p, 1), std::span(&seq, 1), std::span(&row, 1)}, kv,
        logits.data());
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    token = sb::argmax(logits.data(), l.model.config.n_vocab);
    if (token == bos) break;
    text += decoder.push(token);
  }
  text += decoder.finish() + "\n";
  CHECK(text == sb::test::read_file(sb::test::shared_path("models/stories260K.greedy.txt")));
}

TEST_CASE("cuda: greedy with ngram speculation equals plain greedy up to near-ties, alone and in a batch of 17") {
  const Loaded l = sb::test::load(kStories);
  auto backend = sb::test::cuda_backend();
  const char* starts[] = {"Once upon a time, there was a little girl. Once upon a time, there was a little",
                          "The dog ran. The dog ran. The dog", "Lily wanted to play", "Tom and Sue went to the park"};
  std::vector<sb::GenerationRequest> reqs;
  for (int i = 0; i < 17; ++i) {
    sb::GenerationRequest r;
    r.index = static_cast<uint64_t>(i);
    r.prompt = l.tok->encode(starts[i % 4], true);
    r.max_tokens = 20 + (i * 13) % 60;
    r.sampling.temperature = 0;
    r.ignore_eos = i % 2 == 1;
    r.logprobs = 2;
    reqs.push_back(std::move(r));
  }
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  sb::EngineStats plain_stats, spec_stats, batch_stats;
  const auto plain = run_engine(l, *backend, alone, reqs, &plain_stats);
  sb::EngineOptions spec = alone;
  spec.draft = "ngram";
  spec.spec_policy = sb::SpecPolicy::kFixed;
  spec.spec_max = 4;
  const auto spec_alone = run_engine(l, *backend, spec, reqs, &spec_stats);
  CHECK(spec_stats.accepted_tokens > 0);
  spec.max_seqs = 17;
  spec.max_batch_tokens = 64;
  const auto spec_batch = run_engine(l, *backend, spec, reqs, &batch_stats);
  for (size_t i = 0; i < reqs.size(); ++i) {
    INFO("request " << i);
    CHECK(!plain[i].tokens.empty());
    CHECK(equal_up_to_near_ties(plain[i], spec_alone[i]));
    CHECK(equal_up_to_near_ties(plain[i], spec_batch[i]));
  }
}
