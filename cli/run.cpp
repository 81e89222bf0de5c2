// `specbatch run`: records from JSONL inputs -> one JSON output line each,
// through the continuous-batching Engine, in three parts:
//   set-up    the command line checked and parsed once (a refusal is exit 2),
//             then inputs opened, the output prepared, the model loaded and
//             one engine created per replica (--replicas, --device cuda:0,1;
//             cli/engine_replicas.h) (a failure is exit 1) -- before any record is read;
//   admission and drain (cli/run_pipeline.h), alternated by the run loop until
//             the input is done, or a stop signal's grace period ends;
//   the account: the output closed, --stats-json and the summary written, and
//             the one mapping from how the run ended to its exit status.
// Output is append-only and resumable (cli/run_output.h); SIGINT/SIGTERM stop
// admission at once, drop what has not started, let records running finish within
// --grace-seconds, and exit 130/143 (0 when every record finished anyway). A damaged
// input stops admission the same way: what came before it finishes, then exit 1.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <type_traits>

#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/engine_replicas.h"
#include "cli/engine_setup.h"
#include "cli/flag_checks.h"
#include "cli/output_line.h"
#include "cli/progress.h"
#include "cli/run_output.h"
#include "cli/run_pipeline.h"
#include "cli/stop_signal.h"
#include "core/backend.h"
#include "core/engine.h"
#include "core/model/model.h"
#include "formats/generation_defaults.h"
#include "formats/jsonl_reader.h"
#include "formats/output_sink.h"
#include "formats/record.h"
#include "formats/shard.h"

