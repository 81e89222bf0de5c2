// `specbatch run`: records from JSONL inputs -> one JSON output line each,
// through the continuous-batching Engine. Input is read lazily: admission
// pauses while the engine's queue or the output reorder window is full, so
// memory does not grow with the input. Per-record problems become error records.
// Output is append-only and resumable (cli/run_output.h); SIGINT/SIGTERM stop
// admission at once, drop what has not started, let records running finish within
// --grace-seconds, and exit 130/143 (0 when every record finished anyway). A damaged
// input stops admission the same way: what came before it finishes, then exit 1.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/engine_setup.h"
#include "cli/progress.h"
#include "cli/reorder_window.h"
#include "cli/run_output.h"
#include "cli/stop_signal.h"
#include "core/backend.h"
#include "core/engine.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/json_writer.h"
#include "formats/jsonl_reader.h"
#include "formats/openai_batch.h"
#include "formats/output_sink.h"
#include "formats/record.h"
#include "formats/shard.h"

namespace sb::cli {
namespace {

using Clock = std::chrono::steady_clock;
static_assert(kMaxTopLogprobs == kRecordMaxLogprobs, "--logprobs and the record field share one bound");

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void write_id(JsonWriter& w, const Record& r) {
  w.key("id");
  if (!r.has_id) {
    w.null();
  } else if (r.id_is_number) {
    w.raw(r.id);
  } else {
    w.value(r.id);
  }
}

std::string error_line(const Record& r, RecordErrorCode code, const std::string& message) {
  JsonWriter w;
  w.begin_object().key("index").value(r.index);
  write_id(w, r);
  w.key("error").begin_object().key("code").value(record_error_code_name(code)).key("message").value(message);
  w.end_object().end_object();
  return w.take();
}

// The record's prompt ids as a JSON array, or "" when it did not ask for them.
std::string prompt_ids_json(std::span<const int32_t> prompt_ids, const SampleFormat& f) {
  if (!f.token_ids) return std::string();
  JsonWriter w;
  w.begin_array();
  for (int32_t id : prompt_ids) w.value(id);
  w.end_array();
  return w.take();
}

void write_spec(JsonWriter& w, const GenerationResult& g) {
  w.key("spec").begin_object().key("drafted").value(g.spec.drafted).key("accepted").value(g.spec.accepted);
  w.key("steps").value(g.spec.steps).end_object();
}

// samples: the record's n results, sample k drawn with seed + k: their fields at
// the top level when n = 1, else one "choices" entry each. usage counts the
// prompt once and the completion tokens of every sample. spec: the speculative
// counts are written (a drafter is in use).
std::string result_line(const Record& r, std::span<const GenerationResult> samples, const SampleFormat& f,
                        std::span<const int32_t> prompt_ids, bool spec) {
  JsonWriter w;
  w.begin_object().key("index").value(r.index);
  write_id(w, r);
  if (f.token_ids) w.key("prompt_token_ids").raw(prompt_ids_json(prompt_ids, f));
  int64_t completion_tokens = 0;
  if (samples.size() == 1) {
    write_sample(w, samples[0], f);
    completion_tokens = samples[0].completion_tokens;
  } else {
    w.key("choices").begin_array();
    for (size_t k = 0; k < samples.size(); ++k) {
      w.begin_object().key("index").value(static_cast<int64_t>(k));
      write_sample(w, samples[k], f);
      if (spec) write_spec(w, samples[k]);
      w.end_object();
      completion_tokens += samples[k].completion_tokens;
    }
    w.end_array();
  }
  w.key("usage").begin_object();
  w.key("prompt_tokens").value(samples[0].prompt_tokens).key("completion_tokens").value(completion_tokens);
  w.end_object();
  if (spec && samples.size() == 1) write_spec(w, samples[0]);  // last, after usage, as before choices existed
  w.end_object();
  return w.take();
}

// Output lines in the --output-format's shape: specbatch's own, or OpenAI Batch.
class LineFormatter {
 public:
  LineFormatter(const RunOptions& o, const Tokenizer& tok)
      : tok_(tok), openai_(o.output_format == "openai"), spec_(!o.draft.empty() && o.spec_policy != "off"),
        return_token_ids_(o.return_token_ids) {
    std::string model = o.model;
    while (model.size() > 1 && model.back() == '/') model.pop_back();
    ctx_.model = model.substr(model.rfind('/') == std::string::npos ? 0 : model.rfind('/') + 1);
    ctx_.created = static_cast<int64_t>(std::time(nullptr));
  }
  std::string error(const Record& r, RecordErrorCode code, const std::string& message) const {
    return openai_ ? openai_error_line(r, record_error_code_name(code), message) : error_line(r, code, message);
  }
  // samples: the record's n results, sample k drawn with seed + k; usage counts
  // the prompt once and the completion tokens of every sample. prompt_ids: the
  // record's prompt, written when it asks for token ids.
  std::string result(const Record& r, std::span<const GenerationResult> samples,
                     std::span<const int32_t> prompt_ids) const {
    SampleFormat f;
    f.shape = !openai_ ? SampleShape::kSpecbatch : r.chat ? SampleShape::kOpenAiChat : SampleShape::kOpenAiCompletion;
    f.token_ids = wants_token_ids(r);
    f.tokenizer = &tok_;
    if (!openai_) return result_line(r, samples, f, prompt_ids, spec_);
    JsonWriter choices;
    choices.begin_array();
    int64_t completion_tokens = 0;
    for (size_t k = 0; k < samples.size(); ++k) {
      choices.begin_object().key("index").value(static_cast<int64_t>(k));
      write_sample(choices, samples[k], f);
      choices.end_object();
      completion_tokens += samples[k].completion_tokens;
    }
    choices.end_array();
    const std::string prompt_ids_text = prompt_ids_json(prompt_ids, f);
    const CompletionOutput out{choices.str(), prompt_ids_text, samples[0].prompt_tokens, completion_tokens};
    return openai_result_line(r, r.chat ? OpenAiEndpoint::kChatCompletions : OpenAiEndpoint::kCompletions, out, ctx_);
  }
  bool wants_token_ids(const Record& r) const { return r.params.return_token_ids.value_or(return_token_ids_); }

