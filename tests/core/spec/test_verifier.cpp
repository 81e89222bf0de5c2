// Speculative decoding: the n-gram drafter, the lossless verification rule on
// hand-made p and q (greedy exact, sampled by chi-square), and the engine with
// ngram and model drafters: greedy output token for token equal to plain greedy output
// (alone, batch of 17, tiny KV pool with preemption, stop strings; stories260K
// and a random model), and the first two sampled tokens following the target's
// exact distribution.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/engine_test_util.h"
#include "core/forward.h"
#include "core/model/model.h"
#include "core/modelgen/random_dspark.h"
#include "core/modelgen/random_model.h"
#include "core/random.h"
#include "core/spec/confidence_policy.h"
#include "core/spec/drafter.h"
#include "core/spec/model_drafter.h"
#include "core/spec/ngram_drafter.h"
#include "core/spec/verifier.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {

const std::string kStories = sb::test::shared_path("models/stories260K.gguf");
// Repeats itself, so the n-gram drafter proposes; the target accepts only some.
const char* const kSampledPrompt = "Tom had a big dog. The dog was happy. Tom had a big";

// Upper chi-square quantile for false-failure rate 1e-4 (Wilson-Hilferty; z = 3.719).
double chi2_critical(int dof) {
  const double k = dof, z = 3.719;
  const double t = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * t * t * t;
}

// Pearson's statistic of counts against expected probabilities; cells expected
// under 5 samples are pooled. Counts in cells of probability 0 fail at once.
bool fits(const std::map<int, int>& counts, const std::map<int, double>& expected, int n, double* stat_out) {
  double stat = 0, pooled_exp = 0, pooled_obs = 0;
  int cells = 0;
  for (const auto& [key, c] : counts)
    if (!expected.count(key)) return false;
  for (const auto& [key, p] : expected) {
    const double e = p * n;
    const double o = counts.count(key) ? counts.at(key) : 0;
    if (e < 5) {
      pooled_exp += e;
      pooled_obs += o;
      continue;
    }
    stat += (o - e) * (o - e) / e;
    ++cells;
  }
  if (pooled_exp > 0) {
    stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / std::max(pooled_exp, 1e-9);
    ++cells;
  }
  *stat_out = stat;
  return cells < 2 || stat < chi2_critical(cells - 1);
}

std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(x > 0 ? static_cast<float>(std::log(x)) : -1e30f);
  return l;
}

using sb::test::Loaded;
using sb::test::load;

struct Run {
  std::vector<sb::GenerationResult> results;  // in request order
  sb::EngineStats stats;
};

Run run_engine(Loaded& l, const sb::EngineOptions& options, const std::vector<sb::GenerationRequest>& reqs,
               const sb::Model* draft = nullptr) {
  auto engine = sb::Engine::create(l.model, *l.tok, *l.backend, options, draft);
  REQUIRE_MESSAGE(engine.ok(), engine.status().to_string());
  Run out;
  out.results = sb::test::finish_all(**engine, reqs);
  out.stats = (*engine)->stats();
  return out;
}

void check_same(const std::vector<sb::GenerationResult>& got, const std::vector<sb::GenerationResult>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("request " << i);
    CHECK(got[i].tokens == want[i].tokens);
    CHECK(got[i].text == want[i].text);
    CHECK(got[i].finish_reason == want[i].finish_reason);
    CHECK(got[i].completion_tokens == want[i].completion_tokens);
  }
}

sb::EngineOptions with_draft(sb::EngineOptions o, const std::string& draft, sb::SpecPolicy policy, int spec_max = 8) {
  o.draft = draft;
  o.spec_policy = policy;
  o.spec_max = spec_max;
  return o;
}

sb::EngineOptions with_ngram(sb::EngineOptions o, sb::SpecPolicy policy, int spec_max = 8) {
  return with_draft(std::move(o), "ngram", policy, spec_max);
}

sb::Model draft_model(const std::string& spec, const Loaded& target) {
  auto d = sb::load_draft_model(spec, target.model, *target.tok);
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  return std::move(d).value();
}

const sb::SpecPolicy kPolicies[] = {sb::SpecPolicy::kFixed, sb::SpecPolicy::kConfidence};