namespace sb::cli {

static_assert(kMaxTopLogprobs == kRecordMaxLogprobs, "--logprobs and the record field share one bound");

CLI::App* add_run_command(CLI::App& app, RunOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "run", "Generate a completion for every record of JSONL inputs (one JSON line out per record)");
  cmd->add_option("-m,--model", o.model, "GGUF file or Hugging Face model directory")->required();
  cmd->add_option("inputs", o.inputs,
                  "Input files (.jsonl or .jsonl.zst), read in order; '-' or none reads stdin")
      ->type_name("INPUT");
  cmd->add_option("-o,--output", o.output, "Output file (default: stdout)")->type_name("OUT");
  cmd->add_flag("--overwrite", o.overwrite, "Replace an existing output file");
  cmd->add_flag("--resume", o.resume,
                "Continue an existing output: cut a damaged tail, check its manifest, skip records already done");
  cmd->add_option("--shard", o.shard,
                  "Only records with index % N == K: K/N, or auto (from SLURM_ARRAY_TASK_ID/_COUNT)")
      ->type_name("K/N|auto");
  auto* g = "Defaults for records that do not set their own";
  cmd->add_option("--max-tokens", o.max_tokens, "Maximum generated tokens per record")
      ->check(non_negative())->capture_default_str()->group(g);
  cmd->add_option("--n", o.n, "Samples per record; sample k uses seed + k; n > 1 writes \"choices\"")
      ->check(in_range(1, kMaxSamplesPerRecord))->capture_default_str()->group(g);
  cmd->add_option("--temperature", o.temperature, "Sampling temperature; 0 = greedy")
      ->check(non_negative())->capture_default_str()->group(g);
  cmd->add_option("--top-p", o.top_p, "Nucleus sampling: keep the smallest set with this mass, in (0, 1]")
      ->check(above_at_most(0, 1))->capture_default_str()->group(g);
  cmd->add_option("--top-k", o.top_k, "Keep the k most likely tokens; 0 = off")
      ->check(non_negative())->capture_default_str()->group(g);
  cmd->add_option("--min-p", o.min_p, "Drop tokens below min_p times the top probability, in [0, 1]")
      ->check(in_range(0, 1))->capture_default_str()->group(g);
  cmd->add_option("--seed", o.seed, "Sampling seed; randomness is keyed by (seed, record index, position)")
      ->check(non_negative())->capture_default_str()->group(g);
  cmd->add_option("--generation-config", o.generation_config,
                  "auto: the model's sampling defaults (generation_config.json, GGUF general.sampling.*) for the "
                  "settings no flag gives; ignore: the flags' defaults")
      ->check(CLI::IsMember({"auto", "ignore"}))->capture_default_str()->group(g);
  cmd->parse_complete_callback([cmd, &o] {
    o.given = {cmd->count("--max-tokens") > 0, cmd->count("--temperature") > 0, cmd->count("--top-p") > 0,
               cmd->count("--top-k") > 0, cmd->count("--min-p") > 0};
  });
  cmd->add_option("--stop", o.stop, "Stop string (repeatable); not included in the output")
      ->type_name("STR")->allow_extra_args(false)->group(g);
  cmd->add_flag("--ignore-eos", o.ignore_eos, "Keep generating past end-of-sequence tokens")->group(g);
  cmd->add_option("--logprobs", o.logprobs,
                  "Write each generated token's log-probability and the K most likely alternatives, K in [0, " +
                      std::to_string(kMaxTopLogprobs) + "]")
      ->type_name("K")->check(in_range(0, kMaxTopLogprobs))->group(g);
  cmd->add_flag("--return-token-ids", o.return_token_ids, "Write prompt_token_ids and token_ids")->group(g);
  cmd->add_flag("--ignore-unsupported", o.ignore_unsupported,
                "Run records that give a refused field (FIELD POLICY in the man page) without it, with a warning "
                "and a count in the summary, instead of an unsupported_param error record")
      ->group(g);
  cmd->add_option("--chat-template", o.chat_template,
                  "Jinja2 chat template for \"messages\" records, instead of the model's own")
      ->type_name("FILE")->group("Chat records");
  cmd->add_option("--chat-template-kwargs", o.chat_template_kwargs,
                  "Extra chat template variables as a JSON object, e.g. '{\"enable_thinking\": false}'")
      ->type_name("JSON")->group("Chat records");
  auto* e = "Engine";
  cmd->add_option("--threads", o.threads, "CPU threads, split between --replicas; 0 = all cores")
      ->check(non_negative())->capture_default_str()->group(e);
  cmd->add_option("--device", o.device, "cpu, cuda, cuda:N[,M...] (one engine replica per GPU) or cuda:all")
      ->capture_default_str()->group(e);
  cmd->add_option("--replicas", o.replicas,
                  "Engine replicas on the CPU, fed from the one input and written to the one output; each has "
                  "--threads / N threads, its own KV cache (--kv-cache-mb, --max-seqs are per replica) and drafter")
      ->check(positive())->capture_default_str()->group(e);
  cmd->add_option("--dtype", o.dtype, "Weights on the GPU: auto (as stored), f32, or bf16 (F32 and F16 narrowed)")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))->capture_default_str()->group(e);
  cmd->add_option("--ctx", o.ctx, "Context length per record (prompt + generated); 0 = the model's")
      ->check(non_negative())->capture_default_str()->group(e);
  cmd->add_flag("--ctx-override", o.ctx_override, "Allow --ctx above the model's trained context")->group(e);
  cmd->add_option("--max-batch-tokens", o.max_batch_tokens, "Tokens per engine step, all records together")
      ->check(positive())->capture_default_str()->group(e);
  cmd->add_option("--max-seqs", o.max_seqs, "Records generating at once")
      ->check(positive())->capture_default_str()->group(e);
  cmd->add_option("--kv-cache-mb", o.kv_cache_mb,
                  "KV cache size in MiB per replica; 0 = room for --max-seqs full contexts, at most a quarter of "
                  "memory (CPU replicas: all together; a GPU: 90% of what its free memory leaves after weights and "
                  "workspaces)")
      ->check(non_negative())->capture_default_str()->group(e);
  cmd->add_flag("--no-prefix-cache", o.no_prefix_cache,
                "Compute every prompt token: no sharing of KV blocks between records with a common prefix")
      ->group(e);
  cmd->add_option_function<std::string>(
         "--draft", [&o](const std::string& v) { o.draft = flag_value(parse_draft_spec(v)); },
                  "Speculative drafter: ngram or ngram:N (longest n-gram looked up), self:q8_0 or self:q4_0 (the "
                  "model quantized at load), a draft model PATH with the model's vocabulary, or dspark:DIR (a DSpark "
                  "block drafter checkpoint for a Qwen3 model; turns the prefix cache off)")->group(e);
  cmd->add_option_function<std::string>(
         "--spec-policy", [&o](const std::string& v) { o.spec_policy = flag_value(parse_spec_policy(v)); },
                  "Draft tokens verified per step: confidence (what pays at this load), fixed (--spec-max) or off")
      ->default_str(spec_policy_name(o.spec_policy))->group(e);
  cmd->add_option("--spec-max", o.spec_max, "Draft tokens per record and step")
      ->check(in_range(1, 64))->capture_default_str()->group(e);
  cmd->add_option("--spec-profile", o.spec_profile,
                  "Load the confidence policy's step cost profile from this file when it matches the model, "
                  "backend, threads, --max-batch-tokens, KV block size and --draft; else profile and write it "
                  "(default: a per-user cache, $XDG_CACHE_HOME/specbatch/ else ~/.cache/specbatch/)")
      ->type_name("FILE")->group(e);
  cmd->add_flag("--no-profile-cache", o.no_profile_cache,
                "Neither read nor write the per-user step cost profile cache: profile at every start")
      ->group(e);
  auto* out = "Output and reporting";
  cmd->add_option("--order", o.order, "Output order: input (restored through a bounded window) or completion")
      ->check(CLI::IsMember({"input", "completion"}))->capture_default_str()->group(out);
  cmd->add_option("--reorder-window", o.reorder_window,
                  "Records held to restore input order; admission waits when full; "
                  "0 = max(1024, 4 x --max-seqs x replicas)")
      ->check(non_negative())->capture_default_str()->group(out);
  cmd->add_option("--errors", o.errors, "Write error records to this file instead of the output")
      ->type_name("FILE")->group(out);
  cmd->add_option("--progress", o.progress,
                  "auto (an updating line on a terminal, else log lines), log, or none")
      ->check(CLI::IsMember({"auto", "log", "none"}))->capture_default_str()->group(out);
  cmd->add_option("--progress-interval", o.progress_interval, "Seconds between progress log lines")
      ->check(positive())->capture_default_str()->group(out);
  cmd->add_option("--stats-json", o.stats_json, "Write the final statistics as JSON to this file")
      ->type_name("FILE")->group(out);
  cmd->add_option("--output-format", o.output_format, "Output lines: specbatch, or openai (OpenAI Batch output shape)")
      ->check(CLI::IsMember({"specbatch", "openai"}))->capture_default_str()->group(out);
  cmd->add_option("--flush-records", o.flush_records, "Flush point (zstd: close the frame) every N records")
      ->check(positive())->capture_default_str()->group(out);
  cmd->add_option("--flush-seconds", o.flush_seconds, "Flush point when the oldest unflushed record is this old")
      ->check(positive())->capture_default_str()->group(out);
  cmd->add_option("--sync", o.sync, "fdatasync the output: none, frame (at each flush point) or record")
      ->check(CLI::IsMember({"none", "frame", "record"}))->capture_default_str()->group(out);
  cmd->add_option("--grace-seconds", o.grace_seconds,
                  "After SIGINT/SIGTERM, time for records in flight to finish before they are abandoned")
      ->check(non_negative())->capture_default_str()->group(out);
  cmd->add_flag("-q,--quiet", o.quiet, "No progress and no summary on stderr")->group(out);
  return cmd;
}

