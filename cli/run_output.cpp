#include "cli/run_output.h"

#include <sys/stat.h>
#include <unistd.h>

#include "cli/common.h"
#include "formats/fingerprint.h"
#include "formats/json_writer.h"
#include "formats/resume_scan.h"

namespace sb::cli {
namespace {

bool exists(const std::string& path) { return !path.empty() && ::access(path.c_str(), F_OK) == 0; }

// A device or FIFO (/dev/null, /dev/full, a named pipe): written like stdout, not a
// file that could be overwritten, resumed or given a manifest.
bool is_special(const std::string& path) {
  struct stat st {};
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode);
}

// Not stdout and not a device or FIFO: an output with a manifest, resumable.
bool to_regular_file(const std::string& path) { return !(path.empty() || path == "-" || is_special(path)); }

Status refuse_existing(const std::string& path) {
  return invalid_argument(path + ": output file exists; specbatch never overwrites an output silently (pass "
                                 "--resume to continue it or --overwrite to replace it)");
}

// Shortest text that reads back as the same double ("0.7", not "0.69999999999999996").
std::string number_text(double v) {
  JsonWriter w;
  w.value(v);
  return w.take();
}

}  // namespace

StatusOr<Manifest> run_manifest(const RunOptions& o, const Shard& shard) {
  Manifest m;
  m.set("specbatch_version", SPECBATCH_VERSION);
  SB_RETURN_IF_ERROR(m.add_inputs(o.inputs));
  SB_RETURN_IF_ERROR(m.add_model(o.model));
  m.set("max_tokens", std::to_string(o.max_tokens));
  m.set("n", std::to_string(o.n));
  m.set("temperature", number_text(o.temperature));
  m.set("top_p", number_text(o.top_p));
  m.set("top_k", std::to_string(o.top_k));
  m.set("min_p", number_text(o.min_p));
  m.set("seed", std::to_string(o.seed));
  JsonWriter stop;
  stop.begin_array();
  for (const std::string& s : o.stop) stop.value(s);
  stop.end_array();
  m.set("stop", stop.take());
  m.set("ignore_eos", o.ignore_eos ? "true" : "false");
  if (o.logprobs >= 0) m.set("logprobs", std::to_string(o.logprobs));
  if (o.return_token_ids) m.set("return_token_ids", "true");
  m.set("ctx", std::to_string(o.ctx));
  if (!o.draft.empty()) {  // the "spec" field; which draws sampled records take
    m.set("draft", o.draft);
    m.set("spec_policy", o.spec_policy);
    m.set("spec_max", std::to_string(o.spec_max));
  }
  if (!o.chat_template.empty()) {
    auto fp = fingerprint_path(o.chat_template);
    if (!fp.ok()) return invalid_argument("--chat-template: " + fp.status().message());
    m.set("chat_template.hash", fp->hex());
    m.set_info("chat_template.path", o.chat_template);
  }
  m.set("chat_template_kwargs", o.chat_template_kwargs);
  m.set("output_format", o.output_format);
  m.set("errors_file", o.errors.empty() ? "no" : "yes");
  m.set("shard", shard.to_string());
  return m;
}

Status RunOutput::check_config(const RunOutputConfig& config) {
  if (config.resume && !to_regular_file(config.path))
    return invalid_argument("--resume needs a regular output file (-o FILE); " +
                            (config.path.empty() || config.path == "-" ? std::string("stdout") : config.path) +
                            " cannot be resumed");
  if (config.resume && config.overwrite) return invalid_argument("--resume and --overwrite contradict each other");
  return ok_status();
}