// Greedy stories requests with repetitive prompts (so the n-gram drafter hits),
// some with a stop string, various lengths.
std::vector<sb::GenerationRequest> greedy_stories(const sb::Tokenizer& tok, int n) {
  const char* starts[] = {"Once upon a time, there was a little girl. Once upon a time, there was a little",
                          "The dog ran. The dog ran. The dog", "Lily wanted to play", "Tom and Sue went to the park",
                          "The sun was big. The sun was"};
  std::vector<sb::GenerationRequest> reqs;
  for (int i = 0; i < n; ++i) {
    sb::GenerationRequest r;
    r.index = static_cast<uint64_t>(i);
    r.prompt = tok.encode(starts[i % 5], true);
    r.max_tokens = 5 + (i * 13) % 60;
    r.sampling.temperature = 0;
    r.ignore_eos = i % 4 == 1;
    if (i % 6 == 3) r.stop = {"." , "park"};
    reqs.push_back(std::move(r));
  }
  return reqs;
}

}  // namespace

TEST_CASE("ngram drafter: the most recent match's continuation, longest n first, running into itself") {
  sb::NgramDrafter d(2, 3, 8);
  sb::Draft out;
  out.reserve_one_hot(8);
  const sb::SamplingParams greedy{0.0f, 1.0f, 0, 0.0f, 0};
  const auto propose = [&](const std::vector<int32_t>& tokens, int k) {
    const sb::DraftRequest r{0, tokens, k, &greedy, 0, &out};
    REQUIRE(d.propose(std::span<const sb::DraftRequest>(&r, 1), sb::DraftStop{}).ok());
  };
  // ... 1 2 3 [7 8] ... 1 2 3 [9] ... 1 2 3: the latest occurrence of 1 2 3 wins.
  propose({1, 2, 3, 7, 8, 5, 1, 2, 3, 9, 4, 1, 2, 3}, 3);
  REQUIRE(out.size() == 3);
  CHECK(out.tokens == std::vector<int32_t>{9, 4, 1});
  CHECK(out.q_of(0).size() == 1);
  CHECK(out.q_of(0)[0].id == 9);
  CHECK(out.q_of(0)[0].p == 1.0f);
  // One older occurrence disagrees with 9: confidence (0 + 1) / (1 + 2).
  CHECK(out.confidence[0] == doctest::Approx(1.0 / 3));
  // No 3-gram match, a 2-gram one: 5 6 | 5 6 -> proposes 5 6 5 6 (a loop).
  propose({5, 6, 5, 6}, 4);
  CHECK(out.tokens == std::vector<int32_t>{5, 6, 5, 6});
  // Nothing repeats: an empty draft.
  propose({1, 2, 3, 4}, 4);
  CHECK(out.size() == 0);
  const sb::DrafterLimits limits;
  sb::ModelConfig target;
  target.n_vocab = 512;
  CHECK(!sb::make_drafter("ngram:0", limits, nullptr, nullptr, target).ok());
  CHECK(sb::make_drafter("ngram:4", limits, nullptr, nullptr, target).ok());
  // A model spec without its loaded model is an error, not a crash.
  CHECK(!sb::make_drafter("self:q8_0", limits, nullptr, nullptr, target).ok());
  CHECK(!sb::draft_needs_model("ngram:4"));
  CHECK(sb::draft_needs_model("self:q4_0"));
  CHECK(sb::draft_needs_model("models/draft.gguf"));
  CHECK(!sb::draft_needs_model("dspark:models/dspark"));  // loaded by make_drafter
}

TEST_CASE("verify, greedy: accept while the draft is the argmax, then the target or a bonus token") {
  const int n_vocab = 5;
  // Rows' argmaxes: 2, 4, 1, 3.
  std::vector<float> logits(4 * n_vocab, 0.0f);
  const int argmaxes[] = {2, 4, 1, 3};
  for (int r = 0; r < 4; ++r) logits[static_cast<size_t>(r * n_vocab + argmaxes[r])] = 1.0f;
  sb::Verifier v(n_vocab);
  sb::SamplingParams greedy;
  greedy.temperature = 0;
  sb::Draft d;
  d.reserve_one_hot(3);
  for (int32_t t : {2, 4, 0}) d.push_one_hot(t, 0.5f);
  sb::Verdict x = v.verify(logits.data(), &d, 3, greedy, 0, 10);
  CHECK(x.n_accepted == 2);
  CHECK(x.next == 1);
  x = v.verify(logits.data(), &d, 2, greedy, 0, 10);  // both accepted: bonus from row 2
  CHECK(x.n_accepted == 2);
  CHECK(x.next == 1);
  d.clear();
  for (int32_t t : {2, 4, 1}) d.push_one_hot(t, 0.5f);
  x = v.verify(logits.data(), &d, 3, greedy, 0, 10);
  CHECK(x.n_accepted == 3);
  CHECK(x.next == 3);
  x = v.verify(logits.data(), nullptr, 0, greedy, 0, 10);
  CHECK(x.n_accepted == 0);
  CHECK(x.next == 2);
}

