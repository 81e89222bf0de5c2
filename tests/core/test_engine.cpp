// The engine end to end on stories260K and on small random models: outputs of
// every request are byte-identical alone, among 64 others, with chunked
// prefill and under preemption in a tiny KV pool; stop handling; per-request
// errors; max_seqs.
#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/engine_test_util.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {

const std::string kStories = sb::test::shared_path("models/stories260K.gguf");

using sb::test::Loaded;
using sb::test::load;

using sb::test::check_same;
using sb::test::run_engine;

// Each request alone: one sequence at a time, a roomy budget.
std::vector<sb::GenerationResult> run_alone(Loaded& l, const std::vector<sb::GenerationRequest>& reqs,
                                            int max_ctx = 0) {
  sb::EngineOptions o;
  o.max_seqs = 1;
  o.max_batch_tokens = 512;
  o.max_ctx = max_ctx;
  return run_engine(l, o, reqs).results;
}

// 64 stories requests: greedy and seeded sampling, different prompt lengths and max_tokens.
std::vector<sb::GenerationRequest> mixed_requests(const sb::Tokenizer& tok, int n) {
  const char* starts[] = {"Once upon a time", "Lily wanted to play", "The dog", "Tom and Sue went to the park",
                          "One day, a little girl named Mia", "The sun", "A big red ball rolled",
                          "They were happy"};
  std::vector<sb::GenerationRequest> reqs;
  for (int i = 0; i < n; ++i) {
    sb::GenerationRequest r;
    r.index = static_cast<uint64_t>(i);
    std::string text = starts[i % 8];
    for (int k = 0; k < i % 4; ++k) text += std::string(" and ") + starts[(i + k) % 8];
    r.prompt = tok.encode(text, true);
    r.max_tokens = 6 + (i * 13) % 45;
    if (i % 3 == 0) {
      r.sampling.temperature = 0;
    } else {
      r.sampling = sb::SamplingParams{0.6f + 0.2f * static_cast<float>(i % 4), i % 2 ? 0.9f : 1.0f, i % 5 ? 0 : 40,
                                      i % 7 ? 0.0f : 0.05f, static_cast<uint64_t>(1000 + i)};
    }
    r.ignore_eos = i % 4 == 1;
    if (i % 9 == 4) r.stop = {"."};
    reqs.push_back(std::move(r));
  }
  return reqs;
}

// A small random Llama model with grouped-query attention (written once per run).
const std::string& random_model_path() {
  static const std::string path = [] {
    const std::string p = sb::test::scratch_dir("engine_random") + "/random.gguf";
    sb::RandomModelShape shape;
    shape.n_vocab = 300;
    shape.dim = 32;
    shape.n_head = 4;
    shape.n_kv_head = 2;
    shape.ffn_dim = 48;
    shape.max_ctx = 512;
    REQUIRE(sb::write_random_model(p, shape, 42).ok());
    return p;
  }();
  return path;
}

}  // namespace

TEST_CASE("engine: 64 concurrent stories260K requests are byte-identical to each alone") {
  Loaded l = load(kStories);
  const auto reqs = mixed_requests(*l.tok, 64);
  const auto alone = run_alone(l, reqs);
  sb::EngineOptions o;
  o.max_seqs = 64;
  o.max_batch_tokens = 100;  // admissions and prompts interleave with decode tokens
  const sb::test::EngineRun batch = run_engine(l, o, reqs);
  check_same(batch.results, alone);
  CHECK(batch.max_running <= 64);
  CHECK(batch.max_running >= 32);
  CHECK(batch.stats.preemptions == 0);
  // Sanity: the mix has sampled and stopped outputs, not 64 copies of one text.
  int stopped = 0;
  for (const auto& r : alone) stopped += r.finish_reason == sb::FinishReason::kStop;
  CHECK(stopped > 0);
  CHECK(alone[1].tokens != alone[9].tokens);
}

