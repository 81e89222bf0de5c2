// `specbatch bench`: synthetic prompts through the same Engine as `run`, at
// several concurrencies, reporting prompt and generated tokens/s and the ratio
// to concurrency 1 measured in the same run; with --draft, generation again with
// speculative decoding, its ratio to the plain run and the draft acceptance.
// Can first write a random-weight model of a known shape (--random-model 110m)
// so no checkpoint is needed.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/backend.h"
#include "core/engine.h"
#include "core/model.h"
#include "core/random.h"
#include "core/tokenizer.h"
#include "formats/json_writer.h"
#include "formats/random_model.h"

namespace sb::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct BenchRow {
  int concurrency = 0;
  double prompt_tps = 0;     // prompt tokens/s with max_tokens 1
  double generated_tps = 0;  // generated tokens/s after the prompts
  uint64_t preemptions = 0;
  double spec_generated_tps = 0;  // with --draft
  uint64_t drafted = 0;           // draft tokens verified, accepted (with --draft)
  uint64_t accepted = 0;
};

// Seconds to run `n` requests of prompt_len synthetic tokens and max_tokens each, greedy, ignoring EOS;
// with o.draft (and the loaded draft model) when `speculative`. Adds the engine's counts to *stats.
StatusOr<double> timed_run(const LoadedModel& loaded, const BenchOptions& o, int n, int max_tokens, bool speculative,
                           EngineStats* stats) {
  const Model& model = loaded.model;
  EngineOptions eo;
  eo.max_seqs = n;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.max_ctx = o.prompt_len + o.gen_len;
  if (speculative) {
    eo.draft = o.draft;
    eo.spec_policy = o.spec_policy == "off"     ? SpecPolicy::kOff
                     : o.spec_policy == "fixed" ? SpecPolicy::kFixed
                                                : SpecPolicy::kConfidence;
    eo.spec_max = o.spec_max;
  }
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                      Engine::create(model, *loaded.tokenizer, *loaded.backend, eo, loaded.draft()));
  const int n_vocab = model.config.n_vocab;
  const int first = std::min(n_vocab - 1, 3);  // past the usual control tokens
  for (int i = 0; i < n; ++i) {
    GenerationRequest r;
    r.index = static_cast<uint64_t>(i);
    for (int p = 0; p < o.prompt_len; ++p)
      r.prompt.push_back(first + static_cast<int32_t>(random_bits(7, static_cast<uint64_t>(i), static_cast<uint64_t>(p),
                                                                  RandomPurpose::kSample) %
                                                      static_cast<uint64_t>(n_vocab - first)));
    r.sampling.temperature = 0;
    r.max_tokens = max_tokens;
    r.ignore_eos = true;
    SB_RETURN_IF_ERROR(engine->add(std::move(r)).status());
  }
  std::vector<FinishedRequest> done;
  const auto t0 = Clock::now();
  while (engine->has_work()) SB_RETURN_IF_ERROR(engine->step(&done));
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  if (done.size() != static_cast<size_t>(n)) return internal_error("bench: not every request finished");
  const EngineStats es = engine->stats();
  stats->preemptions += es.preemptions;
  stats->drafted_tokens += es.drafted_tokens;
  stats->accepted_tokens += es.accepted_tokens;
  return s;
}

Status write_shape(const BenchOptions& o) {
  RandomModelShape shape;
  if (o.random_model == "110m") {
    shape = stories110m_shape();
  } else if (o.random_model == "260k") {
    shape = RandomModelShape{512, 64, 5, 8, 4, 172, 512};
  } else {
    return invalid_argument("--random-model: unknown shape '" + o.random_model + "' (110m or 260k)");
  }
  struct stat st {};
  if (::stat(o.model.c_str(), &st) == 0)
    return invalid_argument(o.model + ": exists; --random-model writes a new file (drop the flag to reuse it)");
  return write_random_model(o.model, shape, 1234);
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prompt and generated tokens/s of the engine at several concurrencies");
  cmd->add_option("-m,--model", o.model, "GGUF file or Hugging Face model directory")->required();
  cmd->add_option("--random-model", o.random_model,
                  "First write a random-weight F32 model of this shape to --model: 110m (stories110M: dim 768, "
                  "12 layers, 12 heads, ffn 2048, vocab 32000) or 260k (stories260K)")
      ->check(CLI::IsMember({"110m", "260k"}));
  cmd->add_option("--batch", o.batch, "Concurrencies to measure, comma-separated")
      ->delimiter(',')->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--prompt-len", o.prompt_len, "Prompt tokens per request")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--gen-len", o.gen_len, "Generated tokens per request")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--max-batch-tokens", o.max_batch_tokens, "Tokens per engine step")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads; 0 = all cores")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--device", o.device, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  cmd->add_option("--draft", o.draft,
                  "Also measure generation with this drafter: ngram, ngram:N, self:q8_0, self:q4_0 or a draft "
                  "model PATH");
  cmd->add_option("--spec-policy", o.spec_policy, "Draft tokens verified per step with --draft: confidence, fixed or off")
      ->check(CLI::IsMember({"confidence", "fixed", "off"}))->capture_default_str();
  cmd->add_option("--spec-max", o.spec_max, "Draft tokens per request and step")
      ->check(CLI::Range(1, 64))->capture_default_str();
  cmd->add_flag("--json", o.json, "Print the results as one JSON object");
  return cmd;
}