TEST_CASE("verify, sampling: no draft is exactly the plain sampler's draw; p(x) = 0 always rejects") {
  const int n_vocab = 4;
  const std::vector<float> logits = logits_of({0.5, 0.0, 0.3, 0.2});
  sb::Verifier v(n_vocab);
  sb::Sampler s(n_vocab);
  sb::SamplingParams sp{1.0f, 1.0f, 0, 0.0f, 7};
  sb::Draft d;
  d.reserve_one_hot(1);
  d.push_one_hot(1, 0.9f);
  for (uint64_t i = 0; i < 200; ++i) {
    const double u = sb::random_uniform(7, i, 3, sb::RandomPurpose::kSample);
    CHECK(v.verify(logits.data(), nullptr, 0, sp, i, 3).next == s.sample(logits.data(), sp, u));
    const sb::Verdict x = v.verify(logits.data(), &d, 1, sp, i, 3);
    CHECK(x.n_accepted == 0);
    CHECK(x.next != 1);
  }
}

// The emitted first token, with x drawn from q and verified against p, must follow p.
void check_first_token_follows_p(const std::vector<double>& p, const std::vector<sb::Sampler::Candidate>& q,
                                 const sb::SamplingParams& sp, const std::map<int, double>& p_filtered) {
  const int n_vocab = static_cast<int>(p.size());
  const std::vector<float> logits = logits_of(p);  // one row; a bonus row is never needed below
  std::vector<float> rows(logits);
  rows.insert(rows.end(), logits.begin(), logits.end());
  sb::Verifier v(n_vocab);
  sb::Draft d;
  d.tokens.reserve(1);
  std::map<int, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double u = sb::random_uniform(99, static_cast<uint64_t>(i), 0, sb::RandomPurpose::kDraft);
    const int32_t x = sb::sample_from(q, u);
    d.clear();
    d.tokens.push_back(x);
    d.confidence.push_back(0.5f);
    d.q.assign(q.begin(), q.end());
    d.q_begin.push_back(static_cast<int32_t>(q.size()));
    const sb::Verdict r = v.verify(rows.data(), &d, 1, sp, static_cast<uint64_t>(i), 5);
    ++counts[r.n_accepted == 1 ? x : r.next];
  }
  double stat = 0;
  CHECK_MESSAGE(fits(counts, p_filtered, n, &stat), "chi-square " << stat);
}

TEST_CASE("verify, sampling: the emitted token follows p for a general q and for one-hot q (chi-square)") {
  const std::vector<double> p = {0.1, 0.4, 0.05, 0.25, 0.2, 0.0};
  sb::SamplingParams sp{1.0f, 1.0f, 0, 0.0f, 3};
  const std::map<int, double> want = {{0, 0.1}, {1, 0.4}, {2, 0.05}, {3, 0.25}, {4, 0.2}};
  // q overlaps p partly and puts mass on a token p never emits.
  check_first_token_follows_p(p, {{0, 0.3f}, {1, 0.1f}, {3, 0.4f}, {5, 0.2f}}, sp, want);
  // One-hot q: accepted with probability p(x), else a draw from p without x.
  check_first_token_follows_p(p, {{1, 1.0f}}, sp, want);
  check_first_token_follows_p(p, {{4, 1.0f}}, sp, want);
  // q equal to p: always accepted; and p filtered by top-k 2 (p becomes {1: 0.4, 3: 0.25} renormalised).
  check_first_token_follows_p(p, {{0, 0.1f}, {1, 0.4f}, {2, 0.05f}, {3, 0.25f}, {4, 0.2f}}, sp, want);
  sb::SamplingParams topk = sp;
  topk.top_k = 2;
  check_first_token_follows_p(p, {{1, 0.2f}, {4, 0.8f}}, topk, {{1, 0.4 / 0.65}, {3, 0.25 / 0.65}});
}

