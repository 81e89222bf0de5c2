// `specbatch bench`: synthetic prompts through the same Engine as `run`, at
// several concurrencies, reporting prompt and generated tokens/s and the ratio
// to concurrency 1 measured in the same run; with --draft, generation again
// under each speculation policy (fixed, confidence) with its ratio to the
// plain run (off) of the same concurrency, the mean accepted length and the
// share of request-steps that verified no draft. Generation is timed directly:
// from the first step in which every request sampled (all prompts done) to
// the end. On the CPU it also prints the weight bytes read per second at
// concurrency 1 next to the machine's copy bandwidth, measured in the same
// run. Can first write a random-weight model of a known shape (--random-model
// 110m), or measure a widened, function-equivalent copy of the model
// (--widen-model, its matrices in --widen-dtype).
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/engine_setup.h"
#include "cli/flag_checks.h"
#include "cli/progress.h"
#include "cli/widen_dspark.h"
#include "core/backend.h"
#include "core/engine.h"
#include "core/model/dspark_model.h"
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
  SpecPolicy policy = SpecPolicy::kOff;
  double generated_tps = 0;  // generated tokens/s once every prompt is done
  double steps_per_s = 0;    // target forward steps/s over the same span
  EngineStats stats;         // of the full generation

};

struct BenchRow {
  int concurrency = 0;
  double prompt_tps = 0;       // prompt tokens/s with max_tokens 1
  std::vector<PolicyRun> runs;  // runs[0]: off
};

// How the confidence policy's step cost is found: --spec-profile or the cache,
// else the first profile of this bench, reused for every later concurrency.
struct ProfileSource {
  ProfileStore store;
  SpecProfileKey key;
  std::vector<std::pair<int, double>> measured;             // target step seconds
  std::vector<std::pair<int, double>> measured_draft_pass;  // draft pass seconds
};

// An engine for n concurrent requests under `policy` (off: no drafter).
StatusOr<std::unique_ptr<Engine>> bench_engine(const LoadedModel& loaded, const BenchOptions& o, int n,
                                               SpecPolicy policy, ProfileSource* profile) {
  EngineOptions eo;
  eo.max_seqs = n;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.max_ctx = o.prompt_len + o.gen_len;
  if (policy != SpecPolicy::kOff) {
    eo.draft = o.draft;
    eo.spec_policy = policy;
    eo.spec_max = o.spec_max;
    eo.step_cost = profile->measured;
    eo.draft_pass_cost = profile->measured_draft_pass;
  }
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                      create_engine(loaded, *loaded.backends[0], eo, profile->store, profile->key));
  if (engine->step_cost() != nullptr && profile->measured.empty()) {
    const auto points = engine->step_cost()->points();
    profile->measured.assign(points.begin(), points.end());
    if (const StepCost* pass = engine->draft_pass_cost())
      profile->measured_draft_pass.assign(pass->points().begin(), pass->points().end());
  }
  return engine;
}

// One run of n requests: its wall time, and the span from the end of the
// first step in which every request sampled (all prompts done) to the end,
// with the tokens generated and the steps run in that span.
struct RunTiming {
  double seconds = 0;
  double gen_seconds = 0;
  uint64_t gen_tokens = 0;
  uint64_t gen_steps = 0;
};

// Runs `n` requests of prompt_len synthetic tokens and max_tokens each, greedy, ignoring EOS,
// under `policy`. Writes the engine's counts to *stats.
StatusOr<RunTiming> timed_run(const LoadedModel& loaded, const BenchOptions& o, int n, int max_tokens,
                              SpecPolicy policy, ProfileSource* profile, EngineStats* stats) {
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
  std::optional<Clock::time_point> gen_start;
  EngineStats at_start;
  while (engine->has_work()) {
    const uint64_t sampled = engine->stats().sampled_steps;
    SB_RETURN_IF_ERROR(engine->step(&done));
    if (!gen_start && engine->stats().sampled_steps - sampled == static_cast<uint64_t>(n)) {
      gen_start = Clock::now();
      at_start = engine->stats();
    }
  }
  const auto t1 = Clock::now();
  if (done.size() != static_cast<size_t>(n)) return internal_error("bench: not every request finished");
  *stats = engine->stats();
  RunTiming r;
  r.seconds = std::chrono::duration<double>(t1 - t0).count();
  if (gen_start) {
    r.gen_seconds = std::chrono::duration<double>(t1 - *gen_start).count();
    r.gen_tokens = stats->generated_tokens - at_start.generated_tokens;
    r.gen_steps = stats->steps - at_start.steps;
  }
  return r;
}

