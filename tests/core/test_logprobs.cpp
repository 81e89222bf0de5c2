// Logprobs: token_logprobs() against a naive log-softmax and a full sort; the
// engine's reported logprobs against a separate plain forward over prompt +
// output (the greedy sum is the log-likelihood, to 1e-4), at the request's
// temperature and before top-k/top-p; and the same logprobs with and without
// n-gram speculation under every policy.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/engine_test_util.h"
#include "core/forward.h"
#include "core/model/model.h"
#include "core/sampler.h"
#include "core/tokenizer/tokenizer.h"
#include "test_util.h"

namespace {

const std::string kStories = sb::test::shared_path("models/stories260K.gguf");

using sb::test::Loaded;
using sb::test::load;

// log_softmax(logits / t) in double.
std::vector<double> naive_log_softmax(const float* logits, int n, double t) {
  double m = -INFINITY;
  for (int i = 0; i < n; ++i) m = std::max(m, logits[i] / t);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(logits[i] / t - m);
  std::vector<double> out(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = logits[i] / t - m - std::log(sum);
  return out;
}

// Ids by descending value, the lower id first on ties: a full sort.
std::vector<int32_t> sorted_ids(const std::vector<double>& v) {
  std::vector<int32_t> ids(v.size());
  for (size_t i = 0; i < v.size(); ++i) ids[i] = static_cast<int32_t>(i);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return v[size_t(a)] > v[size_t(b)]; });
  return ids;
}

// Checks a token's reported logprob and top-K against the reference row.
void check_against_row(const std::vector<double>& ref, int32_t token, float logprob,
                       std::span<const sb::TokenLogprob> top) {
  CHECK(std::fabs(logprob - ref[size_t(token)]) < 1e-5);
  const std::vector<int32_t> want = sorted_ids(ref);
  for (size_t k = 0; k < top.size(); ++k) {
    CAPTURE(k);
    // Equal ids, or a near-tie that float logits may order either way.
    if (top[k].id != want[k]) CHECK(std::fabs(ref[size_t(top[k].id)] - ref[size_t(want[k])]) < 1e-6);
    CHECK(std::fabs(top[k].logprob - ref[size_t(top[k].id)]) < 1e-5);
    if (k > 0) CHECK(top[k].logprob <= top[k - 1].logprob);
  }
}

// Logit rows of a plain forward over `tokens` on a fresh sequence: row i follows tokens[0..first_row + i].
std::vector<float> plain_logits(Loaded& l, const std::vector<int32_t>& tokens, int first_row) {
  const int n = static_cast<int>(tokens.size()), n_vocab = l.model.config.n_vocab;
  sb::KvCache kv(16, 16, 1, 256);
  const int n_rows = n - first_row;
  auto fwd = sb::Forward::create(l.model, *l.backend, kv, sb::ForwardLimits{n, 1, n_rows});
  REQUIRE(fwd.ok());
  const int seq = kv.seq_create();
  REQUIRE(kv.seq_grow(seq, n));
  std::vector<int32_t> pos, seqs, rows;
  for (int i = 0; i < n; ++i) {
    pos.push_back(i);
    seqs.push_back(seq);
    if (i >= first_row) rows.push_back(i);
  }
  std::vector<float> logits(static_cast<size_t>(n_rows) * static_cast<size_t>(n_vocab));
  REQUIRE((*fwd)->run(sb::ForwardBatch{tokens, pos, seqs, rows}, kv, logits.data()).ok());
  return logits;
}

std::vector<sb::GenerationResult> run_engine(Loaded& l, const sb::EngineOptions& options,
                                             const std::vector<sb::GenerationRequest>& reqs) {
  auto engine = sb::Engine::create(l.model, *l.tok, *l.backend, options);
  REQUIRE_MESSAGE(engine.ok(), engine.status().to_string());
  return sb::test::finish_all(**engine, reqs);
}

// Repetitive prompts (the n-gram drafter finds matches), greedy, some with a stop string.
std::vector<sb::GenerationRequest> greedy_requests(const sb::Tokenizer& tok, int n) {
  const char* texts[] = {"Tom had a big dog. The dog was happy. Tom had a big", "Once upon a time",
                         "Lily saw a cat. The cat saw Lily. Lily saw a", "The sun"};
  std::vector<sb::GenerationRequest> reqs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    sb::GenerationRequest& r = reqs[size_t(i)];
    r.index = static_cast<uint64_t>(i);
    r.prompt = tok.encode(texts[i % 4], true);
    r.max_tokens = 20 + 7 * i;
    r.sampling.temperature = 0;
    r.logprobs = i % 3 == 0 ? 0 : 3 + i;
    if (i % 4 == 3) r.stop = {"."};
  }
  return reqs;
}

}  // namespace

TEST_CASE("token_logprobs: log_softmax(logits / T) before truncation, top-K as a full sort orders it") {
  const int n = 37;
  std::vector<float> logits(n);
  for (int i = 0; i < n; ++i) logits[size_t(i)] = std::sin(1.7f * static_cast<float>(i)) * 4.0f;
  logits[5] = logits[9];  // a tie: the lower id first
  std::vector<sb::TokenLogprob> work(n), top(8);
  for (float t : {0.0f, 0.5f, 1.0f, 2.5f}) {
    CAPTURE(t);
    const auto ref = naive_log_softmax(logits.data(), n, t > 0 ? t : 1.0);
    for (int32_t token : {0, 5, 9, 36}) {
      const float lp = sb::token_logprobs(logits.data(), n, t, token, top, work);
      check_against_row(ref, token, lp, top);
    }
    CHECK(top[0].id == sorted_ids(ref)[0]);
  }
  // K = 0 and K = n_vocab.
  std::vector<sb::TokenLogprob> all(n);
  const float lp = sb::token_logprobs(logits.data(), n, 1.0f, 3, {}, work);
  CHECK(lp == sb::token_logprobs(logits.data(), n, 1.0f, 3, all, work));
  const auto ids = sorted_ids(naive_log_softmax(logits.data(), n, 1.0));
  for (int k = 0; k < n; ++k) CHECK(all[size_t(k)].id == ids[size_t(k)]);
  size_t at5 = 0;
  while (all[at5].id != 5) ++at5;
  CHECK(all[at5 + 1].id == 9);  // the tie: the lower id first
}