TEST_CASE("engine, greedy: ngram drafting gives the plain output on stories260K alone, in 17, preempted, with stops") {
  Loaded l = load(kStories);
  const auto reqs = greedy_stories(*l.tok, 17);
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  const Run plain = run_engine(l, alone, reqs);
  for (int spec_max : {1, 3, 8}) {
    INFO("spec_max " << spec_max);
    const Run spec_alone = run_engine(l, with_ngram(alone, sb::SpecPolicy::kFixed, spec_max), reqs);
    check_same(spec_alone.results, plain.results);
    CHECK(spec_alone.stats.accepted_tokens > 0);
    CHECK(spec_alone.stats.drafted_tokens > spec_alone.stats.accepted_tokens);
    CHECK(spec_alone.stats.steps < plain.stats.steps);
  }
  check_same(run_engine(l, with_ngram(alone, sb::SpecPolicy::kConfidence), reqs).results, plain.results);
  for (sb::SpecPolicy policy : kPolicies) {
  INFO("policy " << static_cast<int>(policy));
  sb::EngineOptions batch;
  batch.max_seqs = 17;
  batch.max_batch_tokens = 40;  // drafts compete for the budget with prompts
  const Run spec_batch = run_engine(l, with_ngram(batch, policy), reqs);
  check_same(spec_batch.results, plain.results);
  int with_stop = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const sb::SpecCounts& s = spec_batch.results[i].spec;
    CHECK(s.accepted <= s.drafted);
    CHECK(s.steps >= 1);
    CHECK(s.steps + s.accepted >= spec_batch.results[i].completion_tokens);
    with_stop += !reqs[i].stop.empty() && spec_batch.results[i].finish_reason == sb::FinishReason::kStop;
  }
  CHECK(with_stop > 0);
  sb::EngineOptions tiny = batch;
  tiny.kv_cache_tokens = 96;
  const Run spec_tiny = run_engine(l, with_ngram(tiny, policy), reqs);
  check_same(spec_tiny.results, plain.results);
  CHECK(spec_tiny.stats.preemptions > 0);
  if (policy == sb::SpecPolicy::kFixed) CHECK(spec_tiny.stats.accepted_tokens > 0);
  }
}

TEST_CASE("engine, greedy: ngram drafting on a random GQA model, 17 requests, block size 4, preemption") {
  const std::string path = sb::test::scratch_dir("speculative_random") + "/random.gguf";
  sb::RandomModelShape shape;
  shape.n_vocab = 300;
  shape.dim = 32;
  shape.n_head = 4;
  shape.n_kv_head = 2;
  shape.ffn_dim = 48;
  REQUIRE(sb::write_random_model(path, shape, 7).ok());
  Loaded l = load(path);
  std::vector<sb::GenerationRequest> reqs(17);
  for (int i = 0; i < 17; ++i) {
    sb::GenerationRequest& r = reqs[static_cast<size_t>(i)];
    r.index = static_cast<uint64_t>(i);
    const int period = 2 + i % 4;  // repeating prompts give the drafter matches
    for (int t = 0; t < 3 + (i * 7) % 17; ++t) r.prompt.push_back(3 + (i * 31 + (t % period) * 17) % 297);
    r.max_tokens = 3 + (i * 5) % 29;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
  }
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  const Run plain = run_engine(l, alone, reqs);
  for (sb::SpecPolicy policy : kPolicies) {
    INFO("policy " << static_cast<int>(policy));
    check_same(run_engine(l, with_ngram(alone, policy), reqs).results, plain.results);
    sb::EngineOptions o;
    o.max_seqs = 5;
    o.max_batch_tokens = 9;
    o.kv_block_size = 4;
    o.kv_cache_tokens = 48;
    const Run spec = run_engine(l, with_ngram(o, policy, 4), reqs);
    check_same(spec.results, plain.results);
    CHECK(spec.stats.preemptions > 0);
    if (policy == sb::SpecPolicy::kFixed) CHECK(spec.stats.drafted_tokens > 0);
    MESSAGE("random model: " << spec.stats.accepted_tokens << " of " << spec.stats.drafted_tokens
                             << " draft tokens accepted");
  }
}

