// Benchmark: the allowed-token mask of a constrained sequence (issue 20) on a
// real vocabulary, for a JSON schema with nesting and an enum. Random walks
// draw each next token uniformly from the mask; every fill_mask() is timed.
// The first walk is cold (each grammar node's token sets computed on first
// use); then every node's sets are computed and the other walks time the mask alone. Baseline in the same run: the reference mask
// (every vocabulary token tried on the automaton) at a sample of positions.
// Not a test: it asserts nothing about time.
// Usage: bench_constrain [TOKENIZER=../shared/tokenizers/qwen3] [walks=30] [max_tokens=300]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "core/constrain/constraint.h"
#include "core/constrain/matcher.h"
#include "core/tokenizer/tokenizer.h"

namespace {

constexpr const char* kSchema = R"({"type":"object","properties":{
  "title":{"type":"string"},
  "genre":{"enum":["fantasy","science fiction","mystery","romance","horror","non-fiction"]},
  "year":{"type":"integer","minimum":1450,"maximum":2030},
  "rating":{"type":"number","minimum":0,"maximum":5},
  "author":{"type":"object","properties":{"name":{"type":"string"},"born":{"type":"string","format":"date"},
            "alive":{"type":"boolean"}},"required":["name","alive"]},
  "tags":{"type":"array","items":{"type":"string"},"maxItems":5}},
  "required":["title","genre","year","author"],"additionalProperties":false})";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : "../shared/tokenizers/qwen3";
  const int walks = argc > 2 ? std::atoi(argv[2]) : 30;
  const int max_tokens = argc > 3 ? std::atoi(argv[3]) : 300;
  auto tok = sb::Tokenizer::load(path);
  if (!tok.ok()) {
    std::fprintf(stderr, "bench_constrain: %s\n", tok.status().to_string().c_str());
    return 1;
  }
  auto t0 = std::chrono::steady_clock::now();
  const auto vocab = sb::constrain::Vocabulary::create(**tok, (*tok)->n_vocab(), (*tok)->eos_ids());
  const double vocab_s = seconds_since(t0);
  sb::constrain::ConstraintCache cache(vocab);
  sb::constrain::ConstraintSpec spec;
  spec.kind = sb::constrain::ConstraintKind::kJsonSchema;
  spec.text = kSchema;
  t0 = std::chrono::steady_clock::now();
  auto c = cache.get(spec);
  const double compile_s = seconds_since(t0);
  if (!c.ok()) {
    std::fprintf(stderr, "bench_constrain: %s\n", c.status().to_string().c_str());
    return 1;
  }
  const auto& tables = (*c)->tables;
  std::printf("CPU: %s; scalar C++ (-O3 -march=native)\n", cpu_name().c_str());
  std::printf("vocabulary %d tokens (%zu trie nodes), built in %.1f ms; schema compiled in %.2f ms (%zu nodes)\n",
              vocab->n_vocab(), vocab->trie().size(), vocab_s * 1e3, compile_s * 1e3,
              tables->grammar().nodes.size());

  std::mt19937_64 rng(42);
  std::vector<uint64_t> mask(static_cast<size_t>(tables->n_words()));
  std::vector<double> cold, warm, reference;
  int completed = 0;
  double precompute_s = 0;
  for (int w = 0; w <= walks; ++w) {
    if (w == 1) {  // the rest of the nodes' sets, so that the warm walks time only the mask
      t0 = std::chrono::steady_clock::now();
      tables->compute_all();
      precompute_s = seconds_since(t0);
    }
    sb::constrain::Matcher m(tables);
    for (int i = 0; i < max_tokens; ++i) {
      const auto t1 = std::chrono::steady_clock::now();
      m.fill_mask(mask);
      (w == 0 ? cold : warm).push_back(seconds_since(t1));
      if (w > 0 && i % 25 == 0 && reference.size() < 40) {
        const auto t2 = std::chrono::steady_clock::now();
        for (int32_t id = 0; id < vocab->n_vocab(); ++id)
          if (m.advance(id)) m.rollback(1);
        reference.push_back(seconds_since(t2));
      }
      if (m.is_complete()) {
        ++completed;
        break;
      }
      // A uniformly drawn allowed token: the k-th set bit.
      int64_t n = 0;
      for (uint64_t word : mask) n += __builtin_popcountll(word);
      int64_t k = static_cast<int64_t>(rng() % static_cast<uint64_t>(n));
      int32_t id = 0;
      for (size_t j = 0; j < mask.size(); ++j) {
        const int c = __builtin_popcountll(mask[j]);
        if (k >= c) {
          k -= c;
          continue;
        }
        uint64_t bits = mask[j];
        for (; k > 0; --k) bits &= bits - 1;
        id = static_cast<int32_t>(j * 64 + static_cast<size_t>(__builtin_ctzll(bits)));
        break;
      }
      if (!m.advance(id)) {
        std::fprintf(stderr, "bench_constrain: an allowed token was refused\n");
        return 1;
      }
    }
  }
  auto us = [](double s) { return s * 1e6; };
  std::printf("cold walk: %zu masks, median %.1f us, p99 %.1f us, max %.1f us (node token sets computed on first "
              "use); the other nodes' sets computed in %.0f ms (%d nodes in all)\n",
              cold.size(), us(percentile(cold, 0.5)), us(percentile(cold, 0.99)), us(percentile(cold, 1.0)),
              precompute_s * 1e3, tables->n_computed());
  std::printf("warm walks: %zu masks, median %.1f us, p99 %.1f us, max %.1f us; %d of %d walks completed\n",
              warm.size(), us(percentile(warm, 0.5)), us(percentile(warm, 0.99)), us(percentile(warm, 1.0)),
              completed, walks);
  std::printf("reference (every token tried): %zu masks, median %.1f us -> %.0fx the warm median\n",
              reference.size(), us(percentile(reference, 0.5)), percentile(reference, 0.5) / percentile(warm, 0.5));
  return 0;
}