TEST_CASE("engine: preemption in a tiny KV pool gives the unconstrained outputs") {
  Loaded l = load(kStories);
  const auto reqs = mixed_requests(*l.tok, 24);
  const auto alone = run_alone(l, reqs);
  int longest = 0;
  for (const auto& r : reqs) longest = std::max(longest, static_cast<int>(r.prompt.size()) + r.max_tokens);
  sb::EngineOptions o;
  o.max_seqs = 24;
  o.max_batch_tokens = 64;
  o.kv_cache_tokens = 96;
  o.prefix_cache = false;  // every preemption recomputes all its tokens
  REQUIRE(longest <= 96);
  const sb::test::EngineRun small = run_engine(l, o, reqs);
  check_same(small.results, alone);
  CHECK(small.stats.preemptions > 0);
  CHECK(small.stats.computed_tokens > small.stats.prompt_tokens + small.stats.generated_tokens - reqs.size());
  MESSAGE(small.stats.preemptions << " preemptions, " << small.stats.computed_tokens << " tokens computed");
}

TEST_CASE("engine: a prompt longer than the token budget is prefilled in chunks, same output") {
  Loaded l = load(kStories);
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Once upon a time there was a girl. ";
  std::vector<sb::GenerationRequest> reqs(4);
  reqs[0].prompt = l.tok->encode(text, true);
  REQUIRE(reqs[0].prompt.size() > 300);
  reqs[0].sampling.temperature = 0;
  reqs[0].max_tokens = 30;
  reqs[1] = reqs[0];
  reqs[1].index = 1;
  reqs[1].sampling = sb::SamplingParams{1.0f, 0.95f, 0, 0.0f, 7};
  for (int i = 2; i < 4; ++i) {
    reqs[i].index = static_cast<uint64_t>(i);
    reqs[i].prompt = l.tok->encode(i == 2 ? "The cat" : "Tim had a red kite", true);
    reqs[i].max_tokens = 40;
    reqs[i].sampling.temperature = 0;
  }
  const auto alone = run_alone(l, reqs);
  for (int budget : {7, 32, 512}) {
    INFO("max_batch_tokens " << budget);
    sb::EngineOptions o;
    o.max_seqs = 4;
    o.max_batch_tokens = budget;
    o.prefix_cache = false;  // both long prompts are prefilled in full
    const sb::test::EngineRun out = run_engine(l, o, reqs);
    check_same(out.results, alone);
    if (budget < 300) CHECK(out.stats.steps > 30 + (reqs[0].prompt.size() * 2) / static_cast<size_t>(budget) - 2);
  }
}

TEST_CASE("engine: stop strings across token boundaries, stop_token_ids, max_tokens, context end") {
  Loaded l = load(kStories);
  const std::string greedy = sb::test::read_file(sb::test::shared_path("models/stories260K.greedy.txt"));
  REQUIRE(!greedy.empty());
  sb::GenerationRequest base;
  base.prompt = {1};
  base.sampling.temperature = 0;
  base.max_tokens = 200;
  std::vector<sb::GenerationRequest> reqs(6, base);
  reqs[0].stop = {"nothing-like-this", "park"};
  reqs[1].stop = {"girl named"};  // several tokens
  reqs[2].max_tokens = 20;
  reqs[3].max_tokens = 0;
  const auto first = run_alone(l, {reqs[2]})[0];
  REQUIRE(first.tokens.size() == 20);
  const int32_t stop_id = first.tokens[6];
  const size_t k = static_cast<size_t>(std::find(first.tokens.begin(), first.tokens.end(), stop_id) -
                                       first.tokens.begin());
  reqs[4].stop_token_ids = {stop_id};
  reqs[5].max_tokens = static_cast<int>(k);

  sb::EngineOptions o;
  o.max_seqs = 6;
  const auto out = run_engine(l, o, reqs).results;
  CHECK(out[0].finish_reason == sb::FinishReason::kStop);
  CHECK(out[0].text == greedy.substr(0, greedy.find("park")));
  CHECK(out[1].finish_reason == sb::FinishReason::kStop);
  CHECK(out[1].text == greedy.substr(0, greedy.find("girl named")));
  CHECK(out[1].tokens.size() > 2);
  CHECK(out[2].finish_reason == sb::FinishReason::kLength);
  CHECK(out[2].completion_tokens == 20);
  CHECK(greedy.rfind(out[2].text, 0) == 0);
  CHECK(out[3].finish_reason == sb::FinishReason::kLength);
  CHECK(out[3].text.empty());
  CHECK(out[3].completion_tokens == 0);
  CHECK(out[3].prompt_tokens == 1);
  // The stop token ends generation, is counted, and is not in the text.
  CHECK(out[4].finish_reason == sb::FinishReason::kStop);
  CHECK(out[4].tokens == std::vector<int32_t>(first.tokens.begin(), first.tokens.begin() + k + 1));
  CHECK(out[4].text == out[5].text);

  // A context of 12 tokens: a 10-token prompt gets 3 tokens (the last one needs no cache room).
  const std::vector<int32_t> prompt10(first.tokens.begin(), first.tokens.begin() + 10);
  sb::GenerationRequest r = base;
  r.prompt = prompt10;
  sb::EngineOptions small;
  small.max_ctx = 12;
  const auto ctx_out = run_engine(l, small, {r}).results;
  CHECK(ctx_out[0].completion_tokens == 3);
  CHECK(ctx_out[0].finish_reason == sb::FinishReason::kLength);
}