namespace {

const sb::SpecPolicy kAllPolicies[] = {sb::SpecPolicy::kOff, sb::SpecPolicy::kFixed, sb::SpecPolicy::kConfidence};

// Runs reqs with the draft alone, in batches of 17 and of 64, under every policy,
// and checks each against plain; returns the fixed policy's stats of the batch of 17.
sb::EngineStats check_model_draft(Loaded& l, const std::string& spec, const sb::Model* draft,
                                  const std::vector<sb::GenerationRequest>& reqs, const Run& plain, int block_size) {
  sb::EngineStats fixed17;
  for (sb::SpecPolicy policy : kAllPolicies)
    for (int max_seqs : {1, 17, 64}) {
      INFO(spec << ", policy " << static_cast<int>(policy) << ", max_seqs " << max_seqs);
      sb::EngineOptions o;
      o.max_seqs = max_seqs;
      o.kv_block_size = block_size;
      if (max_seqs == 17) o.max_batch_tokens = 40;  // drafts compete for the budget with prompts
      const Run spec_run = run_engine(l, with_draft(o, spec, policy, 5), reqs, draft);
      check_same(spec_run.results, plain.results);
      if (policy == sb::SpecPolicy::kOff) CHECK(spec_run.stats.drafted_tokens == 0);
      if (policy == sb::SpecPolicy::kFixed) CHECK(spec_run.stats.drafted_tokens > 0);
      if (policy == sb::SpecPolicy::kFixed && max_seqs == 17) fixed17 = spec_run.stats;
    }
  // A KV pool so small that requests are preempted (and their draft state released).
  sb::EngineOptions tiny;
  tiny.max_seqs = 17;
  tiny.max_batch_tokens = 40;
  tiny.kv_block_size = block_size;
  tiny.kv_cache_tokens = 96;
  const Run spec_tiny = run_engine(l, with_draft(tiny, spec, sb::SpecPolicy::kFixed, 5), reqs, draft);
  check_same(spec_tiny.results, plain.results);
  CHECK(spec_tiny.stats.preemptions > 0);
  return fixed17;
}

// Greedy requests over a random model's vocabulary of n_vocab ids.
std::vector<sb::GenerationRequest> greedy_random(int n, int n_vocab) {
  std::vector<sb::GenerationRequest> reqs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    sb::GenerationRequest& r = reqs[static_cast<size_t>(i)];
    r.index = static_cast<uint64_t>(i);
    for (int t = 0; t < 2 + (i * 7) % 23; ++t) r.prompt.push_back(3 + (i * 31 + t * 17) % (n_vocab - 3));
    r.max_tokens = 2 + (i * 5) % 29;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
  }
  return reqs;
}

sb::RandomModelShape qwen3_shape(int dim, int n_layer, int n_head, int n_kv_head) {
  sb::RandomModelShape s;
  s.n_vocab = 300;
  s.dim = dim;
  s.n_layer = n_layer;
  s.n_head = n_head;
  s.n_kv_head = n_kv_head;
  s.ffn_dim = dim * 3 / 2;
  s.qwen3 = true;
  return s;
}

}  // namespace

TEST_CASE("engine, greedy: self:q8_0 and self:q4_0 drafts give the plain output on stories260K, 1/17/64") {
  Loaded l = load(kStories);
  const auto reqs = greedy_stories(*l.tok, 64);
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  const Run plain = run_engine(l, alone, reqs);
  for (const char* spec : {"self:q8_0", "self:q4_0"}) {
    const sb::Model draft = draft_model(spec, l);
    const sb::EngineStats s = check_model_draft(l, spec, &draft, reqs, plain, 16);
    MESSAGE(std::string(spec) << ": " << s.accepted_tokens << " of " << s.drafted_tokens << " draft tokens accepted");
    CHECK(s.accepted_tokens > s.drafted_tokens / 2);  // the quantized model mostly agrees with itself
  }
}