namespace {

using Clock = std::chrono::steady_clock;

// The command line checked and parsed once: all that can be refused without
// opening the model, the inputs or the output.
struct RunSettings {
  DeviceChoice device;
  Shard shard;
  SyncPolicy sync = SyncPolicy::kFrame;
  ProgressMode progress = ProgressMode::kLog;
  jinja::Dict chat_kwargs;
};

// What a run works with, filled in order by set_up_run: the engine refers to the
// loaded model and the prompter to its tokenizer, so a RunSetup stays where it is built.
struct RunSetup {
  std::unique_ptr<JsonlReader> reader;
  std::unique_ptr<RunOutput> output;
  std::optional<LoadedModel> loaded;
  std::optional<ChatPrompter> prompter;
  std::vector<std::unique_ptr<Engine>> engines;  // one per loaded backend (engine replica)
  const RunPipeline* pipeline = nullptr;          // once the records flow
  std::optional<uint64_t> input_records;  // counted up front (plain inputs), else unknown
  double load_s = 0;  // seconds from the start to the first record
  bool usage_error = false;  // set_up_run failed on the command line, known only once the model was read
};

StatusOr<Shard> shard_of(const RunOptions& o) {
  if (o.shard.empty()) return Shard{};
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v == nullptr ? std::nullopt : std::optional<std::string>(v);
  };
  return parse_shard(o.shard, SlurmArrayEnv{env("SLURM_ARRAY_TASK_ID"), env("SLURM_ARRAY_TASK_COUNT"),
                                            env("SLURM_ARRAY_TASK_MIN"), env("SLURM_ARRAY_TASK_MAX"),
                                            env("SLURM_ARRAY_TASK_STEP")});
}