 private:
  const Tokenizer& tok_;
  bool openai_;
  bool spec_;
  bool return_token_ids_;
  OpenAiBatchContext ctx_;
};

GenerationRequest make_request(const RunOptions& o, const Record& r) {
  const RecordParams& p = r.params;
  GenerationRequest req;
  req.index = r.index;
  req.max_tokens = static_cast<int>(p.max_tokens.value_or(o.max_tokens));
  req.sampling.temperature = static_cast<float>(p.temperature.value_or(o.temperature));
  req.sampling.top_p = static_cast<float>(p.top_p.value_or(o.top_p));
  req.sampling.top_k = static_cast<int>(p.top_k.value_or(o.top_k));
  req.sampling.min_p = static_cast<float>(p.min_p.value_or(o.min_p));
  req.sampling.seed = p.seed.value_or(o.seed);
  req.stop = p.stop.value_or(o.stop);
  req.ignore_eos = p.ignore_eos.value_or(o.ignore_eos);
  req.stop_token_ids = p.stop_token_ids.value_or(std::vector<int32_t>());
  req.logprobs = p.logprobs.value_or(o.logprobs);
  return req;
}

}  // namespace

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
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
  cmd->add_option("--n", o.n, "Samples per record; sample k uses seed + k; n > 1 writes \"choices\"")
      ->check(CLI::Range(1, kMaxSamplesPerRecord))->capture_default_str()->group(g);
  cmd->add_option("--temperature", o.temperature, "Sampling temperature; 0 = greedy")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
  cmd->add_option("--top-p", o.top_p, "Nucleus sampling: keep the smallest set with this mass, in (0, 1]")
      ->check(CLI::Range(0.0, 1.0))
      ->check([](const std::string& s) { return std::stod(s) > 0 ? std::string() : "must be > 0"; })
      ->capture_default_str()->group(g);
  cmd->add_option("--top-k", o.top_k, "Keep the k most likely tokens; 0 = off")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
  cmd->add_option("--min-p", o.min_p, "Drop tokens below min_p times the top probability, in [0, 1]")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(g);
  cmd->add_option("--seed", o.seed, "Sampling seed; randomness is keyed by (seed, record index, position)")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
  cmd->add_option("--stop", o.stop, "Stop string (repeatable); not included in the output")
      ->type_name("STR")->allow_extra_args(false)->group(g);
  cmd->add_flag("--ignore-eos", o.ignore_eos, "Keep generating past end-of-sequence tokens")->group(g);
  cmd->add_option("--logprobs", o.logprobs,
                  "Write each generated token's log-probability and the K most likely alternatives, K in [0, " +
                      std::to_string(kMaxTopLogprobs) + "]")
      ->type_name("K")->check(CLI::Range(0, kMaxTopLogprobs))->group(g);
  cmd->add_flag("--return-token-ids", o.return_token_ids, "Write prompt_token_ids and token_ids")->group(g);
  cmd->add_option("--chat-template", o.chat_template,
                  "Jinja2 chat template for \"messages\" records, instead of the model's own")
      ->type_name("FILE")->group("Chat records");
  cmd->add_option("--chat-template-kwargs", o.chat_template_kwargs,
                  "Extra chat template variables as a JSON object, e.g. '{\"enable_thinking\": false}'")
      ->type_name("JSON")->group("Chat records");
  auto* e = "Engine";
  cmd->add_option("--threads", o.threads, "CPU threads; 0 = all cores")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_option("--device", o.device, "cpu, cuda, cuda:N or cuda:all")->capture_default_str()->group(e);
  cmd->add_option("--dtype", o.dtype, "Weights on the GPU: auto (as stored), f32, or bf16 (F32 and F16 narrowed)")
      ->check(CLI::IsMember({"auto", "f32", "bf16"}))->capture_default_str()->group(e);
  cmd->add_option("--ctx", o.ctx, "Context length per record (prompt + generated); 0 = the model's")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_option("--max-batch-tokens", o.max_batch_tokens, "Tokens per engine step, all records together")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(e);
  cmd->add_option("--max-seqs", o.max_seqs, "Records generating at once")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(e);
  cmd->add_option("--kv-cache-mb", o.kv_cache_mb,
                  "KV cache size in MiB; 0 = room for --max-seqs full contexts, at most a quarter of memory")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_flag("--no-prefix-cache", o.no_prefix_cache,
                "Compute every prompt token: no sharing of KV blocks between records with a common prefix")
      ->group(e);
  cmd->add_option("--draft", o.draft,
                  "Speculative drafter: ngram or ngram:N (longest n-gram looked up), self:q8_0 or self:q4_0 (the "
                  "model quantized at load), a draft model PATH with the model's vocabulary, or dspark:DIR (a DSpark "
                  "block drafter checkpoint for a Qwen3 model; turns the prefix cache off)")->group(e);
  cmd->add_option("--spec-policy", o.spec_policy,
                  "Draft tokens verified per step: confidence (what pays at this load), fixed (--spec-max) or off")
      ->check(CLI::IsMember({"confidence", "fixed", "off"}))->capture_default_str()->group(e);
  cmd->add_option("--spec-max", o.spec_max, "Draft tokens per record and step")
      ->check(CLI::Range(1, 64))->capture_default_str()->group(e);
  cmd->add_option("--spec-profile", o.spec_profile,
                  "Load the confidence policy's step cost profile from this file when it matches the model, "
                  "backend, threads, --max-batch-tokens and KV block size; else profile and write it")
      ->type_name("FILE")->group(e);
  auto* out = "Output and reporting";
  cmd->add_option("--order", o.order, "Output order: input (restored through a bounded window) or completion")
      ->check(CLI::IsMember({"input", "completion"}))->capture_default_str()->group(out);
  cmd->add_option("--reorder-window", o.reorder_window,
                  "Records held to restore input order; admission waits when full; 0 = max(1024, 4 x --max-seqs)")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(out);
  cmd->add_option("--errors", o.errors, "Write error records to this file instead of the output")
      ->type_name("FILE")->group(out);
  cmd->add_option("--progress", o.progress,
                  "auto (an updating line on a terminal, else log lines), log, or none")
      ->check(CLI::IsMember({"auto", "log", "none"}))->capture_default_str()->group(out);
  cmd->add_option("--progress-interval", o.progress_interval, "Seconds between progress log lines")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(out);
  cmd->add_option("--stats-json", o.stats_json, "Write the final statistics as JSON to this file")
      ->type_name("FILE")->group(out);
  cmd->add_option("--output-format", o.output_format, "Output lines: specbatch, or openai (OpenAI Batch output shape)")
      ->check(CLI::IsMember({"specbatch", "openai"}))->capture_default_str()->group(out);
  cmd->add_option("--flush-records", o.flush_records, "Flush point (zstd: close the frame) every N records")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(out);
  cmd->add_option("--flush-seconds", o.flush_seconds, "Flush point when the oldest unflushed record is this old")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(out);
  cmd->add_option("--sync", o.sync, "fdatasync the output: none, frame (at each flush point) or record")
      ->check(CLI::IsMember({"none", "frame", "record"}))->capture_default_str()->group(out);
  cmd->add_option("--grace-seconds", o.grace_seconds,
                  "After SIGINT/SIGTERM, time for records in flight to finish before they are abandoned")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(out);
  cmd->add_flag("-q,--quiet", o.quiet, "No progress and no summary on stderr")->group(out);
  return cmd;
}