TEST_CASE("engine, greedy: random Qwen3 target with separate random Qwen3 drafts, 1/17/64, all policies") {
  const std::string dir = sb::test::scratch_dir("speculative_qwen3");
  const std::string target_path = dir + "/target.gguf", poor_path = dir + "/draft.gguf";
  REQUIRE(sb::write_random_model(target_path, qwen3_shape(64, 2, 4, 2), 7).ok());
  REQUIRE(sb::write_random_model(poor_path, qwen3_shape(32, 1, 2, 1), 8).ok());
  Loaded l = load(target_path);
  REQUIRE(l.model.config.qk_norm);
  const auto reqs = greedy_random(64, 300);
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  const Run plain = run_engine(l, alone, reqs);
  // An unrelated model: nearly every draft token is rejected, so the draft KV
  // is truncated after almost every step.
  const sb::Model poor_draft = draft_model(poor_path, l);
  const sb::EngineStats poor = check_model_draft(l, poor_path, &poor_draft, reqs, plain, 4);
  CHECK(poor.accepted_tokens < poor.drafted_tokens / 2);
  // The target file itself as the draft: if the draft KV stays in step, every
  // draft token is the target's argmax and accepted.
  const sb::Model same_draft = draft_model(target_path, l);
  const sb::EngineStats same = check_model_draft(l, target_path, &same_draft, reqs, plain, 4);
  CHECK(same.accepted_tokens == same.drafted_tokens);
  const sb::Model q4_draft = draft_model("self:q4_0", l);
  const sb::EngineStats q4 = check_model_draft(l, "self:q4_0", &q4_draft, reqs, plain, 4);
  MESSAGE("random Qwen3: accepted " << poor.accepted_tokens << "/" << poor.drafted_tokens << " (unrelated), "
                                    << same.accepted_tokens << "/" << same.drafted_tokens << " (itself), "
                                    << q4.accepted_tokens << "/" << q4.drafted_tokens << " (self:q4_0)");
}

TEST_CASE("engine, greedy: a random Qwen3-MoE target with ngram and self:q8_0 drafts equals plain, 1/17/64") {
  // Draft tokens and prompts of many requests share each step's expert groups.
  const std::string path = sb::test::scratch_dir("speculative_qwen3moe") + "/target.gguf";
  sb::RandomModelShape s = qwen3_shape(64, 2, 4, 2);
  s.n_expert = 8;
  s.n_expert_used = 3;
  s.ffn_dim = 32;
  REQUIRE(sb::write_random_model(path, s, 9).ok());
  Loaded l = load(path);
  REQUIRE(l.model.config.layer_is_moe(1));
  const auto reqs = greedy_random(64, 300);
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  const Run plain = run_engine(l, alone, reqs);
  const sb::Model q8 = draft_model("self:q8_0", l);
  const sb::EngineStats st = check_model_draft(l, "self:q8_0", &q8, reqs, plain, 4);
  CHECK(st.accepted_tokens > st.drafted_tokens / 2);
  for (int max_seqs : {17, 64}) {
    sb::EngineOptions o;
    o.max_seqs = max_seqs;
    check_same(run_engine(l, with_ngram(o, sb::SpecPolicy::kFixed), reqs).results, plain.results);
  }
}

namespace {

// A random DSpark checkpoint for target l (its embedding and lm_head copied),
// reading the embedding output and every layer of a 2-layer target.
std::string write_dspark_for(const Loaded& l, const std::string& name) {
  sb::RandomDSparkShape s;
  s.n_vocab = l.model.config.n_vocab;
  s.dim = l.model.config.dim;
  s.target_n_layer = l.model.config.n_layer;
  s.embed_tokens = l.model.weights.tok_embd;
  s.lm_head = l.model.weights.lm_head;
  s.n_layer = 1;
  s.n_head = 4;
  s.n_kv_head = 2;
  s.head_dim = 16;
  s.ffn_dim = 96;
  s.block_size = 4;
  s.target_layer_ids = {-1, 0, l.model.config.n_layer - 1};
  s.markov_rank = 4;
  const std::string dir = sb::test::scratch_dir(name);
  REQUIRE(sb::write_random_dspark(dir, s, 3).ok());
  return dir;
}

}  // namespace

