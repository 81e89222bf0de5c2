// Benchmark: the prefix cache on the shared-preamble workload (issue 9): N
// records of one P-token preamble followed by a distinct 16-token question,
// one generated token each, through the engine with the prefix cache on and
// off, in the same run. Prints the tokens each computed and the time ratio.
// Not a test: it asserts nothing about time.
// Usage: bench_prefix_cache [records=2000] [preamble=512] [threads=all]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "core/engine.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "core/random.h"
#include "core/tokenizer/tokenizer.h"
#include "kernels/cpu/cpu_backend.h"

namespace {

struct Result {
  sb::EngineStats stats;
  double seconds = 0;
};

sb::StatusOr<Result> run(const sb::Model& model, const sb::Tokenizer& tok, sb::Backend& backend, bool prefix_cache,
                         const std::vector<sb::GenerationRequest>& reqs) {
  sb::EngineOptions o;
  o.max_seqs = 64;
  o.max_batch_tokens = 512;
  o.prefix_cache = prefix_cache;
  SB_ASSIGN_OR_RETURN(std::unique_ptr<sb::Engine> engine, sb::Engine::create(model, tok, backend, o));
  const auto t0 = std::chrono::steady_clock::now();
  size_t next = 0;
  std::vector<sb::FinishedRequest> finished;
  while (next < reqs.size() || engine->has_work()) {
    // Fed like `specbatch run`: at most 2 x max_seqs requests queued.
    while (next < reqs.size() && engine->n_pending() < 2 * o.max_seqs) {
      SB_ASSIGN_OR_RETURN(uint64_t id, engine->add(reqs[next++]));
      (void)id;
    }
    SB_RETURN_IF_ERROR(engine->step(&finished));
    finished.clear();
  }
  Result r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.stats = engine->stats();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const int n_records = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int n_preamble = argc > 2 ? std::atoi(argv[2]) : 512;
  const int threads = argc > 3 ? std::atoi(argv[3]) : static_cast<int>(std::thread::hardware_concurrency());
  const int n_question = 16;
  // stories260K's shape with a 1024-token context, random weights.
  const std::string path = "/tmp/bench_prefix_cache." + std::to_string(::getpid()) + ".gguf";
  const sb::RandomModelShape shape{512, 64, 5, 8, 4, 172, 1024};
  if (n_preamble + n_question > shape.max_ctx || n_records < 1) {
    std::fprintf(stderr, "bench_prefix_cache: preamble + 16 must fit a 1024-token context\n");
    return 2;
  }
  sb::Status st = sb::write_random_model(path, shape, 1234);
  auto model = st.ok() ? sb::load_model(path) : sb::StatusOr<sb::Model>(st);
  auto tok = model.ok() ? sb::Tokenizer::load(path) : sb::StatusOr<std::unique_ptr<sb::Tokenizer>>(model.status());
  std::remove(path.c_str());
  if (!tok.ok()) {
    std::fprintf(stderr, "bench_prefix_cache: %s\n", tok.status().to_string().c_str());
    return 1;
  }
  std::unique_ptr<sb::Backend> backend = sb::make_cpu_backend(threads);
  auto token = [&](uint64_t i, uint64_t t) {
    return static_cast<int32_t>(3 + sb::random_bits(99, i, t, sb::RandomPurpose::kSample) % (shape.n_vocab - 3));
  };
  std::vector<sb::GenerationRequest> reqs(static_cast<size_t>(n_records));
  for (int i = 0; i < n_records; ++i) {
    sb::GenerationRequest& r = reqs[static_cast<size_t>(i)];
    r.index = static_cast<uint64_t>(i);
    for (int t = 0; t < n_preamble; ++t) r.prompt.push_back(token(0, static_cast<uint64_t>(t)));
    for (int t = 0; t < n_question; ++t) r.prompt.push_back(token(1 + static_cast<uint64_t>(i), static_cast<uint64_t>(t)));
    r.max_tokens = 1;
    r.sampling.temperature = 0;
  }
  std::printf("%d records: a %d-token preamble + a distinct %d-token question, 1 generated token, %d threads\n",
              n_records, n_preamble, n_question, threads);
  Result res[2];
  for (const bool on : {true, false}) {
    auto r = run(*model, **tok, *backend, on, reqs);
    if (!r.ok()) {
      std::fprintf(stderr, "bench_prefix_cache: %s\n", r.status().to_string().c_str());
      return 1;
    }
    res[on ? 0 : 1] = *r;
    std::printf("prefix cache %-3s: %10llu prompt tokens, %10llu computed, %10llu from the cache, %8.2f s\n",
                on ? "on" : "off", static_cast<unsigned long long>(r->stats.prompt_tokens),
                static_cast<unsigned long long>(r->stats.computed_tokens),
                static_cast<unsigned long long>(r->stats.cached_prompt_tokens), r->seconds);
  }
  std::printf("computed tokens: %.1f%% fewer with the cache; time: off / on = %.1fx\n",
              100.0 * (1.0 - static_cast<double>(res[0].stats.computed_tokens) /
                                 static_cast<double>(res[1].stats.computed_tokens)),
              res[1].seconds / res[0].seconds);
  return 0;
}