RunOutputConfig output_config(const RunOptions& o, const RunSettings& s) {
  RunOutputConfig c;
  c.path = o.output;
  c.errors_path = o.errors;
  c.resume = o.resume;
  c.overwrite = o.overwrite;
  c.input_order = o.order == "input";
  c.shard = s.shard;
  c.sink.flush_records = o.flush_records;
  c.sink.flush_seconds = o.flush_seconds;
  c.sink.sync = s.sync;
  return c;
}

// Refusals here are usage errors: the command line alone is wrong (a malformed
// --device or --shard, --resume without an output file to resume, kwargs that
// are not a JSON object).
StatusOr<RunSettings> check_run_options(const RunOptions& o) {
  RunSettings s;
  SB_ASSIGN_OR_RETURN(s.device, parse_device(o.device, o.dtype, o.threads, o.replicas));
  SB_ASSIGN_OR_RETURN(s.shard, shard_of(o));
  SB_ASSIGN_OR_RETURN(s.sync, parse_sync_policy(o.sync));
  SB_RETURN_IF_ERROR(RunOutput::check_config(output_config(o, s)));
  SB_ASSIGN_OR_RETURN(s.chat_kwargs, parse_chat_template_kwargs(o.chat_template_kwargs));
  if (o.quiet || o.progress == "none") {
    s.progress = ProgressMode::kNone;
  } else if (o.progress == "log" || !::isatty(STDERR_FILENO)) {
    s.progress = ProgressMode::kLog;
  } else {
    s.progress = ProgressMode::kTerminal;
  }
  return s;
}

// Records held to restore input order; 0 = completion order.
size_t reorder_window(const RunOptions& o, size_t n_replicas) {
  if (o.order != "input") return 0;
  if (o.reorder_window > 0) return static_cast<size_t>(o.reorder_window);
  return std::max<size_t>(1024, 4 * static_cast<size_t>(o.max_seqs) * n_replicas);
}

// n_cpu_replicas CPU engines share the host's memory: by default their K/V caches
// together take what one engine's may (at most a quarter of memory), each at
// least one context.
EngineOptions engine_options(const RunOptions& o, const ModelConfig& model, int n_cpu_replicas) {
  EngineOptions eo;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.max_seqs = o.max_seqs;
  eo.max_ctx = o.ctx;
  eo.draft = o.draft;
  eo.spec_policy = o.spec_policy;
  eo.spec_max = o.spec_max;
  eo.prefix_cache = !o.no_prefix_cache;
  if (o.kv_cache_mb > 0)
    eo.kv_cache_tokens = std::max<int64_t>(1, (int64_t{o.kv_cache_mb} << 20) / kv_bytes_per_token(model));
  if (o.kv_cache_mb == 0 && n_cpu_replicas > 1) {
    const int ctx = o.ctx > 0 ? o.ctx : model.max_ctx;
    eo.kv_cache_tokens =
        std::max<int64_t>(ctx, default_kv_cache_tokens(model, o.max_seqs * n_cpu_replicas, ctx) / n_cpu_replicas);
  }
  return eo;
}

