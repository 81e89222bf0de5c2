// Benchmark: output constraints (issue 20) on a real vocabulary, for a JSON
// schema with nesting and an enum.
//   mask: random walks draw each next token uniformly from the mask; every
//     fill_mask() is timed. The first walk is cold (each grammar node's token
//     sets computed on first use); then every node's sets are computed and the
//     other walks time the mask alone. Baseline in the same run: the reference
//     mask (every vocabulary token tried on the automaton) at sampled positions.
//   run: engine throughput (generated tokens per second) of sampled records
//     with the schema against the same records without it, 1 and 64 at a time,
//     on a random Qwen3 model over that vocabulary; the faster of two
//     interleaved runs of each.
// Not a test: it asserts nothing about time.
// Usage: bench_constrain mask [TOKENIZER=../shared/tokenizers/qwen3] [walks=30] [max_tokens=300]
//        bench_constrain run [TOKENIZER=../shared/tokenizers/qwen3] [dim=256] [layers=2] [threads=all]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "core/constrain/constraint.h"
#include "core/constrain/matcher.h"
#include "core/engine.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"

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

int bench_mask(const sb::Tokenizer& tokenizer, int walks, int max_tokens) {
  const sb::Tokenizer* tok = &tokenizer;
  auto t0 = std::chrono::steady_clock::now();
  const auto vocab = sb::constrain::Vocabulary::create(*tok, tok->n_vocab(), tok->eos_ids());
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

// Generated tokens per second of n records, max_seqs at a time.
sb::StatusOr<std::pair<double, double>> throughput(const sb::Model& model, const sb::Tokenizer& tok,
                                                   sb::Backend& backend, int max_seqs, int n, bool constrained) {
  sb::EngineOptions o;
  o.max_seqs = max_seqs;
  SB_ASSIGN_OR_RETURN(std::unique_ptr<sb::Engine> engine, sb::Engine::create(model, tok, backend, o));
  sb::ConstraintSpec spec;
  spec.kind = sb::ConstraintKind::kJsonSchema;
  spec.text = kSchema;
  SB_ASSIGN_OR_RETURN(std::shared_ptr<const sb::constrain::Constraint> c, engine->constraint(spec));
  const auto t0 = std::chrono::steady_clock::now();
  int64_t tokens = 0;
  for (int i = 0; i < n; ++i) {
    sb::GenerationRequest r;
    r.index = static_cast<uint64_t>(i);
    r.prompt = tok.encode("A book record as JSON:", true);
    r.max_tokens = 96;
    r.sampling.seed = 7;
    if (constrained) r.constraint = c;
    SB_ASSIGN_OR_RETURN(uint64_t id, engine->add(std::move(r)));
    (void)id;
  }
  std::vector<sb::FinishedRequest> finished;
  while (engine->has_work()) {
    SB_RETURN_IF_ERROR(engine->step(&finished));
    for (const sb::FinishedRequest& f : finished) {
      SB_RETURN_IF_ERROR(f.result.status);
      tokens += f.result.completion_tokens;
    }
    finished.clear();
  }
  const double s = seconds_since(t0);
  return std::make_pair(static_cast<double>(tokens) / s, static_cast<double>(tokens) / n);
}

int bench_run(const sb::Tokenizer& tok, int dim, int layers, int threads) {
  const std::string path = "/tmp/bench_constrain." + std::to_string(::getpid()) + ".gguf";
  sb::RandomModelShape shape;
  shape.n_vocab = tok.n_vocab();
  shape.dim = dim;
  shape.n_layer = layers;
  shape.n_head = dim / 64;
  shape.n_kv_head = std::max(1, dim / 128);
  shape.ffn_dim = dim * 3;
  shape.max_ctx = 1024;
  shape.qwen3 = true;
  sb::Status st = sb::write_random_model(path, shape, 11);
  auto model = st.ok() ? sb::load_model(path) : sb::StatusOr<sb::Model>(st);
  std::remove(path.c_str());
  if (!model.ok()) {
    std::fprintf(stderr, "bench_constrain: %s\n", model.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<sb::Backend> backend = sb::make_cpu_backend(threads);
  std::printf("random Qwen3 dim %d, %d layers, vocab %d; backend %s, %d threads\n", dim, layers, shape.n_vocab,
              backend->name(), threads);
  for (int max_seqs : {1, 64}) {
    const int n = max_seqs == 1 ? 6 : 64;
    std::pair<double, double> best[2] = {};  // unconstrained, constrained: (tok/s, tokens per record)
    for (int rep = 0; rep < 2; ++rep)
      for (int constrained = 0; constrained < 2; ++constrained) {
        auto r = throughput(*model, tok, *backend, max_seqs, n, constrained == 1);
        if (!r.ok()) {
          std::fprintf(stderr, "bench_constrain: %s\n", r.status().to_string().c_str());
          return 1;
        }
        if (r->first > best[constrained].first) best[constrained] = *r;
      }
    const auto* plain = &best[0];
    const auto* constrained = &best[1];
    std::printf("concurrency %2d, %d records: unconstrained %.1f tok/s (%.0f tokens each), with the schema %.1f "
                "tok/s (%.0f tokens each): %.3fx\n",
                max_seqs, n, plain->first, plain->second, constrained->first, constrained->second,
                constrained->first / plain->first);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode != "mask" && mode != "run") {
    std::fprintf(stderr, "usage: bench_constrain mask|run [TOKENIZER] [...]\n");
    return 2;
  }
  auto tok = sb::Tokenizer::load(argc > 2 ? argv[2] : "../shared/tokenizers/qwen3");
  if (!tok.ok()) {
    std::fprintf(stderr, "bench_constrain: %s\n", tok.status().to_string().c_str());
    return 1;
  }
  std::printf("CPU: %s; constraint code: scalar C++ (Release build)\n", cpu_name().c_str());
  if (mode == "mask") return bench_mask(**tok, argc > 3 ? std::atoi(argv[3]) : 30, argc > 4 ? std::atoi(argv[4]) : 300);
  return bench_run(**tok, argc > 3 ? std::atoi(argv[3]) : 256, argc > 4 ? std::atoi(argv[4]) : 2,
                   argc > 5 ? std::atoi(argv[5]) : static_cast<int>(std::thread::hardware_concurrency()));
}