TEST_CASE("engine: EOS ends generation unless ignore_eos") {
  // stories260K never emits its EOS; a random model's near-flat distribution
  // over 300 tokens does, sampled at temperature 1.
  Loaded l = load(random_model_path());
  const int eos = l.tok->eos_ids().front();
  REQUIRE(eos == 2);
  std::vector<sb::GenerationRequest> reqs(8);
  for (size_t i = 0; i < reqs.size(); ++i) {
    reqs[i].index = i;
    reqs[i].prompt = {1, 40, 41};
    reqs[i].sampling = sb::SamplingParams{1.0f, 1.0f, 0, 0.0f, 5};
    reqs[i].max_tokens = 300;
    reqs[i].ignore_eos = true;
  }
  sb::EngineOptions o;
  o.max_seqs = 8;
  const auto free_runs = run_engine(l, o, reqs).results;
  for (auto& r : reqs) r.ignore_eos = false;
  const auto stopped = run_engine(l, o, reqs).results;
  int with_eos = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto& free_run = free_runs[i];
    CHECK(free_run.completion_tokens == 300);
    const auto at = std::find(free_run.tokens.begin(), free_run.tokens.end(), eos);
    if (at == free_run.tokens.end()) continue;
    ++with_eos;
    CHECK(stopped[i].finish_reason == sb::FinishReason::kStop);
    CHECK(stopped[i].tokens == std::vector<int32_t>(free_run.tokens.begin(), at + 1));
  }
  CHECK(with_eos > 0);
}

TEST_CASE("engine: seeded sampling repeats; the record index changes the draw") {
  Loaded l = load(kStories);
  sb::GenerationRequest r;
  r.prompt = {1};
  r.sampling = sb::SamplingParams{1.0f, 0.9f, 40, 0.05f, 123};
  r.max_tokens = 40;
  std::vector<sb::GenerationRequest> reqs = {r, r, r};
  reqs[2].index = 1;
  const auto out = run_engine(l, sb::EngineOptions{}, reqs).results;
  CHECK(out[0].tokens == out[1].tokens);
  CHECK(out[0].tokens != out[2].tokens);
}

TEST_CASE("engine: max_seqs caps the requests running at once") {
  Loaded l = load(kStories);
  auto reqs = mixed_requests(*l.tok, 10);
  for (auto& r : reqs) r.max_tokens = 30, r.stop.clear(), r.ignore_eos = true;
  sb::EngineOptions o;
  o.max_seqs = 3;
  const sb::test::EngineRun out = run_engine(l, o, reqs);
  CHECK(out.max_running == 3);
  check_same(out.results, run_alone(l, reqs));
}

