#include "cli/run_output.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <span>

#include "cli/common.h"
#include "formats/fingerprint.h"
#include "formats/json_writer.h"
#include "formats/output_merge.h"
#include "formats/resume_scan.h"
#include "formats/small_file.h"

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
  if (o.repetition_penalty != 1.0) m.set("repetition_penalty", number_text(o.repetition_penalty));
  m.set("seed", std::to_string(o.seed));
  JsonWriter stop;
  stop.begin_array();
  for (const std::string& s : o.stop) stop.value(s);
  stop.end_array();
  m.set("stop", stop.take());
  m.set("ignore_eos", o.ignore_eos ? "true" : "false");
  if (o.logprobs >= 0) m.set("logprobs", std::to_string(o.logprobs));
  if (o.return_token_ids) m.set("return_token_ids", "true");
  if (o.ignore_unsupported) m.set("ignore_unsupported", "true");
  m.set("ctx", std::to_string(o.ctx));
  if (!o.draft.none()) {  // the "spec" field; which draws sampled records take
    m.set("draft", o.draft.text);
    m.set("spec_policy", spec_policy_name(o.spec_policy));
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
  if (!config.errors_path.empty() && config.errors_path == config.path)
    return invalid_argument("--errors " + config.errors_path + " is the output itself; give it a file of its own");
  return ok_status();
}