TEST_CASE("engine, greedy: a random DSpark draft gives the plain output, 1/17/64, all policies, preempted") {
  const std::string target_path = sb::test::scratch_dir("speculative_dspark") + "/target.gguf";
  REQUIRE(sb::write_random_model(target_path, qwen3_shape(64, 2, 4, 2), 7).ok());
  Loaded l = load(target_path);
  const std::string spec = "dspark:" + write_dspark_for(l, "speculative_dspark_draft");
  const auto reqs = greedy_random(64, 300);
  sb::EngineOptions alone;
  alone.max_seqs = 1;
  const Run plain = run_engine(l, alone, reqs);
  // Block 4 under spec_max 5: at most 4 draft tokens per step.
  const sb::EngineStats fixed = check_model_draft(l, spec, nullptr, reqs, plain, 4);
  MESSAGE("random DSpark: accepted " << fixed.accepted_tokens << "/" << fixed.drafted_tokens << " (fixed, 17)");
  CHECK(fixed.drafted_tokens <= 4 * fixed.spec_verifications);
  // The confidence policy soon learns that nothing is accepted and verifies
  // almost nothing: long requests, so calibration has steps to learn from.
  std::vector<sb::GenerationRequest> longer = greedy_random(17, 300);
  for (sb::GenerationRequest& r : longer) r.max_tokens = 60;
  sb::EngineOptions o;
  o.max_seqs = 17;
  const Run conf = run_engine(l, with_draft(o, spec, sb::SpecPolicy::kConfidence, 5), longer);
  const Run conf_plain = run_engine(l, o, longer);
  check_same(conf.results, conf_plain.results);
  const double share = static_cast<double>(conf.stats.spec_verifications) / conf.stats.sampled_steps;
  MESSAGE("confidence policy: " << conf.stats.spec_verifications << " of " << conf.stats.sampled_steps
                                << " request-steps verified draft tokens");
  CHECK(share < 0.15);
}

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
        a *= calibrator.calibrated(want, out[m].confidence[static_cast<size_t>(std::min(want, out[m].size() - 1))]);
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
  auto mismatch = sb::load_draft_model(dir + "/same_size.gguf", l.model, *l.tok);
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
  auto longer = sb::load_draft_model(dir + "/v310.gguf", v300.model, *v300.tok);
  REQUIRE(!longer.ok());
  CHECK(longer.status().message().find("first differing token id is 300") != std::string::npos);
  CHECK(!sb::load_draft_model("self:q5_1", l.model, *l.tok).ok());
  CHECK(!sb::load_draft_model(dir + "/missing.gguf", l.model, *l.tok).ok());
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

namespace {

// The target's next-token logits after `tokens`, computed on a fresh sequence.
std::vector<float> target_logits(Loaded& l, const std::vector<int32_t>& tokens) {
  sb::KvCache kv(8, 16, 1, 128);
  auto fwd = sb::Forward::create(l.model, *l.backend, kv, sb::ForwardLimits{128, 1, 1});
  REQUIRE(fwd.ok());
  const int seq = kv.seq_create();
  REQUIRE(kv.seq_grow(seq, static_cast<int>(tokens.size())));
  std::vector<int32_t> pos, seqs;
  for (size_t i = 0; i < tokens.size(); ++i) {
    pos.push_back(static_cast<int32_t>(i));
    seqs.push_back(seq);
  }
  const std::vector<int32_t> rows = {static_cast<int32_t>(tokens.size()) - 1};
  std::vector<float> logits(static_cast<size_t>(l.model.config.n_vocab));
  REQUIRE((*fwd)->run(sb::ForwardBatch{tokens, pos, seqs, rows}, kv, logits.data()).ok());
  return logits;
}

// Key of a (first, second) token pair; first tokens too rare to matter are one cell.
int pair_key(int t1, int t2, int n_vocab, const std::map<int, double>& p1, int n) {
  return p1.at(t1) * n >= 1 ? t1 * n_vocab + t2 : -1 - t1;
}

}  // namespace