// One engine per loaded backend; the step cost profile of each is keyed by its
// backend and threads (CPU replicas of one thread count share a profile).
Status create_engines(const RunOptions& o, const DeviceChoice& device, const DraftSpec& draft,
                      const LoadedModel& loaded, std::vector<std::unique_ptr<Engine>>* engines) {
  const ProfileStore store{o.spec_profile, !o.no_profile_cache};
  const size_t n = loaded.backends.size();
  for (size_t i = 0; i < n; ++i) {
    Backend& backend = *loaded.backends[i];
    SpecProfileKey profile_key;
    if (store.used() && !draft.none()) {
      const int threads = device.cuda ? o.threads : device.replica_threads(static_cast<int>(i));
      SB_ASSIGN_OR_RETURN(profile_key, spec_profile_key(loaded, backend, threads));
    }
    const EngineOptions eo = engine_options(o, loaded.model.config, device.cuda ? 1 : device.cpu_replicas);
    auto engine = create_engine(loaded, backend, eo, store, profile_key);
    if (!engine.ok() && n > 1)
      return engine.status().with_context("engine replica " + std::to_string(i) + " on " + backend.name());
    SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> created, std::move(engine));
    engines->push_back(std::move(created));
  }
  return ok_status();
}

// Fails fast, before the model loads: inputs that cannot be opened, an output
// that another run holds, exists or does not match (or holds indices a counted
// input does not reach), an output directory that cannot be written. Nothing is
// written before the first record, so a failed load leaves nothing behind.
Status set_up_run(const RunOptions& o, const RunSettings& s, RunSetup* setup) {
  const auto t_start = Clock::now();
  JsonlReaderOptions reader_options;
  reader_options.shard = s.shard;
  // A pipe with nothing to read does not hold up records already in the engine, nor a stop.
  reader_options.stop_waiting = [setup] {
    return stop_signal_received() != 0 || (setup->pipeline != nullptr && setup->pipeline->has_work());
  };
  SB_ASSIGN_OR_RETURN(setup->reader, JsonlReader::open(o.inputs, reader_options));
  SB_ASSIGN_OR_RETURN(Manifest manifest, run_manifest(o, s.shard));
  SB_ASSIGN_OR_RETURN(setup->output, RunOutput::prepare(output_config(o, s), std::move(manifest)));
  if (!o.stats_json.empty()) SB_RETURN_IF_ERROR(check_output_directory(o.stats_json, "--stats-json"));
  // Plain inputs are counted up front (a newline scan): progress has its total from
  // the start, and a resumed output is checked against the input before the model loads.
  SB_ASSIGN_OR_RETURN(setup->input_records, count_records(o.inputs));
  if (setup->input_records) SB_RETURN_IF_ERROR(setup->output->check_indices_below(*setup->input_records));

  const DraftSpec draft = o.spec_policy == SpecPolicy::kOff ? DraftSpec{} : o.draft;
  SB_ASSIGN_OR_RETURN(setup->loaded, load_for_generation(o.model, draft, s.device));
  const LoadedModel& loaded = *setup->loaded;
  if (o.ctx > loaded.model.config.max_ctx && !o.ctx_override) {
    setup->usage_error = true;
    return invalid_argument("--ctx " + std::to_string(o.ctx) + " is above the model's trained context of " +
                                  std::to_string(loaded.model.config.max_ctx) + " tokens (--ctx-override allows it)");
  }
  SB_ASSIGN_OR_RETURN(setup->prompter, ChatPrompter::create(*loaded.tokenizer, o.chat_template, s.chat_kwargs));
  SB_RETURN_IF_ERROR(create_engines(o, s.device, draft, loaded, &setup->engines));
  SB_RETURN_IF_ERROR(setup->output->open());
  setup->load_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  return ok_status();
}