TEST_CASE("engine: cancel_waiting drops what has not started; what runs finishes as it would have") {
  Loaded l = load(kStories);
  auto reqs = mixed_requests(*l.tok, 8);
  for (auto& r : reqs) r.max_tokens = 20, r.stop.clear(), r.ignore_eos = true;
  sb::EngineOptions o;
  o.max_seqs = 3;
  auto engine = sb::Engine::create(l.model, *l.tok, *l.backend, o);
  REQUIRE(engine.ok());
  std::vector<uint64_t> ids;
  for (const auto& r : reqs) ids.push_back((*engine)->add(r).value());
  std::vector<sb::FinishedRequest> finished;
  REQUIRE((*engine)->step(&finished).ok());
  REQUIRE((*engine)->n_running() == 3);
  const std::vector<uint64_t> cancelled = (*engine)->cancel_waiting();
  CHECK(cancelled == std::vector<uint64_t>(ids.begin() + 3, ids.end()));  // the last five, oldest first
  CHECK((*engine)->n_pending() == 3);
  CHECK((*engine)->cancel_waiting().empty());
  std::map<uint64_t, sb::GenerationResult> done;
  while ((*engine)->has_work()) {
    REQUIRE((*engine)->step(&finished).ok());
    for (auto& f : finished) done.emplace(f.id, std::move(f.result));
    finished.clear();
  }
  REQUIRE(done.size() == 3);
  const auto alone = run_alone(l, std::vector<sb::GenerationRequest>(reqs.begin(), reqs.begin() + 3));
  for (size_t i = 0; i < 3; ++i) CHECK(done.at(ids[i]).tokens == alone[i].tokens);
}

TEST_CASE("engine: per-request errors are returned by add() and the engine goes on") {
  Loaded l = load(kStories);
  sb::EngineOptions o;
  o.max_ctx = 64;
  o.kv_cache_tokens = 48;
  o.kv_block_size = 16;
  auto engine = sb::Engine::create(l.model, *l.tok, *l.backend, o);
  REQUIRE(engine.ok());
  sb::GenerationRequest r;
  r.sampling.temperature = 0;
  r.max_tokens = 8;
  CHECK((*engine)->add(r).status().code() == sb::StatusCode::kInvalidArgument);  // empty prompt
  r.prompt.assign(65, 5);
  CHECK((*engine)->add(r).status().code() == sb::StatusCode::kOutOfRange);  // longer than the context
  r.prompt.assign(30, 5);
  r.max_tokens = 30;
  CHECK((*engine)->add(r).status().code() == sb::StatusCode::kOutOfRange);  // never fits the pool
  r.max_tokens = 8;
  r.sampling.top_p = 0;
  CHECK((*engine)->add(r).status().code() == sb::StatusCode::kInvalidArgument);
  r.sampling.top_p = 1;
  r.prompt[3] = 100000;
  CHECK((*engine)->add(r).status().code() == sb::StatusCode::kInvalidArgument);
  r.prompt[3] = 5;
  auto id = (*engine)->add(r);
  REQUIRE(id.ok());
  std::vector<sb::FinishedRequest> done;
  while ((*engine)->has_work()) REQUIRE((*engine)->step(&done).ok());
  REQUIRE(done.size() == 1);
  CHECK(done[0].id == *id);
  CHECK(done[0].result.completion_tokens == 8);
}

TEST_CASE("engine: random GQA model, 17 requests, block size 4: batch, chunking and preemption invariance") {
  Loaded l = load(random_model_path());
  CHECK(l.model.config.n_kv_head == 2);
  std::vector<sb::GenerationRequest> reqs(17);
  for (int i = 0; i < 17; ++i) {
    sb::GenerationRequest& r = reqs[static_cast<size_t>(i)];
    r.index = static_cast<uint64_t>(i);
    for (int t = 0; t < 1 + (i * 7) % 23; ++t) r.prompt.push_back(3 + (i * 31 + t * 17) % 297);
    r.max_tokens = 3 + (i * 5) % 19;
    r.ignore_eos = true;
    if (i % 2) r.sampling = sb::SamplingParams{1.0f, 1.0f, 0, 0.0f, static_cast<uint64_t>(i)};
    else r.sampling.temperature = 0;
  }
  const auto alone = run_alone(l, reqs);
  sb::EngineOptions o;
  o.max_seqs = 5;
  o.max_batch_tokens = 9;
  o.kv_block_size = 4;
  o.kv_cache_tokens = 48;
  const sb::test::EngineRun out = run_engine(l, o, reqs);
  check_same(out.results, alone);
  CHECK(out.max_running <= 5);
  CHECK(out.stats.preemptions > 0);
}

