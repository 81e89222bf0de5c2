// `specbatch bench`: synthetic prompts through the same Engine as `run`, at
// several concurrencies, reporting prompt and generated tokens/s and the ratio
// to concurrency 1 measured in the same run; with --draft, generation again
// under each speculation policy (fixed, confidence) with its ratio to the
// plain run (off) of the same concurrency, the mean accepted length and the
// share of request-steps that verified no draft. Can first write a
// random-weight model of a known shape (--random-model 110m), or measure a
// widened, function-equivalent copy of the model (--widen-model).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/engine_setup.h"
#include "cli/flag_checks.h"
#include "cli/progress.h"
#include "core/backend.h"
#include "core/engine.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "core/modelgen/widen_model.h"
#include "core/random.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/json_writer.h"

namespace sb::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct PolicyRun {
  std::string policy;        // off, fixed or confidence
  double generated_tps = 0;  // generated tokens/s after the prompts
  EngineStats stats;         // of the full generation
};

struct BenchRow {
  int concurrency = 0;
  double prompt_tps = 0;       // prompt tokens/s with max_tokens 1
  std::vector<PolicyRun> runs;  // runs[0]: off
};

// How the confidence policy's step cost is found: --spec-profile, else the
// first profile of this bench, reused for every later concurrency.
struct ProfileSource {
  std::string path;
  SpecProfileKey key;
  std::vector<std::pair<int, double>> measured;             // target step seconds
  std::vector<std::pair<int, double>> measured_draft_pass;  // draft pass seconds
};

// An engine for n concurrent requests under `policy` (off: no drafter).
StatusOr<std::unique_ptr<Engine>> bench_engine(const LoadedModel& loaded, const BenchOptions& o, int n,
                                               const std::string& policy, ProfileSource* profile) {
  EngineOptions eo;
  eo.max_seqs = n;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.max_ctx = o.prompt_len + o.gen_len;
  if (policy != "off") {
    eo.draft = o.draft;
    eo.spec_policy = policy == "fixed" ? SpecPolicy::kFixed : SpecPolicy::kConfidence;
    eo.spec_max = o.spec_max;
    eo.step_cost = profile->measured;
    eo.draft_pass_cost = profile->measured_draft_pass;
  }
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, create_engine(loaded, eo, profile->path, profile->key));
  if (engine->step_cost() != nullptr && profile->measured.empty()) {
    const auto points = engine->step_cost()->points();
    profile->measured.assign(points.begin(), points.end());
    if (const StepCost* pass = engine->draft_pass_cost())
      profile->measured_draft_pass.assign(pass->points().begin(), pass->points().end());
  }
  return engine;
}

// Seconds to run `n` requests of prompt_len synthetic tokens and max_tokens each, greedy, ignoring EOS,
// under `policy`. Writes the engine's counts to *stats.
StatusOr<double> timed_run(const LoadedModel& loaded, const BenchOptions& o, int n, int max_tokens,
                           const std::string& policy, ProfileSource* profile, EngineStats* stats) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, bench_engine(loaded, o, n, policy, profile));
  const int n_vocab = loaded.model.config.n_vocab;
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
  *stats = engine->stats();
  return s;
}

Status write_shape(const BenchOptions& o) {
  RandomModelShape shape;
  if (o.random_model == "110m") {
    shape = stories110m_shape();
  } else if (o.random_model == "260k") {
    shape = RandomModelShape{512, 64, 5, 8, 4, 172, 512};
  } else if (o.random_model == "qwen3-4b") {
    shape = qwen3_4b_shape();
  } else {
    return invalid_argument("--random-model: unknown shape '" + o.random_model + "' (110m, 260k or qwen3-4b)");
  }
  struct stat st {};
  if (::stat(o.model.c_str(), &st) == 0)
    return invalid_argument(o.model + ": exists; --random-model writes a new file (drop the flag to reuse it)");
  return write_random_model(o.model, shape, 1234);
}

// The command line checked once: the policies to measure (off first), the
// device, the widening. A refusal is a usage error.
struct BenchPlan {
  std::vector<std::string> policies;
  DeviceChoice device;
  std::optional<WidenShape> widen;
};