// --generation-config auto: the model's sampling defaults stand in for the
// flags' own where no flag was given, with a note saying which (the resume
// manifest records the values in effect).
StatusOr<RunOptions> with_generation_defaults(const RunOptions& given) {
  RunOptions o = given;
  if (o.generation_config != "auto") return o;
  SB_ASSIGN_OR_RETURN(const GenerationDefaults d, read_generation_defaults(o.model));
  if (d.empty()) return o;
  GenerationDefaults used;
  const auto take = [](bool flag_given, const auto& value, auto* target, auto* used_value) {
    if (flag_given || !value) return;
    *target = static_cast<std::remove_reference_t<decltype(*target)>>(*value);
    *used_value = value;
  };
  take(o.given.temperature, d.temperature, &o.temperature, &used.temperature);
  take(o.given.top_p, d.top_p, &o.top_p, &used.top_p);
  take(o.given.top_k, d.top_k, &o.top_k, &used.top_k);
  take(o.given.min_p, d.min_p, &o.min_p, &used.min_p);
  take(o.given.max_tokens, d.max_tokens, &o.max_tokens, &used.max_tokens);
  take(false, d.repetition_penalty, &o.repetition_penalty, &used.repetition_penalty);
  if (!o.quiet)
    print_note("sampling defaults from " + d.source + ": " + used.describe() +
               " (--generation-config ignore leaves them out)");
  return o;
}

OutputLineOptions output_line_options(const RunOptions& o) {
  OutputLineOptions l;
  l.format = o.output_format == "openai" ? OutputFormat::kOpenAi : OutputFormat::kSpecbatch;
  l.spec = !o.draft.none() && o.spec_policy != SpecPolicy::kOff;
  l.return_token_ids = o.return_token_ids;
  std::string model = o.model;
  while (model.size() > 1 && model.back() == '/') model.pop_back();
  l.model = model.substr(model.rfind('/') == std::string::npos ? 0 : model.rfind('/') + 1);
  l.created = static_cast<int64_t>(std::time(nullptr));
  return l;
}

// The replicas' backend names, each once ("cpu-avx512"; "cuda:0, cuda:1").
std::string backend_names(const LoadedModel& loaded) {
  std::vector<std::string> seen;
  for (const auto& b : loaded.backends)
    if (std::find(seen.begin(), seen.end(), b->name()) == seen.end()) seen.emplace_back(b->name());
  std::string names;
  for (const std::string& name : seen) names += (names.empty() ? "" : ", ") + name;
  return names;
}

const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }

// Alternates admission and drain until the pipeline is done or, after a stop
// signal (*stop_signal), its grace period ends: records still running are
// abandoned. A stop drops what has not started (resume does it). After a stop in
// which everything finished, the output is complete if nothing of the input is left.
Status run_records(const RunOptions& o, RunPipeline& pipeline, RunOutput& output, Progress& progress,
                   int* stop_signal) {
  Clock::time_point deadline;
  while (!pipeline.done()) {
    if (*stop_signal == 0 && (*stop_signal = stop_signal_received()) != 0) {
      const uint64_t n_done = pipeline.counters().ok + pipeline.counters().failed;
      const size_t n_dropped = pipeline.stop();
      deadline = Clock::now() +
                 std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.grace_seconds));
      if (!o.quiet)
        print_note(std::string(signal_name(*stop_signal)) + ": stopping after " + std::to_string(n_done) +
                   " records; " + std::to_string(pipeline.n_in_flight()) + " running get up to " +
                   number_text(o.grace_seconds) + " s to finish, " + std::to_string(n_dropped) +
                   " not started are left for --resume (a second signal exits at once)");
    }
    if (*stop_signal != 0 && Clock::now() >= deadline) break;
    SB_RETURN_IF_ERROR(pipeline.admit());
    SB_RETURN_IF_ERROR(pipeline.drain());
    SB_RETURN_IF_ERROR(output.poll(Clock::now()));
    progress.update(pipeline.counters());
  }
  if (*stop_signal != 0) pipeline.read_rest_after_stop();
  // Stopped early: records still held for ordering (behind an abandoned one) are
  // dropped, so the file stays in input order; resume recomputes them.
  SB_CHECK(!pipeline.complete() || !pipeline.holds_unwritten());
  if (pipeline.complete() && *stop_signal != 0 && !o.quiet)
    print_note(std::string(signal_name(*stop_signal)) +
               " came after the last record had started, and every record finished: the output is complete");
  return ok_status();
}