int bench_command(const BenchOptions& o) {
  if (!o.random_model.empty()) {
    const Status s = write_shape(o);
    if (!s.ok()) {
      print_error(s.message());
      return s.code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFatal;
    }
  }
  auto loaded = load_for_generation(o.model, o.draft, o.device, o.threads);
  if (!loaded.ok()) {
    print_error(loaded.status().message());
    return kExitFatal;
  }
  const Model& model = loaded->model;
  std::vector<BenchRow> rows;
  for (int c : o.batch) {
    BenchRow row;
    row.concurrency = c;
    // Prompts alone (one sampled token each), then the full generation; the
    // difference is the generation time.
    EngineStats plain, spec;
    auto prefill = timed_run(*loaded, o, c, 1, false, &plain);
    auto full = prefill.ok() ? timed_run(*loaded, o, c, o.gen_len, false, &plain) : prefill;
    auto full_spec = full.ok() && !o.draft.empty()
                         ? timed_run(*loaded, o, c, o.gen_len, true, &spec)
                         : full;
    if (!full_spec.ok()) {
      print_error(full_spec.status().message());
      return kExitFatal;
    }
    row.prompt_tps = static_cast<double>(c) * o.prompt_len / *prefill;
    row.generated_tps = static_cast<double>(c) * (o.gen_len - 1) / std::max(1e-9, *full - *prefill);
    row.preemptions = plain.preemptions;
    row.spec_generated_tps = static_cast<double>(c) * (o.gen_len - 1) / std::max(1e-9, *full_spec - *prefill);
    row.drafted = spec.drafted_tokens;
    row.accepted = spec.accepted_tokens;
    rows.push_back(row);
    if (!o.json)
      std::fprintf(stderr, "specbatch: concurrency %d: %.1f prompt tokens/s, %.1f generated tokens/s\n", c,
                   row.prompt_tps, row.generated_tps);
  }
  const BenchRow& base = rows.front();
  if (o.json) {
    JsonWriter w;
    w.begin_object().key("model").value(o.model).key("params").value(model.n_params);
    w.key("prompt_len").value(o.prompt_len).key("gen_len").value(o.gen_len).key("results").begin_array();
    for (const BenchRow& r : rows) {
      w.begin_object().key("concurrency").value(r.concurrency);
      w.key("prompt_tokens_per_second").value(r.prompt_tps).key("generated_tokens_per_second").value(r.generated_tps);
      w.key("prompt_ratio").value(r.prompt_tps / base.prompt_tps);
      w.key("generated_ratio").value(r.generated_tps / base.generated_tps);
      w.key("preemptions").value(r.preemptions);
      if (!o.draft.empty()) {
        w.key("spec_generated_tokens_per_second").value(r.spec_generated_tps);
        w.key("spec_ratio").value(r.spec_generated_tps / r.generated_tps);
        w.key("draft_tokens").value(r.drafted).key("accepted_draft_tokens").value(r.accepted);
      }
      w.end_object();
    }
    w.end_array().end_object();
    std::printf("%s\n", w.take().c_str());
    return kExitOk;
  }
  std::printf("%s: %llu parameters, prompt %d, generate %d tokens per request (ratios vs concurrency %d)\n",
              o.model.c_str(), static_cast<unsigned long long>(model.n_params), o.prompt_len, o.gen_len,
              base.concurrency);
  std::printf("%11s %14s %7s %17s %7s", "concurrency", "prompt tok/s", "ratio", "generated tok/s", "ratio");
  if (!o.draft.empty()) std::printf(" %17s %9s %9s", "spec gen tok/s", "vs plain", "accepted");
  std::printf("\n");
  for (const BenchRow& r : rows) {
    std::printf("%11d %14.1f %7.2f %17.1f %7.2f", r.concurrency, r.prompt_tps, r.prompt_tps / base.prompt_tps,
                r.generated_tps, r.generated_tps / base.generated_tps);
    if (!o.draft.empty())
      std::printf(" %17.1f %9.2f %8.1f%%", r.spec_generated_tps, r.spec_generated_tps / r.generated_tps,
                  r.drafted > 0 ? 100.0 * static_cast<double>(r.accepted) / static_cast<double>(r.drafted) : 0.0);
    std::printf("\n");
  }
  return kExitOk;
}

}  // namespace sb::cli
