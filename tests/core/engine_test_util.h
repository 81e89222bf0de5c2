// Test helpers shared by the engine and speculative tests: a model, its
// tokenizer and a 2-thread CPU backend, loaded or the test fails; requests run
// through an engine to completion; results compared token for token.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/engine.h"
#include "core/model/model.h"
#include "core/spec/draft_spec.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"

namespace sb::test {

struct Loaded {
  Model model;
  std::unique_ptr<Tokenizer> tok;
  std::unique_ptr<Backend> backend = make_cpu_backend(2);
};

inline Loaded load(const std::string& path) {
  Loaded l;
  auto m = load_model(path);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  l.model = std::move(m).value();
  auto t = Tokenizer::load(path);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  l.tok = std::move(t).value();
  return l;
}

// Adds every request to `engine` up front and steps until all finished;
// results in request order. after_step(engine) runs after each step.
template <typename AfterStep>
std::vector<GenerationResult> finish_all(Engine& engine, const std::vector<GenerationRequest>& reqs,
                                         AfterStep&& after_step) {
  std::map<uint64_t, size_t> order;
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto id = engine.add(reqs[i]);
    REQUIRE_MESSAGE(id.ok(), id.status().to_string());
    order[*id] = i;
  }
  std::vector<GenerationResult> results(reqs.size());
  std::vector<FinishedRequest> finished;
  size_t n_done = 0;
  while (engine.has_work()) {
    const Status s = engine.step(&finished);
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    after_step(engine);
    for (FinishedRequest& f : finished) results[order.at(f.id)] = std::move(f.result);
    n_done += finished.size();
    finished.clear();
  }
  CHECK(n_done == reqs.size());
  return results;
}

inline std::vector<GenerationResult> finish_all(Engine& engine, const std::vector<GenerationRequest>& reqs) {
  return finish_all(engine, reqs, [](const Engine&) {});
}

struct EngineRun {
  std::vector<GenerationResult> results;  // in request order
  EngineStats stats;
  int max_running = 0;  // requests running at once, at most
};

// All requests through one new engine, added up front (draft: the model of a
// model drafter, load_draft_model()).
inline EngineRun run_engine(const Model& model, const Tokenizer& tok, Backend& backend, const EngineOptions& options,
                            const std::vector<GenerationRequest>& reqs, const Model* draft = nullptr) {
  auto engine = Engine::create(model, tok, backend, options, draft);
  REQUIRE_MESSAGE(engine.ok(), engine.status().to_string());
  EngineRun out;
  out.results = finish_all(**engine, reqs, [&](const Engine& e) { out.max_running = std::max(out.max_running, e.n_running()); });
  out.stats = (*engine)->stats();
  return out;
}

inline EngineRun run_engine(Loaded& l, const EngineOptions& options, const std::vector<GenerationRequest>& reqs,
                            const Model* draft = nullptr) {
  return run_engine(l.model, *l.tok, *l.backend, options, reqs, draft);
}

// got equals want request for request: tokens, text, finish reason and counts.
inline void check_same(const std::vector<GenerationResult>& got, const std::vector<GenerationResult>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("request " << i);
    CHECK(got[i].tokens == want[i].tokens);
    CHECK(got[i].text == want[i].text);
    CHECK(got[i].finish_reason == want[i].finish_reason);
    CHECK(got[i].prompt_tokens == want[i].prompt_tokens);
    CHECK(got[i].completion_tokens == want[i].completion_tokens);
  }
}

// A --draft value, parsed or the test fails.
inline DraftSpec draft_spec(const std::string& value) {
  auto d = parse_draft_spec(value);
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  return std::move(d).value();
}

// o speculating with the drafter `draft` (a --draft value) under `policy`.
inline EngineOptions with_draft(EngineOptions o, const std::string& draft, SpecPolicy policy, int spec_max = 8) {
  o.draft = draft_spec(draft);
  o.spec_policy = policy;
  o.spec_max = spec_max;
  return o;
}

}  // namespace sb::test