namespace {

// stories requests that share a 37-token preamble, several with identical
// prompts; greedy and seeded sampling.
std::vector<sb::GenerationRequest> preamble_requests(const sb::Tokenizer& tok, int n) {
  const std::string preamble =
      "Once upon a time there was a little girl named Lily. She liked to play with her red ball in the big park "
      "with her dog.";
  const char* ends[] = {" One day", " Lily saw a cat", " The sun was hot and", " Her dog", " She was sad because",
                        " Then"};
  std::vector<sb::GenerationRequest> reqs;
  for (int i = 0; i < n; ++i) {
    sb::GenerationRequest r;
    r.index = static_cast<uint64_t>(i);
    r.prompt = tok.encode(preamble + ends[i % 6], true);
    r.max_tokens = 12 + (i * 7) % 25;
    r.ignore_eos = true;
    if (i % 2 == 0) r.sampling.temperature = 0;
    else r.sampling = sb::SamplingParams{0.9f, 0.95f, 0, 0.0f, static_cast<uint64_t>(50 + i)};
    reqs.push_back(std::move(r));
  }
  return reqs;
}

sb::EngineOptions without_prefix_cache(sb::EngineOptions o) {
  o.prefix_cache = false;
  return o;
}

}  // namespace

TEST_CASE("engine, prefix cache: outputs equal those without it (greedy, sampled, preempted, ngram drafts)") {
  Loaded l = load(kStories);
  const auto reqs = preamble_requests(*l.tok, 24);
  REQUIRE(reqs[0].prompt.size() > 32);  // two whole blocks of preamble to share
  sb::EngineOptions roomy;
  roomy.max_seqs = 8;
  roomy.max_batch_tokens = 64;
  sb::EngineOptions tiny = roomy;
  tiny.kv_cache_tokens = 96;  // 6 blocks for 8 requests of up to 79 tokens (5 blocks)
  sb::EngineOptions drafts = roomy;
  drafts.max_batch_tokens = 512;  // every request drafts its full spec_max: the same draws either way
  drafts.draft = sb::test::draft_spec("ngram");
  drafts.spec_policy = sb::SpecPolicy::kFixed;
  drafts.spec_max = 4;
  const char* names[] = {"roomy", "tiny", "drafts"};
  int config = 0;
  for (const sb::EngineOptions& o : {roomy, tiny, drafts}) {
    const std::string name = names[config++];
    CAPTURE(name);
    const sb::test::EngineRun off = run_engine(l, without_prefix_cache(o), reqs);
    const sb::test::EngineRun on = run_engine(l, o, reqs);
    check_same(on.results, off.results);
    CHECK(off.stats.cached_prompt_tokens == 0);
    CHECK(on.stats.cached_prompt_tokens >= 23 * 32);  // all but the first reuse the preamble's two blocks
    CHECK(on.stats.computed_tokens < off.stats.computed_tokens);
    if (o.kv_cache_tokens > 0) CHECK(on.stats.preemptions > 0);
    if (!o.draft.none()) CHECK(on.stats.accepted_tokens > 0);
  }
}