namespace {

// A record inside the engine: what its output line needs (the prompt text is
// dropped) and its n samples, written as one line once all have finished.
struct InFlight {
  uint64_t slot = 0;  // reorder-window slot (input order only)
  Record record;
  std::vector<int32_t> prompt_ids;        // only when the record asks for token ids
  std::vector<GenerationResult> samples;  // [n]
  size_t n_done = 0;
};

// An engine request: sample k of the record with this index.
struct SampleOf {
  uint64_t index = 0;
  size_t k = 0;
};

// "30", "0.5": a --grace-seconds value as typed.
std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", s);
  return buf;
}

// The records this run will do, estimated (for progress) from the share of the
// input's bytes read so far: compressed bytes for zstd, whose records are not
// counted up front.
void estimate_total(const JsonlReader& reader, uint64_t done_before, const Shard& shard, uint64_t n_read,
                    RunCounters* c) {
  const std::optional<double> f = reader.fraction_read();
  if (!f || *f <= 0) return;
  const double input_records = static_cast<double>(reader.n_lines_seen()) / *f;
  const double mine = input_records / static_cast<double>(shard.count) - static_cast<double>(done_before);
  c->total = std::max<uint64_t>(n_read, static_cast<uint64_t>(std::max(0.0, mine)));
  c->total_estimated = true;
}