TEST_CASE("engine logprobs: the greedy sum is the log-likelihood of a plain forward over prompt + output") {
  Loaded l = load(kStories);
  const int n_vocab = l.model.config.n_vocab;
  std::vector<sb::GenerationRequest> reqs = greedy_requests(*l.tok, 6);
  // Sampled requests: logprobs at their temperature, untouched by top-k / top-p / min-p.
  for (int i = 0; i < 3; ++i) {
    sb::GenerationRequest r = reqs[size_t(i)];
    r.index = 100 + static_cast<uint64_t>(i);
    r.sampling = sb::SamplingParams{0.7f + 0.4f * static_cast<float>(i), 0.8f, 5, 0.1f, 7};
    r.logprobs = 20;
    reqs.push_back(r);
  }
  sb::EngineOptions o;
  o.max_seqs = 4;
  o.max_batch_tokens = 24;  // chunked prefill next to decoding
  const auto results = run_engine(l, o, reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    CAPTURE(i);
    const sb::GenerationRequest& req = reqs[i];
    const sb::GenerationResult& g = results[i];
    REQUIRE(g.n_top_logprobs == req.logprobs);
    REQUIRE(g.logprobs.size() == g.tokens.size());
    REQUIRE(g.top_logprobs.size() == g.tokens.size() * size_t(req.logprobs));
    REQUIRE(!g.tokens.empty());
    std::vector<int32_t> all = req.prompt;
    all.insert(all.end(), g.tokens.begin(), g.tokens.end() - 1);
    const int n_prompt = static_cast<int>(req.prompt.size());
    const std::vector<float> logits = plain_logits(l, all, n_prompt - 1);
    const double t = req.sampling.temperature > 0 ? req.sampling.temperature : 1.0;
    double want = 0, got = 0;
    const size_t k = size_t(req.logprobs);
    for (size_t j = 0; j < g.tokens.size(); ++j) {
      CAPTURE(j);
      const auto ref = naive_log_softmax(logits.data() + j * size_t(n_vocab), n_vocab, t);
      check_against_row(ref, g.tokens[j], g.logprobs[j], std::span(g.top_logprobs).subspan(j * k, k));
      want += ref[size_t(g.tokens[j])];
      got += g.logprobs[j];
    }
    CHECK(std::fabs(got - want) < 1e-4);
    if (req.sampling.temperature == 0) CHECK(got < 0);
  }
}

TEST_CASE("engine logprobs: identical with and without n-gram speculation, every policy") {
  Loaded l = load(kStories);
  const std::vector<sb::GenerationRequest> reqs = greedy_requests(*l.tok, 8);
  sb::EngineOptions o;
  o.max_seqs = 3;
  o.max_batch_tokens = 32;
  const auto plain = run_engine(l, o, reqs);
  for (sb::SpecPolicy policy : {sb::SpecPolicy::kOff, sb::SpecPolicy::kFixed, sb::SpecPolicy::kConfidence}) {
    CAPTURE(static_cast<int>(policy));
    sb::EngineOptions so = o;
    so.draft = "ngram";
    so.spec_policy = policy;
    so.spec_max = 4;
    const auto spec = run_engine(l, so, reqs);
    int accepted = 0;
    for (size_t i = 0; i < reqs.size(); ++i) {
      CAPTURE(i);
      CHECK(spec[i].tokens == plain[i].tokens);
      CHECK(spec[i].logprobs == plain[i].logprobs);
      REQUIRE(spec[i].top_logprobs.size() == plain[i].top_logprobs.size());
      for (size_t j = 0; j < plain[i].top_logprobs.size(); ++j) {
        CHECK(spec[i].top_logprobs[j].id == plain[i].top_logprobs[j].id);
        CHECK(spec[i].top_logprobs[j].logprob == plain[i].top_logprobs[j].logprob);
      }
      accepted += spec[i].spec.accepted;
    }
    if (policy == sb::SpecPolicy::kFixed) CHECK(accepted > 0);  // speculation produced some of the tokens
  }
}

TEST_CASE("engine logprobs: none unless asked; K outside [-1, 20] is a per-request error") {
  Loaded l = load(kStories);
  std::vector<sb::GenerationRequest> reqs = greedy_requests(*l.tok, 1);
  reqs[0].logprobs = -1;
  const auto results = run_engine(l, sb::EngineOptions{}, reqs);
  CHECK(results[0].n_top_logprobs == -1);
  CHECK(results[0].logprobs.empty());
  CHECK(results[0].top_logprobs.empty());
  auto engine = sb::Engine::create(l.model, *l.tok, *l.backend, sb::EngineOptions{});
  REQUIRE(engine.ok());
  for (int k : {-2, sb::kMaxTopLogprobs + 1}) {
    sb::GenerationRequest r = reqs[0];
    r.logprobs = k;
    const auto id = (*engine)->add(r);
    CHECK(id.status().code() == sb::StatusCode::kInvalidArgument);
    CHECK(id.status().message().find("logprobs") != std::string::npos);
  }
}