TEST_CASE("engine, prefix cache: 64 records sharing a 256-token preamble compute it once") {
  Loaded l = load(random_model_path());
  std::vector<int32_t> preamble;
  for (int t = 0; t < 256; ++t) preamble.push_back(3 + (t * 37 + 11) % 290);
  std::vector<sb::GenerationRequest> reqs(64);
  for (int i = 0; i < 64; ++i) {
    sb::GenerationRequest& r = reqs[static_cast<size_t>(i)];
    r.index = static_cast<uint64_t>(i);
    r.prompt = preamble;
    for (int t = 0; t < 16; ++t) r.prompt.push_back(3 + (i * 16 + t) % 290);  // a distinct 16-token question
    r.max_tokens = 1;  // the prompt alone is computed
    r.sampling.temperature = 0;
  }
  sb::EngineOptions o;
  o.max_seqs = 64;
  o.max_batch_tokens = 512;
  const sb::test::EngineRun off = run_engine(l, without_prefix_cache(o), reqs);
  const sb::test::EngineRun on = run_engine(l, o, reqs);
  check_same(on.results, off.results);
  CHECK(off.stats.computed_tokens == 64 * 272);
  // The first record computes all 272 tokens; the 63 others, admitted with it,
  // wait one step for its preamble blocks and compute their 16-token question.
  CHECK(on.stats.computed_tokens == 272 + 63 * 16);
  CHECK(on.stats.cached_prompt_tokens == 63 * 256);
  CHECK(static_cast<double>(on.stats.computed_tokens) <= 0.1 * static_cast<double>(off.stats.computed_tokens));
}

TEST_CASE("engine, prefix cache: n = 4 samples compute the prompt once; each equals a lone run with its seed") {
  Loaded l = load(kStories);
  sb::GenerationRequest base = preamble_requests(*l.tok, 2)[1];  // sampled
  base.max_tokens = 30;
  const int p = static_cast<int>(base.prompt.size());
  std::vector<sb::GenerationRequest> samples(4, base);
  for (int k = 0; k < 4; ++k) samples[static_cast<size_t>(k)].sampling.seed = base.sampling.seed + static_cast<uint64_t>(k);
  sb::EngineOptions o;
  o.max_seqs = 4;
  const sb::test::EngineRun together = run_engine(l, o, samples);
  std::vector<sb::GenerationResult> alone;
  for (const auto& s : samples) alone.push_back(run_engine(l, without_prefix_cache(sb::EngineOptions{}), {s}).results[0]);
  check_same(together.results, alone);
  CHECK(together.results[0].tokens != together.results[1].tokens);
  // Every generated token but each sample's last is computed; of the prompt, the
  // first sample computes all p tokens, the others what follows its whole blocks.
  uint64_t decode = 0;
  for (const auto& r : together.results) decode += static_cast<uint64_t>(r.completion_tokens - 1);
  const int block = o.kv_block_size, shared = (p - 1) / block * block;
  CHECK(together.stats.computed_tokens - decode == static_cast<uint64_t>(p + 3 * (p - shared)));
  CHECK(together.stats.cached_prompt_tokens == static_cast<uint64_t>(3 * shared));
  MESSAGE("n = 4 of a " << p << "-token prompt computes " << p + 3 * (p - shared) << " prompt tokens");
}

TEST_CASE("engine: a GPU's default KV pool is what its free memory leaves after weights and workspaces") {
  // An H200 with 139 GiB free and a 8 GiB model: the pool is sized from that, not
  // from host memory (a 512 GiB host once asked for 128 GiB of KV).
  sb::DeviceMemoryPlan plan;
  plan.free_bytes = int64_t{139} << 30;
  plan.weight_bytes = int64_t{8} << 30;
  plan.workspace_bytes = int64_t{1} << 30;
  plan.kv_bytes_per_token = 147456;  // Qwen3-4B in F32: 2 x 36 layers x 8 KV heads x 128 x 4 bytes
  const int64_t left = plan.free_bytes - plan.weight_bytes - plan.workspace_bytes - sb::DeviceMemoryPlan::kReserve;
  CHECK(sb::device_kv_tokens_that_fit(plan) == left / 10 * 9 / plan.kv_bytes_per_token);
  CHECK(sb::device_kv_tokens_that_fit(plan) * plan.kv_bytes_per_token <= left);
  // Weights that take it all: nothing left, never negative.
  plan.weight_bytes = plan.free_bytes;
  CHECK(sb::device_kv_tokens_that_fit(plan) == 0);
}
