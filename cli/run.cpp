// `specbatch run`: records from JSONL inputs -> one JSON output line each,
// through the continuous-batching Engine. Input is read lazily: admission
// pauses while the engine's queue or the output reorder window is full, so
// memory does not grow with the input. Per-record problems become error records.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>
#include <unordered_map>

#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "cli/progress.h"
#include "cli/reorder_window.h"
#include "core/backend.h"
#include "core/engine.h"
#include "core/model.h"
#include "core/tokenizer.h"
#include "formats/json_writer.h"
#include "formats/jsonl_reader.h"
#include "formats/record.h"

namespace sb::cli {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Where output lines go: stdout, or a file created by this run.
class OutputSink {
 public:
  // Refuses an existing file unless `overwrite` (resume comes with a later issue).
  static StatusOr<OutputSink> open(const std::string& path, bool overwrite) {
    OutputSink sink;
    if (path.empty() || path == "-") return sink;
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (overwrite ? O_TRUNC : O_EXCL);
    const int fd = ::open(path.c_str(), flags, 0644);
    if (fd < 0) {
      if (errno == EEXIST)
        return invalid_argument(path + ": output file exists; specbatch never overwrites an output "
                                       "silently (pass --overwrite to replace it)");
      return errno_error("cannot create " + path);
    }
    sink.fd_ = fd;
    sink.name_ = path;
    return sink;
  }
  OutputSink() = default;
  OutputSink(OutputSink&& o) noexcept : fd_(o.fd_), name_(std::move(o.name_)) { o.fd_ = STDOUT_FILENO; }
  OutputSink& operator=(OutputSink&&) = delete;
  ~OutputSink() {
    if (fd_ != STDOUT_FILENO) ::close(fd_);
  }
  // One whole line, one write.
  Status write_line(std::string line) {
    line.push_back('\n');
    return write_all(fd_, line, name_);
  }
  Status close() {
    if (fd_ == STDOUT_FILENO) return ok_status();
    const int fd = fd_;
    fd_ = STDOUT_FILENO;
    if (::close(fd) != 0) return errno_error("cannot close " + name_);
    return ok_status();
  }

 private:
  int fd_ = STDOUT_FILENO;
  std::string name_ = "stdout";
};

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

std::string result_line(const Record& r, const GenerationResult& g) {
  JsonWriter w;
  w.begin_object().key("index").value(r.index);
  write_id(w, r);
  w.key("text").value(g.text);
  w.key("finish_reason").value(finish_reason_name(g.finish_reason));
  w.key("usage").begin_object();
  w.key("prompt_tokens").value(g.prompt_tokens).key("completion_tokens").value(g.completion_tokens);
  w.end_object().end_object();
  return w.take();
}

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
  auto* g = "Defaults for records that do not set their own";
  cmd->add_option("--max-tokens", o.max_tokens, "Maximum generated tokens per record")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(g);
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
  cmd->add_option("--chat-template", o.chat_template,
                  "Jinja2 chat template for \"messages\" records, instead of the model's own")
      ->type_name("FILE")->group("Chat records");
  cmd->add_option("--chat-template-kwargs", o.chat_template_kwargs,
                  "Extra chat template variables as a JSON object, e.g. '{\"enable_thinking\": false}'")
      ->type_name("JSON")->group("Chat records");
  auto* e = "Engine";
  cmd->add_option("--threads", o.threads, "CPU threads; 0 = all cores")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_option("--device", o.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str()->group(e);
  cmd->add_option("--ctx", o.ctx, "Context length per record (prompt + generated); 0 = the model's")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_option("--max-batch-tokens", o.max_batch_tokens, "Tokens per engine step, all records together")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(e);
  cmd->add_option("--max-seqs", o.max_seqs, "Records generating at once")
      ->check(CLI::PositiveNumber)->capture_default_str()->group(e);
  cmd->add_option("--kv-cache-mb", o.kv_cache_mb,
                  "KV cache size in MiB; 0 = room for --max-seqs full contexts, at most a quarter of memory")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
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
  cmd->add_flag("-q,--quiet", o.quiet, "No progress and no summary on stderr")->group(out);
  return cmd;
}

namespace {

// A record inside the engine: what its output line needs (the prompt text is dropped).
struct InFlight {
  uint64_t slot = 0;  // reorder-window slot (input order only)
  Record record;
};

ProgressMode progress_mode(const RunOptions& o) {
  if (o.quiet || o.progress == "none") return ProgressMode::kNone;
  if (o.progress == "log" || !::isatty(STDERR_FILENO)) return ProgressMode::kLog;
  return ProgressMode::kTerminal;
}

}  // namespace

int run_command(const RunOptions& o) {
  const auto t_start = Clock::now();
  const bool to_file = !o.output.empty() && o.output != "-";
  if (to_file && o.output.size() >= 4 && o.output.substr(o.output.size() - 4) == ".zst") {
    print_error(o.output + ": zstd output is not implemented yet; write plain JSONL (or pipe through zstd)");
    return kExitUsage;
  }
  // Fail fast, before loading anything: missing inputs, outputs that exist.
  auto reader = JsonlReader::open(o.inputs);
  if (!reader.ok()) {
    print_error(reader.status().message());
    return kExitFatal;
  }
  for (const std::string& path : {to_file ? o.output : std::string(), o.errors}) {
    struct stat st {};
    if (!path.empty() && !o.overwrite && ::stat(path.c_str(), &st) == 0) {
      print_error(path + ": output file exists; specbatch never overwrites an output silently (pass "
                         "--overwrite to replace it)");
      return kExitFatal;
    }
  }

  auto backend = make_backend(o.device, o.threads);
  if (!backend.ok()) {
    print_error(backend.status().message());
    return kExitFatal;
  }
  auto model = load_model(o.model);
  if (!model.ok()) {
    print_error(model.status().message());
    return kExitFatal;
  }
  auto tokenizer = Tokenizer::load(o.model);
  if (!tokenizer.ok()) {
    print_error(tokenizer.status().message());
    return kExitFatal;
  }
  const Tokenizer& tok = **tokenizer;
  auto chat = ChatPrompter::create(tok, o.chat_template, o.chat_template_kwargs);
  if (!chat.ok()) {
    print_error(chat.status().message());
    return kExitUsage;
  }
  EngineOptions eo;
  eo.max_batch_tokens = o.max_batch_tokens;
  eo.max_seqs = o.max_seqs;
  eo.max_ctx = o.ctx;
  if (o.kv_cache_mb > 0)
    eo.kv_cache_tokens = std::max<int64_t>(1, (int64_t{o.kv_cache_mb} << 20) / kv_bytes_per_token(model->config));
  auto created = Engine::create(*model, tok, **backend, eo);
  if (!created.ok()) {
    print_error(created.status().message());
    return kExitFatal;
  }
  Engine& engine = **created;

  // Created only now, so a failed load leaves no empty output behind.
  auto sink = OutputSink::open(o.output, o.overwrite);
  if (!sink.ok()) {
    print_error(sink.status().message());
    return kExitFatal;
  }
  std::optional<OutputSink> errors_sink;
  if (!o.errors.empty()) {
    auto es = OutputSink::open(o.errors, o.overwrite);
    if (!es.ok()) {
      print_error(es.status().message());
      return kExitFatal;
    }
    errors_sink.emplace(std::move(es).value());
  }
  const double load_s = seconds_since(t_start);

  std::optional<ReorderWindow> window;
  if (o.order == "input")
    window.emplace(static_cast<size_t>(o.reorder_window > 0 ? o.reorder_window : std::max(1024, 4 * o.max_seqs)));
  const int queue_cap = 2 * o.max_seqs;  // requests waiting or running in the engine
  Progress progress(progress_mode(o), o.progress_interval);
  RunCounters counters;
  std::unordered_map<uint64_t, InFlight> in_flight;  // by engine request id
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
    if (is_error && errors_sink) {
      SB_RETURN_IF_ERROR(errors_sink->write_line(std::move(out)));
      out.clear();
    }
    if (!window) return out.empty() ? ok_status() : sink->write_line(std::move(out));
    window->complete(slot, std::move(out));
    while (std::optional<std::string> ready = window->pop()) SB_RETURN_IF_ERROR(sink->write_line(std::move(*ready)));
    return ok_status();
  };
  auto record_error = [&](uint64_t slot, const Record& rec, RecordErrorCode code, const std::string& message) {
    ++counters.failed;
    return emit(slot, error_line(rec, code, message), true);
  };