Status write_stats_json(const std::string& path, const RunCounters& c, double load_s, double run_s) {
  if (path.empty()) return ok_status();
  SB_ASSIGN_OR_RETURN(std::unique_ptr<OutputSink> sink,
                      OutputSink::open_file(path, OpenMode::kTruncate, OutputSinkOptions{}));
  SB_RETURN_IF_ERROR(sink->write_record(stats_json(c, load_s, run_s)));
  return sink->close();
}

// How far a run got before it ended.
enum class RunStage { kCommandLine, kSetUp, kRecords };

// The one mapping from how a run ended to its exit status (man/specbatch.1, EXIT
// STATUS); a failure is printed as "specbatch: error: ...".
int exit_status(const Status& st, RunStage stage, int stop_signal, uint64_t n_failed) {
  if (!st.ok()) {
    print_error(st.message());
    return stage == RunStage::kCommandLine ? kExitUsage : kExitFatal;
  }
  if (stop_signal != 0) return exit_status_for_signal(stop_signal);
  return n_failed == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace

int run_command(const RunOptions& given) {
  const StatusOr<RunSettings> settings = check_run_options(given);
  if (!settings.ok()) return exit_status(settings.status(), RunStage::kCommandLine, 0, 0);
  const StatusOr<RunOptions> resolved = with_generation_defaults(given);
  if (!resolved.ok()) return exit_status(resolved.status(), RunStage::kSetUp, 0, 0);
  const RunOptions& o = *resolved;
  install_stop_signal_handlers();
  RunSetup setup;
  Status st = set_up_run(o, *settings, &setup);
  if (!st.ok()) return exit_status(st, setup.usage_error ? RunStage::kCommandLine : RunStage::kSetUp, 0, 0);

  RunOutput& output = *setup.output;
  const OutputLineFormat lines(output_line_options(o), *setup.loaded->tokenizer);
  std::vector<Engine*> engines;
  for (const auto& e : setup.engines) engines.push_back(e.get());
  EngineReplicas replicas(std::move(engines));
  RunPipeline pipeline(o, PipelineParts{*setup.reader, output, replicas, *setup.prompter, lines,
                                        setup.loaded->tokenizer->add_bos_default(),
                                        reorder_window(o, replicas.size()), backend_names(*setup.loaded),
                                        settings->shard, setup.input_records});
  setup.pipeline = &pipeline;
  if (output.done().size() > 0 && !o.quiet)
    print_note("resuming: skipping " + std::to_string(output.done().size()) + " records already in the output");
  Progress progress(settings->progress, o.progress_interval);
  int stop_signal = 0;
  st = run_records(o, pipeline, output, progress, &stop_signal);
  // The manifest is marked complete only when every record of the input is in the output.
  const bool complete = st.ok() && pipeline.complete();
  if (st.ok()) st = output.close(complete ? std::optional<uint64_t>(setup.reader->n_lines_seen()) : std::nullopt);
  if (st.ok()) st = pipeline.input_error();  // the records before a damaged input are written
  progress.finish();
  const double run_s = progress.elapsed_s();
  if (st.ok()) st = write_stats_json(o.stats_json, pipeline.counters(), setup.load_s, run_s);
  const int code = exit_status(st, RunStage::kRecords, complete ? 0 : stop_signal, pipeline.counters().failed);
  if (!o.quiet)
    print_note(std::string(!complete ? "stopped: " : "") + summary_line(pipeline.counters(), setup.load_s, run_s));
  return code;
}

}  // namespace sb::cli
