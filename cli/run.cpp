// `specbatch run`: records from JSONL inputs -> one JSON output line each.
// First version: a simple loop, one Generator::generate per record (the
// scheduler issue replaces it). Per-record problems become error records.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/backend.h"
#include "core/generate.h"
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

struct RunStats {
  uint64_t ok = 0;
  uint64_t failed = 0;
  uint64_t prompt_tokens = 0;
  uint64_t generated_tokens = 0;
};

std::string summary_line(const RunStats& s, double load_s, double run_s) {
  char buf[512];
  const double tps = run_s > 0 ? static_cast<double>(s.generated_tokens) / run_s : 0.0;
  std::snprintf(buf, sizeof(buf),
                "%llu records (%llu ok, %llu failed), %llu prompt tokens, %llu generated tokens, "
                "%.3f s (+%.3f s loading), %.1f generated tokens/s",
                static_cast<unsigned long long>(s.ok + s.failed), static_cast<unsigned long long>(s.ok),
                static_cast<unsigned long long>(s.failed), static_cast<unsigned long long>(s.prompt_tokens),
                static_cast<unsigned long long>(s.generated_tokens), run_s, load_s, tps);
  return buf;
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
  auto* e = "Engine";
  cmd->add_option("--threads", o.threads, "CPU threads; 0 = all cores")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_option("--device", o.device, "cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str()->group(e);
  cmd->add_option("--ctx", o.ctx, "Context length per record (prompt + generated); 0 = the model's")
      ->check(CLI::NonNegativeNumber)->capture_default_str()->group(e);
  cmd->add_flag("-q,--quiet", o.quiet, "No summary line on stderr")->group(e);
  return cmd;
}

int run_command(const RunOptions& o) {
  const auto t_start = Clock::now();
  const bool to_file = !o.output.empty() && o.output != "-";
  if (to_file && o.output.size() >= 4 && o.output.substr(o.output.size() - 4) == ".zst") {
    print_error(o.output + ": zstd output is not implemented yet; write plain JSONL (or pipe through zstd)");
    return kExitUsage;
  }
  // Fail fast, before loading anything: missing inputs, an output that exists.
  auto reader = JsonlReader::open(o.inputs);
  if (!reader.ok()) {
    print_error(reader.status().message());
    return kExitFatal;
  }
  struct stat st {};
  if (to_file && !o.overwrite && ::stat(o.output.c_str(), &st) == 0) {
    print_error(o.output + ": output file exists; specbatch never overwrites an output silently (pass "
                           "--overwrite to replace it)");
    return kExitFatal;
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
  auto generator = Generator::create(*model, tok, **backend, o.ctx);
  if (!generator.ok()) {
    print_error(generator.status().message());
    return kExitFatal;
  }
  Generator& gen = **generator;

  // Created only now, so a failed load leaves no empty output behind.
  auto sink = OutputSink::open(o.output, o.overwrite);
  if (!sink.ok()) {
    print_error(sink.status().message());
    return kExitFatal;
  }
  const double load_s = seconds_since(t_start);
  const auto t_run = Clock::now();

  RunStats stats;
  RecordParser parser;
  JsonlLine line;
  const bool add_bos = tok.add_bos_default();
  auto fatal = [&](const Status& s) {
    print_error(s.message());
    if (!o.quiet) print_note("stopped: " + summary_line(stats, load_s, seconds_since(t_run)));
    return kExitFatal;
  };
  for (;;) {
    StatusOr<bool> more = (*reader)->next(&line);
    if (!more.ok()) return fatal(more.status());
    if (!*more) break;

    ParsedRecord parsed = parser.parse(line.text, line.index);
    const Record& rec = parsed.record;
    std::optional<RecordError> err = parsed.error;
    GenerationResult result;
    if (!err) {
      GenerationRequest req = make_request(o, rec);
      req.prompt = tok.encode(rec.prompt, add_bos);
      const int n_prompt = static_cast<int>(req.prompt.size());
      if (n_prompt == 0) {
        err = RecordError{RecordErrorCode::kMissingPrompt,
                          "the prompt is empty and the model adds no BOS token to start from"};
      } else if (n_prompt > gen.max_ctx()) {
        err = RecordError{RecordErrorCode::kPromptTooLong,
                          "the prompt has " + std::to_string(n_prompt) + " tokens but the context holds " +
                              std::to_string(gen.max_ctx()) + " (see --ctx)"};
      } else {
        StatusOr<GenerationResult> r = gen.generate(req);
        if (r.ok()) {
          result = std::move(r).value();
        } else if (r.status().code() == StatusCode::kInvalidArgument) {
          err = RecordError{RecordErrorCode::kInvalidParam, r.status().message()};
        } else {
          return fatal(r.status().with_context("record " + std::to_string(rec.index)));
        }
      }
    }
    std::string out;
    if (err) {
      ++stats.failed;
      out = error_line(rec, err->code, err->message);
    } else {
      ++stats.ok;
      stats.prompt_tokens += static_cast<uint64_t>(result.prompt_tokens);
      stats.generated_tokens += static_cast<uint64_t>(result.completion_tokens);
      out = result_line(rec, result);
    }
    const Status ws = sink->write_line(std::move(out));
    if (!ws.ok()) return fatal(ws);
  }
  const Status cs = sink->close();
  if (!cs.ok()) return fatal(cs);
  if (!o.quiet) print_note(summary_line(stats, load_s, seconds_since(t_run)));
  return stats.failed == 0 ? kExitOk : kExitSomeFailed;
}

}  // namespace sb::cli
