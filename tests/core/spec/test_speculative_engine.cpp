// The engine with every drafter (ngram, self:q8_0, self:q4_0, a separate draft
// model, DSpark) under every policy: greedy output token for token equal to
// plain greedy output, alone, in batches of 17 and 64, with chunked prompts,
// stop strings and preemption in a tiny KV pool; the confidence policy skips a
// drafter whose cost cannot pay.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "core/engine.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "core/tokenizer/tokenizer.h"
#include "core/spec/spec_test_util.h"

namespace {

using sb::test::check_same;
using sb::test::draft_model;
using sb::test::kStories;
using sb::test::load;
using sb::test::Loaded;
using sb::test::qwen3_shape;
using sb::test::run_engine;
using sb::test::with_draft;
using sb::test::write_dspark_for;
using Run = sb::test::EngineRun;

sb::EngineOptions with_ngram(sb::EngineOptions o, sb::SpecPolicy policy, int spec_max = 8) {
  return with_draft(std::move(o), "ngram", policy, spec_max);
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
  // The confidence policy soon learns that nothing is accepted and stops
  // drafting: long requests, so the planner has steps to learn from. Costs are
  // given (a memory-bound target, a draft pass costing a fifth of a step), so
  // that the outcome does not depend on how busy the machine is.
  std::vector<sb::GenerationRequest> longer = greedy_random(17, 300);
  for (sb::GenerationRequest& r : longer) r.max_tokens = 60;
  sb::EngineOptions o;
  o.max_seqs = 17;
  sb::EngineOptions co = with_draft(o, spec, sb::SpecPolicy::kConfidence, 5);
  co.step_cost = {{1, 1e-4}, {64, 1e-4}, {512, 8e-4}};
  co.learn_costs = false;
  co.draft_pass_cost = {{4, 2e-5}, {68, 2e-5}};
  const Run conf = run_engine(l, co, longer);
  const Run conf_plain = run_engine(l, o, longer);
  check_same(conf.results, conf_plain.results);
  const double share = static_cast<double>(conf.stats.spec_verifications) / conf.stats.sampled_steps;
  MESSAGE("confidence policy: " << conf.stats.spec_verifications << " of " << conf.stats.sampled_steps
                                << " request-steps verified draft tokens; the drafter ran in "
                                << conf.stats.drafter_steps << " steps");
  CHECK(conf.stats.spec_verifications > 0);  // the planner's prior lets it try
  CHECK(share < 0.15);
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
  o.learn_costs = false;
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