StatusOr<BenchPlan> check_bench_options(const BenchOptions& o) {
  BenchPlan plan;
  plan.policies = {"off"};
  for (const char* p : {"fixed", "confidence"}) {
    const bool listed = std::find(o.spec_policies.begin(), o.spec_policies.end(), p) != o.spec_policies.end();
    if (listed && o.draft.empty()) return invalid_argument(std::string("--spec-policy ") + p + " needs --draft");
    if (!o.draft.empty() && (o.spec_policies.empty() || listed)) plan.policies.push_back(p);
  }
  SB_ASSIGN_OR_RETURN(plan.device, parse_device(o.device, o.dtype, o.threads));
  if (!o.widen_model.empty()) {
    auto widen = parse_widen_shape(o.widen_model);
    if (!widen.ok()) return widen.status().with_context("--widen-model");
    plan.widen = *widen;
  }
  return plan;
}

// The model bench measures: --model, or its widening written to a temporary
// file that is removed once loaded (the mapping keeps it readable). The profile
// key is taken while the file exists.
StatusOr<LoadedModel> load_measured(const BenchOptions& o, const BenchPlan& plan, ProfileSource* profile) {
  std::string path = o.model;
  if (plan.widen) {
    const char* tmpdir = std::getenv("TMPDIR");
    std::string tmp = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/specbatch-widened-XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) return errno_error("--widen-model: cannot create a temporary file " + tmp);
    ::close(fd);
    const Status s = write_widened_model(o.model, tmp, *plan.widen, 1234);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    path = tmp;
  }
  auto loaded = load_for_generation(path, o.draft, plan.device);
  StatusOr<SpecProfileKey> key = loaded.ok() && !profile->path.empty() ? spec_profile_key(*loaded, o.threads)
                                                                        : StatusOr<SpecProfileKey>(SpecProfileKey{});
  if (path != o.model) ::unlink(path.c_str());
  if (!loaded.ok()) return loaded.status();
  SB_ASSIGN_OR_RETURN(profile->key, std::move(key));
  return loaded;
}

// One row of the table: prompts alone (one sampled token each), then the full
// generation under each policy; the difference is the generation time. Each is
// the fastest of --repeat runs, interleaved so slow spells of the machine hit all alike.
StatusOr<BenchRow> measure_concurrency(const LoadedModel& loaded, const BenchOptions& o, int c,
                                       const std::vector<std::string>& policies, ProfileSource* profile) {
  BenchRow row;
  row.concurrency = c;
  EngineStats prompt_stats;
  std::vector<PolicyRun> runs(policies.size());
  std::vector<double> full(policies.size(), 0);
  double prefill = 0;
  for (int rep = 0; rep < o.repeat; ++rep) {
    SB_ASSIGN_OR_RETURN(const double p, timed_run(loaded, o, c, 1, "off", profile, &prompt_stats));
    for (size_t i = 0; i < policies.size(); ++i) {
      runs[i].policy = policies[i];
      SB_ASSIGN_OR_RETURN(const double f, timed_run(loaded, o, c, o.gen_len, policies[i], profile, &runs[i].stats));
      full[i] = rep == 0 ? f : std::min(full[i], f);
    }
    prefill = rep == 0 ? p : std::min(prefill, p);
  }
  for (size_t i = 0; i < policies.size(); ++i) {
    runs[i].generated_tps = static_cast<double>(c) * (o.gen_len - 1) / std::max(1e-9, full[i] - prefill);
    row.runs.push_back(std::move(runs[i]));
  }
  row.prompt_tps = static_cast<double>(c) * o.prompt_len / prefill;
  return row;
}