  bool input_done = false;
  uint64_t n_read = 0;
  for (;;) {
    // Admission, bounded by the engine queue and the reorder window.
    while (!input_done && engine.n_pending() < queue_cap && (!window || window->has_room())) {
      StatusOr<bool> more = (*reader)->next(&line);
      if (!more.ok()) return fatal(more.status());
      if (!*more) {
        input_done = true;
        counters.total = n_read;
        break;
      }
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
          StatusOr<uint64_t> id = engine.add(std::move(req));
          if (id.ok()) {
            in_flight.emplace(*id, InFlight{slot, std::move(rec)});
          } else if (id.status().code() == StatusCode::kOutOfRange) {
            st = record_error(slot, rec, RecordErrorCode::kPromptTooLong, id.status().message() + " (see --ctx, --kv-cache-mb)");
          } else {
            st = record_error(slot, rec, RecordErrorCode::kInvalidParam, id.status().message());
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
      const auto it = in_flight.find(f.id);
      SB_CHECK(it != in_flight.end());
      ++counters.ok;
      counters.prompt_tokens += static_cast<uint64_t>(f.result.prompt_tokens);
      counters.generated_tokens += static_cast<uint64_t>(f.result.completion_tokens);
      const Status ws = emit(it->second.slot, result_line(it->second.record, f.result), false);
      if (!ws.ok()) return fatal(ws);
      in_flight.erase(it);
    }
    finished.clear();
    const EngineStats es = engine.stats();
    counters.sampled_tokens = es.generated_tokens;
    counters.steps = es.steps;
    counters.preemptions = es.preemptions;
    progress.update(counters);
  }
  SB_CHECK(!window || window->empty());
  for (OutputSink* s : {&*sink, errors_sink ? &*errors_sink : nullptr}) {
    if (s == nullptr) continue;
    const Status cs = s->close();
    if (!cs.ok()) return fatal(cs);
  }
  progress.finish();
  const double run_s = progress.elapsed_s();
  if (!o.stats_json.empty()) {
    auto js = OutputSink::open(o.stats_json, true);
    Status ws = js.ok() ? js->write_line(stats_json(counters, load_s, run_s)) : js.status();
    if (ws.ok()) ws = js->close();
    if (!ws.ok()) return fatal(ws);
  }
  if (!o.quiet) print_note(summary_line(counters, load_s, run_s));
  return counters.failed == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace sb::cli