StatusOr<std::unique_ptr<RunOutput>> RunOutput::prepare(const RunOutputConfig& config, Manifest manifest) {
  auto ro = std::unique_ptr<RunOutput>(new RunOutput());
  ro->config_ = config;
  ro->manifest_ = std::move(manifest);
  ro->to_file_ = to_regular_file(config.path);
  SB_RETURN_IF_ERROR(check_config(config));
  if (ro->to_file_) SB_RETURN_IF_ERROR(check_output_directory(config.path, "-o"));
  if (!config.errors_path.empty()) SB_RETURN_IF_ERROR(check_output_directory(config.errors_path, "--errors"));
  if (!ro->to_file_) {
    if (exists(config.errors_path) && !is_special(config.errors_path) && !config.overwrite)
      return refuse_existing(config.errors_path);
    return ro;
  }
  const std::string manifest_path = manifest_path_for(config.path);
  if (!config.resume) {
    for (const std::string& p : {config.path, config.errors_path}) {
      if (exists(p) && !is_special(p) && !config.overwrite) return refuse_existing(p);
    }
    return ro;
  }
  if (!exists(config.path)) {
    if (exists(config.errors_path))
      return invalid_argument(config.errors_path + ": the errors file exists but the output " + config.path +
                              " does not; remove one or the other");
    print_note(config.path + ": does not exist yet; starting it (--resume)");
    return ro;
  }
  if (!exists(manifest_path))
    return invalid_argument(config.path + ": cannot resume: its manifest " + manifest_path +
                            " is missing, so the inputs and settings that made it cannot be checked (use "
                            "--overwrite to start over)");
  SB_ASSIGN_OR_RETURN(Manifest stored, read_manifest(manifest_path));
  const std::vector<std::string> diff = manifest_differences(stored, ro->manifest_);
  if (!diff.empty()) {
    std::string msg = config.path + ": cannot resume: it was made with different inputs or settings (" +
                      manifest_path + "):";
    for (const std::string& d : diff) msg += "\n  " + d;
    msg += "\nrun with the original settings, or write to a new output";
    return invalid_argument(msg);
  }
  if (ro->manifest_.get("input.0.hash") == "stdin")
    print_note("resuming with input from stdin: make sure it is the same input as before (it cannot be checked)");
  for (const std::string& p : {config.path, config.errors_path}) {
    if (!exists(p)) continue;
    SB_ASSIGN_OR_RETURN(ResumeScan scan, scan_and_repair_output(p));
    print_note(scan.summary(p));
    ro->done_.insert_all(scan.done);
  }
  ro->append_ = true;
  return ro;
}

Status RunOutput::open() {
  const auto mode = append_ ? OpenMode::kAppend : config_.overwrite ? OpenMode::kTruncate : OpenMode::kCreateNew;
  OutputSinkOptions options = config_.sink;
  if (to_file_) {
    options.compression = compression_for_path(config_.path);
    manifest_.set_info("complete", "false");
    SB_RETURN_IF_ERROR(write_manifest(manifest_path_for(config_.path), manifest_));
    SB_ASSIGN_OR_RETURN(out_, OutputSink::open_file(config_.path, mode, options));
  } else if (config_.path.empty() || config_.path == "-") {
    options.compression = OutputCompression::kPlain;
    out_ = OutputSink::for_fd(STDOUT_FILENO, "stdout", options);
  } else {
    options.compression = compression_for_path(config_.path);
    SB_ASSIGN_OR_RETURN(out_, OutputSink::open_file(config_.path, OpenMode::kAppend, options));
  }
  if (!config_.errors_path.empty()) {
    OutputSinkOptions eo = config_.sink;
    eo.compression = compression_for_path(config_.errors_path);
    const bool append = is_special(config_.errors_path) || (append_ && exists(config_.errors_path));
    SB_ASSIGN_OR_RETURN(errors_, OutputSink::open_file(config_.errors_path, append ? OpenMode::kAppend : mode, eo));
  }
  return ok_status();
}

Status RunOutput::poll(OutputSink::Clock::time_point now) {
  SB_RETURN_IF_ERROR(out_->poll(now));
  if (errors_ != nullptr) SB_RETURN_IF_ERROR(errors_->poll(now));
  return ok_status();
}

Status RunOutput::close(std::optional<uint64_t> input_records) {
  Status st = out_->close();
  if (errors_ != nullptr) {
    const Status es = errors_->close();
    if (st.ok()) st = es;
  }
  SB_RETURN_IF_ERROR(st);
  if (!to_file_ || !input_records) return ok_status();
  manifest_.set_info("complete", "true");
  manifest_.set_info("input_records", std::to_string(*input_records));
  return write_manifest(manifest_path_for(config_.path), manifest_);
}

}  // namespace sb::cli