void print_json(const BenchOptions& o, const Model& model, const std::vector<BenchRow>& rows) {
  const BenchRow& base = rows.front();
  JsonWriter w;
  w.begin_object().key("model").value(o.model).key("params").value(model.n_params);
  if (!o.widen_model.empty()) w.key("widen_model").value(o.widen_model);
  w.key("prompt_len").value(o.prompt_len).key("gen_len").value(o.gen_len).key("repeat").value(o.repeat);
  if (!o.draft.empty()) w.key("draft").value(o.draft).key("spec_max").value(o.spec_max);
  w.key("results").begin_array();
  for (const BenchRow& r : rows) {
    const PolicyRun& off = r.runs.front();
    w.begin_object().key("concurrency").value(r.concurrency);
    w.key("prompt_tokens_per_second").value(r.prompt_tps).key("generated_tokens_per_second").value(off.generated_tps);
    w.key("prompt_ratio").value(r.prompt_tps / base.prompt_tps);
    w.key("generated_ratio").value(off.generated_tps / base.runs.front().generated_tps);
    w.key("preemptions").value(off.stats.preemptions);
    w.key("policies").begin_array();
    for (const PolicyRun& p : r.runs) {
      w.begin_object().key("policy").value(p.policy).key("generated_tokens_per_second").value(p.generated_tps);
      w.key("ratio_to_off").value(p.generated_tps / off.generated_tps);
      if (p.policy != "off") {
        w.key("draft_tokens").value(p.stats.drafted_tokens).key("accepted_draft_tokens").value(p.stats.accepted_tokens);
        w.key("draft_acceptance_rate").value(draft_acceptance_rate(p.stats));
        w.key("mean_accepted_length").value(mean_accepted_length(p.stats));
        w.key("no_draft_step_share").value(no_draft_share(p.stats));
      }
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.end_array().end_object();
  std::printf("%s\n", w.take().c_str());
}

void print_table(const BenchOptions& o, const Model& model, const std::vector<BenchRow>& rows) {
  const BenchRow& base = rows.front();
  std::string what = o.model;
  if (!o.widen_model.empty()) what += " widened to " + o.widen_model;
  if (!o.draft.empty()) what += ", draft " + o.draft;
  std::printf("%s: %llu parameters, prompt %d, generate %d tokens per request\n", what.c_str(),
              static_cast<unsigned long long>(model.n_params), o.prompt_len, o.gen_len);
  std::printf("%11s %14s %7s %10s %15s %7s %7s %8s %9s %8s\n", "concurrency", "prompt tok/s", "vs c1", "policy",
              "generated tok/s", "vs c1", "vs off", "accepted", "mean len", "no draft");
  for (const BenchRow& r : rows) {
    const PolicyRun& off = r.runs.front();
    for (const PolicyRun& p : r.runs) {
      if (&p == &off) {
        std::printf("%11d %14.1f %7.2f", r.concurrency, r.prompt_tps, r.prompt_tps / base.prompt_tps);
      } else {
        std::printf("%11s %14s %7s", "", "", "");
      }
      std::printf(" %10s %15.1f %7.2f %7.2f", p.policy.c_str(), p.generated_tps,
                  p.generated_tps / base.runs.front().generated_tps, p.generated_tps / off.generated_tps);
      if (p.policy != "off")
        std::printf(" %7.1f%% %9.2f %7.1f%%", 100.0 * draft_acceptance_rate(p.stats),
                    mean_accepted_length(p.stats), 100.0 * no_draft_share(p.stats));
      std::printf("\n");
    }
  }
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "bench", "Measure prompt and generated tokens/s of the engine at several concurrencies");
  cmd->add_option("-m,--model", o.model, "GGUF file or Hugging Face model directory")->required();
  cmd->add_option("--random-model", o.random_model,
                  "First write a random-weight model of this shape to --model: 110m (stories110M, F32: dim 768, "
                  "12 layers, 12 heads, ffn 2048, vocab 32000), 260k (stories260K, F32) or qwen3-4b (Qwen3-4B, "
                  "BF16: dim 2560, 36 layers, 32/8 heads of dim 128, ffn 9728, vocab 151936; 8 GB)")
      ->check(CLI::IsMember({"110m", "260k", "qwen3-4b"}));
  cmd->add_option("--widen-model", o.widen_model,
                  "Measure a wider, deeper F32 copy of the (Llama GGUF) model computing the same function, "
                  "e.g. 768,16,2048 (head dim 64) or 768,16,2048,64; written to $TMPDIR and removed once loaded")
      ->type_name("DIM,LAYERS,FFN[,HEAD_DIM]");
  cmd->add_option("--batch", o.batch, "Concurrencies to measure, comma-separated")
      ->delimiter(',')->check(positive())->capture_default_str();
  cmd->add_option("--prompt-len", o.prompt_len, "Prompt tokens per request")
      ->check(positive())->capture_default_str();
  cmd->add_option("--gen-len", o.gen_len, "Generated tokens per request")
      ->check(positive())->capture_default_str();
  cmd->add_option("--max-batch-tokens", o.max_batch_tokens, "Tokens per engine step")
      ->check(positive())->capture_default_str();
  cmd->add_option("--threads", o.threads, "CPU threads; 0 = all cores")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--device", o.device, "cpu, cuda, cuda:N or cuda:all")->capture_default_str();
  cmd->add_option("--dtype", o.dtype, "Weights on the GPU: auto (as stored), f32, or bf16 (F32 and F16 narrowed)")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))->capture_default_str();
  cmd->add_option("--draft", o.draft,
                  "Also measure generation with this drafter: ngram, ngram:N, self:q8_0, self:q4_0, a draft "
                  "model PATH or dspark:DIR");
  cmd->add_option("--spec-policy", o.spec_policies,
                  "Speculation policies to measure with --draft, comma-separated (default all): off, fixed, "
                  "confidence; off, the baseline of the ratios, is always measured")
      ->delimiter(',')->check(CLI::IsMember({"confidence", "fixed", "off"}));
  cmd->add_option("--spec-max", o.spec_max, "Draft tokens per request and step")
      ->check(in_range(1, 64))->capture_default_str();
  cmd->add_option("--spec-profile", o.spec_profile,
                  "Load the confidence policy's step cost profile from this file when it matches; else profile "
                  "and write it (as run does)")
      ->type_name("FILE");
  cmd->add_option("--repeat", o.repeat,
                  "Run every measurement N times, the policies interleaved, and keep the fastest (a noisy machine)")
      ->capture_default_str()
      ->check(in_range(1, 100));
  cmd->add_flag("--json", o.json, "Print the results as one JSON object");
  return cmd;
}