// Bytes of weights one target forward step reads: every layer tensor and the
// output head as the CPU backend holds them (as stored), not the embedding
// table (a row per token).
uint64_t weight_bytes_per_step(const Model& model) {
  uint64_t bytes = model.weights.out_norm.n_bytes() + model.weights.lm_head.n_bytes();
  for (const LayerWeights& l : model.weights.layers)
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.q_norm, &l.k_norm,
                                &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down})
      if (t->present()) bytes += t->n_bytes();
  return bytes;
}

// Fastest of 5 runs of part(i) on `threads` threads at once, in seconds.
template <typename Part>
double fastest_parallel(int threads, Part&& part) {
  double best = 1e30;
  for (int rep = 0; rep < 5; ++rep) {
    std::vector<std::thread> workers;
    const auto t0 = Clock::now();
    for (int i = 0; i < threads; ++i) workers.emplace_back([&part, i] { part(i); });
    for (std::thread& w : workers) w.join();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return best;
}

// The machine's memory bandwidth over buffers of `bytes`, on `threads`
// threads: a memcpy (bytes read + bytes written per second, STREAM's
// convention) and a plain read (a sum of every word).
struct MemoryBandwidth {
  double copy_gbps = 0;
  double read_gbps = 0;
};
MemoryBandwidth measure_memory(size_t bytes, int threads) {
  const size_t words = bytes / 8;
  std::unique_ptr<uint64_t[]> src(new uint64_t[words]), dst(new uint64_t[words]);
  std::fill(src.get(), src.get() + words, 1);
  std::fill(dst.get(), dst.get() + words, 2);
  auto slice = [&](int i, size_t* lo, size_t* hi) {
    *lo = words * static_cast<size_t>(i) / static_cast<size_t>(threads);
    *hi = words * static_cast<size_t>(i + 1) / static_cast<size_t>(threads);
  };
  MemoryBandwidth m;
  m.copy_gbps = 16.0 * static_cast<double>(words) / 1e9 / fastest_parallel(threads, [&](int i) {
    size_t lo, hi;
    slice(i, &lo, &hi);
    std::memcpy(dst.get() + lo, src.get() + lo, (hi - lo) * 8);
  });
  std::vector<uint64_t> sums(static_cast<size_t>(threads));
  m.read_gbps = 8.0 * static_cast<double>(words) / 1e9 / fastest_parallel(threads, [&](int i) {
    size_t lo, hi;
    slice(i, &lo, &hi);
    uint64_t s[4] = {};
    for (size_t j = lo; j + 4 <= hi; j += 4)
      for (int k = 0; k < 4; ++k) s[k] += src[j + static_cast<size_t>(k)];
    sums[static_cast<size_t>(i)] = s[0] + s[1] + s[2] + s[3];
  });
  if (std::find(sums.begin(), sums.end(), 0) != sums.end()) m.read_gbps = 0;  // keeps the sums alive
  return m;
}

// What the CPU reads at concurrency 1: weight bytes per step, the steps/s of
// plain generation, and the copy bandwidth measured beside it.
struct Bandwidth {
  uint64_t weight_bytes = 0;
  double weight_gbps = 0;  // weight bytes x steps/s at concurrency 1, policy off
  MemoryBandwidth memory;  // over buffers as large as the weights
};

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

StatusOr<gguf::TensorType> widen_type(const std::string& name) {
  if (name == "f32") return gguf::TensorType::kF32;
  if (name == "f16") return gguf::TensorType::kF16;
  if (name == "bf16") return gguf::TensorType::kBF16;
  if (name == "q8_0") return gguf::TensorType::kQ8_0;
  if (name == "q4_0") return gguf::TensorType::kQ4_0;
  return invalid_argument("--widen-dtype: expected f32, f16, bf16, q8_0 or q4_0, got '" + name + "'");
}

// The command line checked once: the policies to measure (off first), the
// device, the widening and its matrices' dtype. A refusal is a usage error.
struct BenchPlan {
  std::vector<SpecPolicy> policies;
  DeviceChoice device;
  std::optional<WidenShape> widen;
  gguf::TensorType widen_dtype = gguf::TensorType::kF32;
};

StatusOr<BenchPlan> check_bench_options(const BenchOptions& o) {
  BenchPlan plan;
  plan.policies = {SpecPolicy::kOff};
  for (SpecPolicy p : {SpecPolicy::kFixed, SpecPolicy::kConfidence}) {
    const bool listed = std::find(o.spec_policies.begin(), o.spec_policies.end(), p) != o.spec_policies.end();
    if (listed && o.draft.none())
      return invalid_argument(std::string("--spec-policy ") + spec_policy_name(p) + " needs --draft");
    if (!o.draft.none() && (o.spec_policies.empty() || listed)) plan.policies.push_back(p);
  }
  SB_ASSIGN_OR_RETURN(plan.device, parse_device(o.device, o.dtype, o.threads));
  if (!o.widen_model.empty()) {
    auto widen = parse_widen_shape(o.widen_model);
    if (!widen.ok()) return widen.status().with_context("--widen-model");
    plan.widen = *widen;
    SB_ASSIGN_OR_RETURN(plan.widen_dtype, widen_type(o.widen_dtype));
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
    const Status s = write_widened_model(o.model, tmp, *plan.widen, 1234, plan.widen_dtype);
    if (!s.ok()) {
      ::unlink(tmp.c_str());
      return s;
    }
    path = tmp;
  }
  auto loaded = load_for_generation(path, o.draft, plan.device);
  if (loaded.ok() && loaded->backends.size() > 1)
    loaded = unsupported("--device: bench measures one engine on one device, found " +
                         std::to_string(loaded->backends.size()) + "; name one, e.g. --device cuda:0");
  StatusOr<SpecProfileKey> key = loaded.ok() && profile->store.used() && !o.draft.none()
                                     ? spec_profile_key(*loaded, *loaded->backends[0], o.threads)
                                     : StatusOr<SpecProfileKey>(SpecProfileKey{});
  if (path != o.model) ::unlink(path.c_str());
  if (!loaded.ok()) return loaded.status();
  SB_ASSIGN_OR_RETURN(profile->key, std::move(key));
  return loaded;
}

// A temporary directory, removed with everything in it when this goes.
struct TempDir {
  std::string path;
  TempDir() = default;
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// --widen-model with --draft dspark:DIR: the drafter widened with its target,
// function-equivalent (widen_dspark_checkpoint), into *dir for the whole bench:
// every engine loads it.
Status widen_dspark_draft(const BenchOptions& o, const WidenShape& shape, TempDir* dir) {
  SB_ASSIGN_OR_RETURN(const Model target, load_model(o.model));
  auto dspark = load_dspark(o.draft.path, target.config);
  if (!dspark.ok()) return dspark.status().with_context("--draft");
  const char* tmpdir = std::getenv("TMPDIR");
  std::string tmp = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/specbatch-dspark-XXXXXX";
  if (::mkdtemp(tmp.data()) == nullptr) return errno_error("--widen-model: cannot create a temporary directory " + tmp);
  dir->path = tmp;
  return widen_dspark_checkpoint(*dspark, tmp, shape).with_context("--widen-model with --draft " + o.draft.text);
}

void print_json(const BenchOptions& o, const LoadedModel& loaded, const std::vector<BenchRow>& rows,
                const std::optional<Bandwidth>& bw) {
  const BenchRow& base = rows.front();
  JsonWriter w;
  w.begin_object().key("model").value(o.model).key("params").value(loaded.model.n_params);
  w.key("backend").value(loaded.backends[0]->name());
  if (!o.widen_model.empty()) w.key("widen_model").value(o.widen_model).key("widen_dtype").value(o.widen_dtype);
  if (bw) {
    w.key("weight_bytes_per_step").value(bw->weight_bytes);
    w.key("copy_gbps").value(bw->memory.copy_gbps).key("read_gbps").value(bw->memory.read_gbps);
    if (bw->weight_gbps > 0) w.key("weight_read_gbps_c1").value(bw->weight_gbps);
  }
  w.key("prompt_len").value(o.prompt_len).key("gen_len").value(o.gen_len).key("repeat").value(o.repeat);
  if (!o.draft.none()) w.key("draft").value(o.draft.text).key("spec_max").value(o.spec_max);
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
      w.begin_object().key("policy").value(spec_policy_name(p.policy));
      w.key("generated_tokens_per_second").value(p.generated_tps);
      w.key("ratio_to_off").value(p.generated_tps / off.generated_tps);
      if (p.policy != SpecPolicy::kOff) {
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

void print_table(const BenchOptions& o, const LoadedModel& loaded, const std::vector<BenchRow>& rows,
                 const std::optional<Bandwidth>& bw) {
  const BenchRow& base = rows.front();
  std::string what = o.model;
  if (!o.widen_model.empty()) what += " widened to " + o.widen_model + " (" + o.widen_dtype + ")";
  if (!o.draft.none()) what += ", draft " + o.draft.text;
  std::printf("%s: %llu parameters, prompt %d, generate %d tokens per request, backend %s\n", what.c_str(),
              static_cast<unsigned long long>(loaded.model.n_params), o.prompt_len, o.gen_len,
              loaded.backends[0]->name());
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
      std::printf(" %10s %15.1f %7.2f %7.2f", spec_policy_name(p.policy), p.generated_tps,
                  p.generated_tps / base.runs.front().generated_tps, p.generated_tps / off.generated_tps);
      if (p.policy != SpecPolicy::kOff)
        std::printf(" %7.1f%% %9.2f %7.1f%%", 100.0 * draft_acceptance_rate(p.stats),
                    mean_accepted_length(p.stats), 100.0 * no_draft_share(p.stats));
      std::printf("\n");
    }
  }
  if (bw && bw->weight_gbps > 0)
    std::printf("concurrency 1, off: %.2f GB/s of weights read (%.1f MB per step) = %.0f%% of the copy bandwidth "
                "%.2f GB/s (memcpy, bytes read + written), %.0f%% of the read bandwidth %.2f GB/s\n",
                bw->weight_gbps, static_cast<double>(bw->weight_bytes) / 1e6,
                100.0 * bw->weight_gbps / bw->memory.copy_gbps, bw->memory.copy_gbps,
                100.0 * bw->weight_gbps / bw->memory.read_gbps, bw->memory.read_gbps);
}

// One concurrency: prompt tokens/s from a run that samples one token per
// request, then each policy's generation, timed directly (RunTiming); each the
// fastest of --repeat runs, interleaved so slow spells of the machine hit all alike.
StatusOr<BenchRow> measure_row(const LoadedModel& loaded, const BenchOptions& o, int c,
                               const std::vector<SpecPolicy>& policies, ProfileSource* profile) {
  BenchRow row;
  row.concurrency = c;
  row.runs.resize(policies.size());
  double prompt_s = 0;
  for (int rep = 0; rep < o.repeat; ++rep) {
    EngineStats prompt_stats;
    SB_ASSIGN_OR_RETURN(const RunTiming p, timed_run(loaded, o, c, 1, SpecPolicy::kOff, profile, &prompt_stats));
    prompt_s = rep == 0 ? p.seconds : std::min(prompt_s, p.seconds);
    for (size_t i = 0; i < policies.size(); ++i) {
      PolicyRun& run = row.runs[i];
      run.policy = policies[i];
      SB_ASSIGN_OR_RETURN(const RunTiming f, timed_run(loaded, o, c, o.gen_len, policies[i], profile, &run.stats));
      if (f.gen_seconds <= 0) continue;
      const double tps = static_cast<double>(f.gen_tokens) / f.gen_seconds;
      if (tps > run.generated_tps) {
        run.generated_tps = tps;
        run.steps_per_s = static_cast<double>(f.gen_steps) / f.gen_seconds;
      }
    }
  }
  row.prompt_tps = static_cast<double>(c) * o.prompt_len / prompt_s;
  return row;
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
  CLI::Option* widen = cmd->add_option("--widen-model", o.widen_model,
                  "Measure a wider, deeper F32 copy of the (Llama GGUF) model computing the same function, "
                  "e.g. 768,16,2048 (head dim 64) or 768,16,2048,64; written to $TMPDIR and removed once loaded. "
                  "A --draft dspark:DIR drafter is widened with it")
      ->type_name("DIM,LAYERS,FFN[,HEAD_DIM]");
  cmd->add_option("--widen-dtype", o.widen_dtype,
                  "The widened model's matrices: f32, f16, bf16, q8_0 or q4_0 (vectors stay f32)")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}))
      ->capture_default_str()
      ->needs(widen);
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
  cmd->add_option_function<std::string>(
         "--draft", [&o](const std::string& v) { o.draft = flag_value(parse_draft_spec(v)); },
                  "Also measure generation with this drafter: ngram, ngram:N, self:q8_0, self:q4_0, a draft "
                  "model PATH or dspark:DIR");
  cmd->add_option_function<std::vector<std::string>>(
         "--spec-policy",
         [&o](const std::vector<std::string>& v) {
           for (const std::string& p : v) o.spec_policies.push_back(flag_value(parse_spec_policy(p)));
         },
                  "Speculation policies to measure with --draft, comma-separated (default all): off, fixed, "
                  "confidence; off, the baseline of the ratios, is always measured")
      ->delimiter(',');
  cmd->add_option("--spec-max", o.spec_max, "Draft tokens per request and step")
      ->check(in_range(1, 64))->capture_default_str();
  cmd->add_option("--spec-profile", o.spec_profile,
                  "Load the confidence policy's step cost profile from this file when it matches; else profile "
                  "and write it (as run does; default: the per-user cache)")
      ->type_name("FILE");
  cmd->add_flag("--no-profile-cache", o.no_profile_cache,
                "Neither read nor write the per-user step cost profile cache");
  cmd->add_option("--repeat", o.repeat,
                  "Run every measurement N times, the policies interleaved, and keep the fastest (a noisy machine)")
      ->capture_default_str()
      ->check(in_range(1, 100));
  cmd->add_flag("--json", o.json, "Print the results as one JSON object");
  return cmd;
}