ProgressMode progress_mode(const RunOptions& o) {
  if (o.quiet || o.progress == "none") return ProgressMode::kNone;
  if (o.progress == "log" || !::isatty(STDERR_FILENO)) return ProgressMode::kLog;
  return ProgressMode::kTerminal;
}

}  // namespace

int run_command(const RunOptions& o) {
  const auto t_start = Clock::now();
  const auto device = parse_device(o.device, o.dtype, o.threads);
  if (!device.ok()) {
    print_error(device.status().message());
    return kExitUsage;
  }
  install_stop_signal_handlers();
  Shard shard;
  if (!o.shard.empty()) {
    auto env = [](const char* name) -> std::optional<std::string> {
      const char* v = std::getenv(name);
      return v == nullptr ? std::nullopt : std::optional<std::string>(v);
    };
    auto parsed = parse_shard(o.shard, SlurmArrayEnv{env("SLURM_ARRAY_TASK_ID"), env("SLURM_ARRAY_TASK_COUNT"),
                                                     env("SLURM_ARRAY_TASK_MIN"), env("SLURM_ARRAY_TASK_MAX"),
                                                     env("SLURM_ARRAY_TASK_STEP")});
    if (!parsed.ok()) {
      print_error(parsed.status().message());
      return kExitUsage;
    }
    shard = *parsed;
  }
  // Fail fast, before loading anything: missing inputs, outputs that exist or do not match.
  JsonlReaderOptions reader_options;
  reader_options.shard = shard;
  // A pipe with nothing to read does not hold up records already in the engine, nor a stop.
  const Engine* engine_for_reader = nullptr;
  reader_options.stop_waiting = [&engine_for_reader] {
    return stop_signal_received() != 0 || (engine_for_reader != nullptr && engine_for_reader->has_work());
  };
  auto reader = JsonlReader::open(o.inputs, reader_options);
  if (!reader.ok()) {
    print_error(reader.status().message());
    return kExitFatal;
  }
  auto manifest = run_manifest(o, shard);
  if (!manifest.ok()) {
    print_error(manifest.status().message());
    return manifest.status().code() == StatusCode::kInvalidArgument ? kExitUsage : kExitFatal;
  }
  RunOutputConfig out_config;
  out_config.path = o.output;
  out_config.errors_path = o.errors;
  out_config.resume = o.resume;
  out_config.overwrite = o.overwrite;
  out_config.input_order = o.order == "input";
  out_config.shard = shard;
  out_config.sink.flush_records = o.flush_records;
  out_config.sink.flush_seconds = o.flush_seconds;
  out_config.sink.sync = parse_sync_policy(o.sync).value();  // CLI11 checked the name
  auto prepared = RunOutput::prepare(out_config, std::move(manifest).value());
  if (!prepared.ok()) {
    print_error(prepared.status().message());
    return kExitFatal;
  }
  RunOutput& output = **prepared;
  // Plain inputs are counted up front (a newline scan): progress has its total from
  // the start, and a resumed output is checked against the input before the model loads.
  const auto counted = count_records(o.inputs);
  if (!counted.ok()) {
    print_error(counted.status().message());
    return kExitFatal;
  }
  if (*counted) {
    const Status within = output.check_indices_below(**counted);
    if (!within.ok()) {
      print_error(within.message());
      return kExitFatal;
    }
  }

  auto loaded = load_for_generation(o.model, o.spec_policy == "off" ? "" : o.draft, *device);
  if (!loaded.ok()) {
    print_error(loaded.status().message());
    return kExitFatal;
  }
  const Model& model = loaded->model;
  const Tokenizer& tok = *loaded->tokenizer;
  auto chat = ChatPrompter::create(tok, o.chat_template, o.chat_template_kwargs);
  if (!chat.ok()) {
    print_error(chat.status().message());
    return kExitUsage;
  }
  EngineOptions eo;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.max_seqs = o.max_seqs;
  eo.max_ctx = o.ctx;
  eo.draft = o.draft;
  eo.spec_policy = o.spec_policy == "off"     ? SpecPolicy::kOff
                     : o.spec_policy == "fixed" ? SpecPolicy::kFixed
                                                : SpecPolicy::kConfidence;
  eo.spec_max = o.spec_max;
  eo.prefix_cache = !o.no_prefix_cache;
  if (o.kv_cache_mb > 0)
    eo.kv_cache_tokens = std::max<int64_t>(1, (int64_t{o.kv_cache_mb} << 20) / kv_bytes_per_token(model.config));
  SpecProfileKey profile_key;
  if (!o.spec_profile.empty()) {
    auto key = spec_profile_key(*loaded, o.threads);
    if (!key.ok()) {
      print_error(key.status().message());
      return kExitFatal;
    }
    profile_key = std::move(key).value();
  }
  auto created = create_engine(*loaded, eo, o.spec_profile, profile_key);
  if (!created.ok()) {
    print_error(created.status().message());
    return kExitFatal;
  }
  Engine& engine = **created;
  engine_for_reader = &engine;

  // Created only now, so a failed load leaves no empty output behind.
  const Status opened = output.open();
  if (!opened.ok()) {
    print_error(opened.message());
    return kExitFatal;
  }
  const LineFormatter format(o, tok);
  const double load_s = seconds_since(t_start);

  std::optional<ReorderWindow> window;
  if (o.order == "input")
    window.emplace(static_cast<size_t>(o.reorder_window > 0 ? o.reorder_window : std::max(1024, 4 * o.max_seqs)));
  const int queue_cap = 2 * o.max_seqs;  // requests waiting or running in the engine
  Progress progress(progress_mode(o), o.progress_interval);
  RunCounters counters;
  std::unordered_map<uint64_t, InFlight> in_flight;  // by record index
  std::unordered_map<uint64_t, SampleOf> sample_of;  // by engine request id
  RecordParser parser;
  JsonlLine line;
  const bool add_bos = tok.add_bos_default();
  std::vector<FinishedRequest> finished;

  auto fatal = [&](const Status& s) {
    progress.finish();
    print_error(s.message());
    if (!o.quiet) print_note("stopped: " + summary_line(counters, load_s, progress.elapsed_s()));
    return kExitFatal;
  };
  // A finished line: to the window (input order) or straight out; errors to --errors if given.
  auto emit = [&](uint64_t slot, std::string out, bool is_error) -> Status {
    if (is_error && output.errors() != nullptr) {
      SB_RETURN_IF_ERROR(output.errors()->write_record(out));
      out.clear();
    }
    if (!window) return out.empty() ? ok_status() : output.out().write_record(out);
    window->complete(slot, std::move(out));
    while (std::optional<std::string> ready = window->pop()) SB_RETURN_IF_ERROR(output.out().write_record(*ready));
    return ok_status();
  };
  auto record_error = [&](uint64_t slot, const Record& rec, RecordErrorCode code, const std::string& message) {
    ++counters.failed;
    return emit(slot, format.error(rec, code, message), true);
  };

  if (output.done().size() > 0 && !o.quiet)
    print_note("resuming: skipping " + std::to_string(output.done().size()) + " records already in the output");
  if (*counted) counters.total = shard.records_of(**counted) - output.done().size();
  bool input_done = false;
  bool input_read_to_end = false;
  int stop_signal = 0;
  bool dropped = false;  // records a stop took out before they started
  Status input_error;    // the input failed: records before it still finish
  Clock::time_point stop_deadline;
  uint64_t n_read = 0;
  for (;;) {
    // A stop signal: no more admission, and what has not started is dropped (resume
    // does it); records running get until the deadline.
    if (stop_signal == 0 && (stop_signal = stop_signal_received()) != 0) {
      input_done = true;
      stop_deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                         std::chrono::duration<double>(o.grace_seconds));
      size_t n_dropped = 0;
      for (uint64_t id : engine.cancel_waiting()) {
        const auto sample = sample_of.find(id);
        n_dropped += in_flight.erase(sample->second.index);
        sample_of.erase(sample);
      }
      dropped = n_dropped > 0;
      if (!o.quiet)
        print_note(std::string(stop_signal == SIGINT ? "SIGINT" : "SIGTERM") + ": stopping after " +
                   std::to_string(counters.ok + counters.failed) + " records; " + std::to_string(in_flight.size()) +
                   " running get up to " + seconds_text(o.grace_seconds) + " s to finish, " +
                   std::to_string(n_dropped) + " not started are left for --resume (a second signal exits at once)");
    }
    if (stop_signal != 0 && Clock::now() >= stop_deadline) break;  // abandon what is still running
    // Admission, bounded by the engine queue and the reorder window.
    while (!input_done && engine.n_pending() < queue_cap && (!window || window->has_room())) {
      StatusOr<bool> more = (*reader)->next(&line);
      if (!more.ok()) {  // damaged input: what came before it is intact and finishes
        input_error = more.status();
        input_done = true;
        break;
      }
      if (!*more && (*reader)->waiting()) break;  // a pipe with nothing yet: step the engine, or stop
      if (!*more) {
        input_done = true;
        input_read_to_end = true;
        counters.total = n_read;
        counters.total_estimated = false;
        const Status within = output.check_indices_below((*reader)->n_lines_seen());
        if (!within.ok()) return fatal(within);
        break;
      }
      if (output.done().contains(line.index)) continue;  // resume: written by an earlier run
      ++n_read;
      const uint64_t slot = window ? window->admit() : 0;
      ParsedRecord parsed = parser.parse(line.text, line.index);
      Record& rec = parsed.record;
      Status st;
      if (parsed.error) {
        st = record_error(slot, rec, parsed.error->code, parsed.error->message);
      } else {
        GenerationRequest req = make_request(o, rec);
        std::optional<RecordError> chat_error;
        if (!rec.chat) req.prompt = tok.encode(rec.prompt, add_bos);
        else chat_error = chat->encode(rec, add_bos, &req.prompt);
        rec.prompt = std::string();
        rec.messages_json = std::string();
        rec.tools_json = std::string();
        if (chat_error) {
          st = record_error(slot, rec, chat_error->code, chat_error->message);
        } else if (req.prompt.empty()) {
          st = record_error(slot, rec, RecordErrorCode::kMissingPrompt,
                            "the prompt is empty and the model adds no BOS token to start from");
        } else {
          // Sample k draws with seed + k; all samples share the prompt's KV blocks
          // through the prefix cache. They differ only in the seed, so add()
          // refuses the first or none.
          const size_t n = static_cast<size_t>(rec.params.n.value_or(o.n));
          const uint64_t seed = req.sampling.seed;
          bool added = true;
          for (size_t k = 0; k < n && added; ++k) {
            GenerationRequest sample = req;
            sample.sampling.seed = seed + k;
            StatusOr<uint64_t> id = engine.add(std::move(sample));
            if (id.ok()) {
              sample_of.emplace(*id, SampleOf{rec.index, k});
              continue;
            }
            SB_CHECK(k == 0);
            added = false;
            if (id.status().code() == StatusCode::kOutOfRange) {
              st = record_error(slot, rec, RecordErrorCode::kPromptTooLong, id.status().message() + " (see --ctx, --kv-cache-mb)");
            } else {
              st = record_error(slot, rec, RecordErrorCode::kInvalidParam, id.status().message());
            }
          }
          if (added) {
            std::vector<int32_t> prompt_ids;
            if (format.wants_token_ids(rec)) prompt_ids = req.prompt;
            in_flight.emplace(rec.index,
                              InFlight{slot, std::move(rec), std::move(prompt_ids), std::vector<GenerationResult>(n), 0});
          }
        }
      }
      if (!st.ok()) return fatal(st);
    }
    if (!engine.has_work()) {
      if (input_done) break;
      continue;
    }
    const Status step = engine.step(&finished);
    if (!step.ok()) return fatal(step);
    for (FinishedRequest& f : finished) {
      const auto sample = sample_of.find(f.id);
      if (sample == sample_of.end()) continue;  // a sample of a record a stop dropped
      const auto it = in_flight.find(sample->second.index);
      if (it == in_flight.end()) {
        sample_of.erase(sample);
        continue;
      }
      InFlight& rec = it->second;
      rec.samples[sample->second.k] = std::move(f.result);
      sample_of.erase(sample);
      if (++rec.n_done < rec.samples.size()) continue;
      ++counters.ok;
      counters.prompt_tokens += static_cast<uint64_t>(rec.samples[0].prompt_tokens);
      for (const GenerationResult& g : rec.samples) counters.generated_tokens += static_cast<uint64_t>(g.completion_tokens);
      const Status ws = emit(rec.slot, format.result(rec.record, rec.samples, rec.prompt_ids), false);
      if (!ws.ok()) return fatal(ws);
      in_flight.erase(it);
    }
    finished.clear();
    const Status ps = output.poll(Clock::now());
    if (!ps.ok()) return fatal(ps);
    const EngineStats es = engine.stats();
    counters.sampled_tokens = es.generated_tokens;
    counters.steps = es.steps;
    counters.preemptions = es.preemptions;
    counters.engine_prompt_tokens = es.prompt_tokens;
    counters.cached_prompt_tokens = es.cached_prompt_tokens;
    counters.drafted_tokens = es.drafted_tokens;
    counters.accepted_tokens = es.accepted_tokens;
    counters.sampled_steps = es.sampled_steps;
    counters.spec_verifications = es.spec_verifications;
    counters.drafter_steps = es.drafter_steps;
    if (!*counted && !input_read_to_end) estimate_total(**reader, output.done().size(), shard, n_read, &counters);
    progress.update(counters);
  }
  // A stop after every record had started, and all of them finished: the run is
  // complete if nothing of the input is left (only records an earlier run did).
  if (stop_signal != 0 && !dropped && input_error.ok() && in_flight.empty() && !input_read_to_end) {
    StatusOr<bool> more = (*reader)->next(&line);
    while (more.ok() && *more && output.done().contains(line.index)) more = (*reader)->next(&line);
    input_read_to_end = more.ok() && !*more && !(*reader)->waiting();
  }
  const bool complete = input_error.ok() && input_read_to_end && in_flight.empty();
  if (complete && stop_signal != 0 && !o.quiet)
    print_note(std::string(stop_signal == SIGINT ? "SIGINT" : "SIGTERM") +
               " came after the last record had started, and every record finished: the output is complete");
  // Stopped early: records still held for ordering (behind an abandoned one) are
  // dropped, so the file stays in input order; resume recomputes them.
  SB_CHECK(!complete || !window || window->empty());
  const Status cs = output.close(complete ? std::optional<uint64_t>((*reader)->n_lines_seen()) : std::nullopt);
  if (!cs.ok()) return fatal(cs);
  if (!input_error.ok()) return fatal(input_error);
  progress.finish();
  const double run_s = progress.elapsed_s();
  if (!o.stats_json.empty()) {
    auto js = OutputSink::open_file(o.stats_json, OpenMode::kTruncate, OutputSinkOptions{});
    Status ws = js.ok() ? (*js)->write_record(stats_json(counters, load_s, run_s)) : js.status();
    if (ws.ok()) ws = (*js)->close();
    if (!ws.ok()) return fatal(ws);
  }
  if (!o.quiet) print_note(std::string(!complete ? "stopped: " : "") + summary_line(counters, load_s, run_s));
  if (stop_signal != 0 && !complete) return exit_status_for_signal(stop_signal);
  return counters.failed == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace sb::cli