namespace {

// Everything after the command line: --random-model written, the model (or its
// widening) loaded, a warm-up, the step cost profiled once, every concurrency measured.
StatusOr<std::vector<BenchRow>> run_bench(const BenchOptions& o, const BenchPlan& plan,
                                          std::optional<LoadedModel>* loaded) {
  if (!o.random_model.empty()) SB_RETURN_IF_ERROR(write_shape(o));
  ProfileSource profile;
  profile.path = o.spec_profile;
  SB_ASSIGN_OR_RETURN(*loaded, load_measured(o, plan, &profile));
  // The first run faults in the weights (the model file is mapped); keep it out of the table.
  EngineStats warm;
  SB_RETURN_IF_ERROR(timed_run(**loaded, o, 1, 2, "off", &profile, &warm).status());
  if (std::find(plan.policies.begin(), plan.policies.end(), "confidence") != plan.policies.end()) {
    // The step cost once, at the largest concurrency: its KV cache has room
    // for the most tokens per profiled step.
    const int largest = *std::max_element(o.batch.begin(), o.batch.end());
    SB_RETURN_IF_ERROR(bench_engine(**loaded, o, largest, "confidence", &profile).status());
  }
  std::vector<BenchRow> rows;
  for (int c : o.batch) {
    SB_ASSIGN_OR_RETURN(BenchRow row, measure_concurrency(**loaded, o, c, plan.policies, &profile));
    if (!o.json) {
      std::string line = "concurrency " + std::to_string(c) + ": " + std::to_string(static_cast<int>(row.prompt_tps)) +
                         " prompt tokens/s";
      for (const PolicyRun& p : row.runs)
        line += ", " + p.policy + " " + std::to_string(static_cast<int>(p.generated_tps)) + " generated tokens/s";
      print_note(line);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace

int bench_command(const BenchOptions& o) {
  const StatusOr<BenchPlan> plan = check_bench_options(o);
  if (!plan.ok()) {
    print_error(plan.status().message());
    return kExitUsage;
  }
  std::optional<LoadedModel> loaded;
  const StatusOr<std::vector<BenchRow>> rows = run_bench(o, *plan, &loaded);
  if (!rows.ok()) {
    print_error(rows.status().message());
    return kExitFatal;
  }
  if (o.json) {
    print_json(o, loaded->model, *rows);
  } else {
    print_table(o, loaded->model, *rows);
  }
  return kExitOk;
}

}  // namespace sb::cli