namespace {

// Everything after the command line: --random-model written, the model (or its
// widening) loaded, a warm-up, the step cost profiled once, every concurrency
// measured, then (on the CPU) the weight and memory bandwidth.
struct BenchResult {
  std::vector<BenchRow> rows;
  std::optional<Bandwidth> bandwidth;
};

StatusOr<BenchResult> run_bench(const BenchOptions& given, const BenchPlan& plan, std::optional<LoadedModel>* loaded) {
  if (!given.random_model.empty()) SB_RETURN_IF_ERROR(write_shape(given));
  BenchOptions o = given;
  TempDir widened_draft;
  if (plan.widen && o.draft.kind == DraftSpec::Kind::kDSpark) {
    SB_RETURN_IF_ERROR(widen_dspark_draft(given, *plan.widen, &widened_draft));
    o.draft.path = widened_draft.path;  // its text, in messages and the profile key, stays as given
  }
  ProfileSource profile;
  profile.store = {o.spec_profile, !o.no_profile_cache};
  SB_ASSIGN_OR_RETURN(*loaded, load_measured(o, plan, &profile));
  // The first run faults in the weights (the model file is mapped); keep it out of the table.
  EngineStats warm;
  SB_RETURN_IF_ERROR(timed_run(**loaded, o, 1, 2, SpecPolicy::kOff, &profile, &warm).status());
  if (std::find(plan.policies.begin(), plan.policies.end(), SpecPolicy::kConfidence) != plan.policies.end()) {
    // The step cost once, at the largest concurrency: its KV cache has room
    // for the most tokens per profiled step.
    const int largest = *std::max_element(o.batch.begin(), o.batch.end());
    SB_RETURN_IF_ERROR(bench_engine(**loaded, o, largest, SpecPolicy::kConfidence, &profile).status());
  }
  BenchResult result;
  for (int c : o.batch) {
    SB_ASSIGN_OR_RETURN(BenchRow row, measure_row(**loaded, o, c, plan.policies, &profile));
    if (!o.json) {
      std::string line = "concurrency " + std::to_string(c) + ": " + std::to_string(static_cast<int>(row.prompt_tps)) +
                         " prompt tokens/s";
      for (const PolicyRun& p : row.runs)
        line += ", " + std::string(spec_policy_name(p.policy)) + " " +
                std::to_string(static_cast<int>(p.generated_tps)) + " generated tokens/s";
      print_note(line);
    }
    result.rows.push_back(std::move(row));
  }
  if (!plan.device.cuda) {
    Bandwidth& bw = result.bandwidth.emplace();
    bw.weight_bytes = weight_bytes_per_step((*loaded)->model);
    for (const BenchRow& r : result.rows)
      if (r.concurrency == 1) bw.weight_gbps = static_cast<double>(bw.weight_bytes) * r.runs.front().steps_per_s / 1e9;
    const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    bw.memory = measure_memory(std::clamp<size_t>(bw.weight_bytes, size_t{64} << 20, size_t{1} << 30), threads);
  }
  return result;
}

}  // namespace

int bench_command(const BenchOptions& o) {
  const StatusOr<BenchPlan> plan = check_bench_options(o);
  if (!plan.ok()) {
    print_error(plan.status().message());
    return kExitUsage;
  }
  std::optional<LoadedModel> loaded;
  const StatusOr<BenchResult> result = run_bench(o, *plan, &loaded);
  if (!result.ok()) {
    print_error(result.status().message());
    return kExitFatal;
  }
  if (o.json) {
    print_json(o, *loaded, result->rows, result->bandwidth);
  } else {
    print_table(o, *loaded, result->rows, result->bandwidth);
  }
  return kExitOk;
}

}  // namespace sb::cli