TEST_CASE("engine, sampling: with ngram, self:q4_0, dspark drafts the first two tokens follow the exact distribution") {
  Loaded l = load(kStories);
  const sb::Model q4 = draft_model("self:q4_0", l);
  const std::string dspark = "dspark:" + write_dspark_for(l, "speculative_sampling_dspark");
  const int n_vocab = l.model.config.n_vocab;
  const std::vector<int32_t> prompt =
      l.tok->encode(kSampledPrompt, true);
  const int n = 3000;
  for (float top_p : {1.0f, 0.9f}) {
    INFO("top_p " << top_p);
    const sb::SamplingParams sp{1.0f, top_p, 0, 0.0f, 11};
    // Exact joint distribution of the first two tokens.
    sb::Sampler sampler(n_vocab);
    std::map<int, double> p1;
    for (const auto& c : sampler.distribution(target_logits(l, prompt).data(), sp)) p1[c.id] = c.p;
    std::map<int, double> joint;
    for (const auto& [t1, pr1] : p1) {
      if (pr1 * n < 1) {
        joint[pair_key(t1, 0, n_vocab, p1, n)] = pr1;
        continue;
      }
      std::vector<int32_t> next = prompt;
      next.push_back(t1);
      for (const auto& c : sampler.distribution(target_logits(l, next).data(), sp))
        joint[pair_key(t1, c.id, n_vocab, p1, n)] += pr1 * c.p;
    }
    std::vector<sb::GenerationRequest> reqs(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      reqs[static_cast<size_t>(i)].index = static_cast<uint64_t>(i);
      reqs[static_cast<size_t>(i)].prompt = prompt;
      reqs[static_cast<size_t>(i)].sampling = sp;
      reqs[static_cast<size_t>(i)].max_tokens = 3;  // up to two draft tokens when the prompt ends
      reqs[static_cast<size_t>(i)].ignore_eos = true;
    }
    sb::EngineOptions o;
    o.max_seqs = 64;
    o.max_batch_tokens = 16;  // prompts end in a running request's chunk, which takes drafts
    // plain; ngram fixed, confidence; self:q4_0 fixed (top_p 1), confidence (top_p 0.9);
    // dspark fixed (its first draft token, on each record's second step)
    for (int variant = 0; variant < 6; ++variant) {
      if (variant == (top_p < 1.0f ? 3 : 4)) continue;  // one model run per top_p keeps the test short
      INFO("variant " << variant);
      const bool model = variant == 3 || variant == 4;
      const sb::EngineOptions vo =
          variant == 0   ? o
          : variant == 5 ? with_draft(o, dspark, sb::SpecPolicy::kFixed)
                         : with_draft(o, model ? "self:q4_0" : "ngram", kPolicies[(variant - 1) % 2]);
      const Run run = run_engine(l, vo, reqs, model ? &q4 : nullptr);
      std::map<int, int> counts;
      for (const auto& r : run.results) {
        REQUIRE(r.tokens.size() == 3);
        ++counts[pair_key(r.tokens[0], r.tokens[1], n_vocab, p1, n)];
      }
      double stat = 0;
      CHECK_MESSAGE(fits(counts, joint, n, &stat), "chi-square " << stat);
      MESSAGE("chi-square " << stat << "; " << run.stats.accepted_tokens << " of " << run.stats.drafted_tokens
                            << " draft tokens accepted");
      if (variant == 1 || variant == 5) {
        CHECK(run.stats.accepted_tokens > 0);
        CHECK(run.stats.accepted_tokens < run.stats.drafted_tokens);
      }
    }
  }
}

TEST_CASE("engine, confidence: the drafter does not run where its cost cannot pay, and drafts where it does") {
  Loaded l = load(kStories);
  const auto reqs = greedy_stories(*l.tok, 8);
  sb::EngineOptions base;
  base.max_seqs = 8;
  const Run plain = run_engine(l, base, reqs);
  const sb::Model draft = draft_model("self:q8_0", l);
  // A memory-bound target (flat to 64 tokens) with a draft pass costing a tenth of
  // a step: drafting pays. The same target with a pass costing two steps: it never does.
  sb::EngineOptions o = with_draft(base, "self:q8_0", sb::SpecPolicy::kConfidence);
  o.step_cost = {{1, 0.010}, {64, 0.010}, {512, 0.080}};
  o.draft_pass_cost = {{1, 0.001}, {64, 0.001}};
  const Run cheap = run_engine(l, o, reqs, &draft);
  check_same(cheap.results, plain.results);
  CHECK(cheap.stats.drafter_steps > 0);
  CHECK(cheap.stats.accepted_tokens > 0);
  o.draft_pass_cost = {{1, 0.020}, {64, 0.020}};
  const Run dear = run_engine(l, o, reqs, &draft);
  check_same(dear.results, plain.results);
  CHECK(dear.stats.drafter_steps == 0);
  CHECK(dear.stats.drafted_tokens == 0);
  // A drafter that costs nothing (no pass table) runs every step it can.
  o.draft_pass_cost.clear();
  const Run ngram = run_engine(l, with_ngram(o, sb::SpecPolicy::kConfidence), reqs);
  check_same(ngram.results, plain.results);
  CHECK(ngram.stats.drafter_steps > 0);
}
