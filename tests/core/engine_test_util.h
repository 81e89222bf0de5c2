// Test helper shared by the engine and speculative tests: a model, its
// tokenizer and a 2-thread CPU backend, loaded or the test fails.
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "core/backend.h"
#include "core/model.h"
#include "core/tokenizer.h"
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

}  // namespace sb::test
