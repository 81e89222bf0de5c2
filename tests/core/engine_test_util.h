// Test helper shared by the engine and speculative tests: a model, its
// tokenizer and a 2-thread CPU backend, loaded or the test fails.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/engine.h"
#include "core/model/model.h"
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

}  // namespace sb::test