namespace {

uint64_t file_size(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// The reason a resume is refused, with what to do about it.
Status refuse_resume(const std::string& path, const std::string& why, const std::string& todo) {
  return invalid_argument(path + ": cannot resume: " + why + "; " + todo);
}

}  // namespace

StatusOr<std::unique_ptr<RunOutput>> RunOutput::prepare(const RunOutputConfig& config, Manifest manifest) {
  auto ro = std::unique_ptr<RunOutput>(new RunOutput());
  ro->config_ = config;
  ro->manifest_ = std::move(manifest);
  ro->to_file_ = to_regular_file(config.path);
  SB_RETURN_IF_ERROR(check_config(config));
  if (ro->to_file_) SB_RETURN_IF_ERROR(check_output_directory(config.path, "-o"));
  if (!config.errors_path.empty()) SB_RETURN_IF_ERROR(check_output_directory(config.errors_path, "--errors"));
  // One writer per output: the locks come first, before anything reads or changes the
  // files. A file that is empty and has no manifest (a run that died before its first
  // record) holds nothing and counts as absent.
  const std::string manifest_path = manifest_path_for(config.path);
  bool out_existed = false, errors_existed = false;
  if (ro->to_file_) {
    SB_ASSIGN_OR_RETURN(ro->out_lock_, OutputLock::acquire(config.path));
    out_existed = !ro->out_lock_.created() && (file_size(ro->out_lock_.fd()) > 0 || exists(manifest_path));
  }
  if (!config.errors_path.empty() && !is_special(config.errors_path)) {
    SB_ASSIGN_OR_RETURN(ro->errors_lock_, OutputLock::acquire(config.errors_path));
    errors_existed = !ro->errors_lock_.created() && file_size(ro->errors_lock_.fd()) > 0;
  }
  ro->fresh_ = !config.resume || !out_existed;
  if (!config.resume) {
    if (out_existed && !config.overwrite) return refuse_existing(config.path);
    if (errors_existed && !config.overwrite) return refuse_existing(config.errors_path);
    return ro;
  }
  if (!out_existed) {
    if (errors_existed)
      return invalid_argument(config.errors_path + ": the errors file exists but the output " + config.path +
                              " does not; remove one or the other");
    print_note(config.path + ": nothing written yet; starting it (--resume)");
    return ro;
  }
  if (!exists(manifest_path))
    return refuse_resume(config.path, "its manifest " + manifest_path + " is missing",
                         "the inputs and settings that made it cannot be checked. Use --overwrite to start over, "
                         "or write to a new output");
  auto stored = read_manifest(manifest_path);
  if (!stored.ok())
    return refuse_resume(config.path, "its manifest is damaged (" + stored.status().message() + ")",
                         "the records in it may be intact, but the inputs and settings that made them cannot be "
                         "checked. Restore the manifest, or use --overwrite to start over");
  const std::vector<std::string> diff = manifest_differences(*stored, ro->manifest_);
  if (!diff.empty()) {
    std::string msg = config.path + ": cannot resume: it was made with different inputs or settings (" +
                      manifest_path + "):";
    for (const std::string& d : diff) msg += "\n  " + d;
    msg += "\nrun with the original settings, or write to a new output";
    return invalid_argument(msg);
  }
  if (ro->manifest_.get("input.0.hash") == "stdin")
    print_note("resuming with input from stdin: make sure it is the same input as before (it cannot be checked)");
  ro->done_ = IndexSet(config.shard.count, config.shard.index);
  for (const OutputLock* lock : {&ro->out_lock_, &ro->errors_lock_}) {
    if (lock->fd() < 0) continue;
    const std::string& p = lock == &ro->out_lock_ ? config.path : config.errors_path;
    SB_ASSIGN_OR_RETURN(ResumeScan scan, scan_and_repair_output(lock->fd(), p, config.shard));
    print_note(scan.summary(p));
    if (scan.n_duplicates > 0)
      return refuse_resume(p, std::to_string(scan.n_duplicates) + " records repeat an index written earlier in it "
                              "(were two runs writing it at once?)",
                           "`specbatch merge " + p + " -o NEW` keeps the first line of each index; then resume NEW");
    if (lock == &ro->out_lock_) ro->reorder_ = config.input_order && !(scan.in_order && scan.done.is_prefix());
    ro->done_.insert_all(scan.done);
  }
  return ro;
}

RunOutput::~RunOutput() {
  // A run that ends before its first record leaves nothing behind that would block
  // its retry: no empty output it created or emptied, no manifest of a run that never
  // wrote. Files it found and did not change are kept, and so is a finished run's
  // output however empty its input was.
  if (complete_ || !fresh_) return;
  const auto written = [](const std::unique_ptr<OutputSink>& sink) { return sink != nullptr && sink->records_written() > 0; };
  if (written(out_) || written(errors_)) return;
  if (out_lock_.created() || (opened_ && to_file_)) {
    ::unlink(config_.path.c_str());
    if (wrote_manifest_) ::unlink(manifest_path_for(config_.path).c_str());
  }
  if (errors_lock_.created() || (opened_ && errors_lock_.fd() >= 0)) ::unlink(config_.errors_path.c_str());
}

Status RunOutput::check_indices_below(uint64_t input_records) const {
  const std::optional<uint64_t> max = done_.max();
  if (!max || *max < input_records) return ok_status();
  return corrupt(config_.path + ": holds a record with index " + std::to_string(*max) + ", but the input has only " +
                 std::to_string(input_records) + " records: it was not made from this input; use --overwrite to "
                 "start over, or write to a new output");
}

Status RunOutput::open() {
  opened_ = true;
  OutputSinkOptions options = config_.sink;
  if (to_file_) {
    // A fresh output starts empty (--overwrite, or an empty leftover of a run that never wrote).
    if (fresh_ && ::ftruncate(out_lock_.fd(), 0) != 0) return errno_error("cannot truncate " + config_.path);
    options.compression = compression_for_path(config_.path);
    manifest_.set_info("complete", "false");
    SB_RETURN_IF_ERROR(write_manifest(manifest_path_for(config_.path), manifest_));
    wrote_manifest_ = true;
    if (out_lock_.created()) sync_parent_dir(config_.path);
    out_ = OutputSink::for_fd(out_lock_.fd(), config_.path, options);
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
    if (errors_lock_.fd() < 0) {  // a device or FIFO
      SB_ASSIGN_OR_RETURN(errors_, OutputSink::open_file(config_.errors_path, OpenMode::kAppend, eo));
    } else {
      if (fresh_ && ::ftruncate(errors_lock_.fd(), 0) != 0) return errno_error("cannot truncate " + config_.errors_path);
      if (errors_lock_.created()) sync_parent_dir(config_.errors_path);
      errors_ = OutputSink::for_fd(errors_lock_.fd(), config_.errors_path, eo);
    }
  }
  return ok_status();
}

Status RunOutput::poll(OutputSink::Clock::time_point now) {
  SB_RETURN_IF_ERROR(out_->poll(now));
  if (errors_ != nullptr) SB_RETURN_IF_ERROR(errors_->poll(now));
  return ok_status();
}

// A resumed output whose earlier records had gaps (a merged set of shards, or a run
// in completion order) ends with the new records after them; once every record is
// there, the file is rewritten in index order (bounded memory, through a temporary
// renamed over it), so a finished run's file is in input order however it got there.
Status RunOutput::restore_input_order() {
  SB_ASSIGN_OR_RETURN(MergePlan plan, plan_merge({config_.path}));
  if (plan.all_sorted) return ok_status();
  SB_ASSIGN_OR_RETURN(TempFile tmp, TempFile::create_beside(config_.path));
  OutputSinkOptions options = config_.sink;
  options.compression = compression_for_path(config_.path);
  options.sync = SyncPolicy::kNone;  // synced once by commit()
  std::unique_ptr<OutputSink> sink = OutputSink::for_fd(tmp.fd(), config_.path, options);
  SB_ASSIGN_OR_RETURN(MergeResult merged, merge_outputs({config_.path}, plan, *sink));
  SB_CHECK(merged.n_duplicates == 0);  // refused by prepare(); this run skipped what was done
  SB_RETURN_IF_ERROR(sink->close());
  return tmp.commit();
}

Status RunOutput::close(std::optional<uint64_t> input_records) {
  Status st = out_->close();
  if (errors_ != nullptr) {
    const Status es = errors_->close();
    if (st.ok()) st = es;
  }
  SB_RETURN_IF_ERROR(st);
  if (!input_records) return ok_status();
  complete_ = true;
  if (!to_file_) return ok_status();
  if (reorder_) SB_RETURN_IF_ERROR(restore_input_order());
  manifest_.set_info("complete", "true");
  manifest_.set_info("input_records", std::to_string(*input_records));
  return write_manifest(manifest_path_for(config_.path), manifest_);
}

}  // namespace sb::cli
