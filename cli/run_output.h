// The output side of `specbatch run`: decides between a new output, --overwrite and
// --resume; on resume repairs the file's tail (resume_scan), checks the manifest and
// collects the indices already done. prepare() creates nothing, so a bad model or
// setting leaves no empty file behind; open() creates the sinks and the manifest.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "core/base/status.h"
#include "formats/index_set.h"
#include "formats/manifest.h"
#include "formats/output_sink.h"
#include "formats/shard.h"

namespace sb::cli {

// The manifest of a run: input and model fingerprints and every setting that
// changes output lines (a new such flag adds its key here). An unreadable
// --chat-template is an invalid_argument (a usage error); other failures are I/O.
StatusOr<Manifest> run_manifest(const RunOptions& o, const Shard& shard);

struct RunOutputConfig {
  std::string path;         // "" or "-" = stdout; stdout, devices, FIFOs: no resume, no manifest
  std::string errors_path;  // --errors FILE, or ""
  bool resume = false;      // continue an existing output (a missing one is started)
  bool overwrite = false;   // replace an existing output
  OutputSinkOptions sink;   // compression is set from each path's name
};

class RunOutput {
 public:
  // What the command line alone can get wrong (invalid_argument, a usage error):
  // --resume without a regular output file, --resume with --overwrite.
  static Status check_config(const RunOutputConfig& config);
  // Refuses what check_config refuses, an output directory that cannot be written
  // (checked before the model loads), an existing output without resume/overwrite.
  // With resume: compares
  // `manifest` with the stored one (listing every difference), cuts damaged tails of
  // the output and the errors file, and notes what it kept and cut on stderr.
  static StatusOr<std::unique_ptr<RunOutput>> prepare(const RunOutputConfig& config, Manifest manifest);

  // Opens (creates, truncates or appends to) the sinks and writes the manifest.
  Status open();

  OutputSink& out() { return *out_; }
  OutputSink* errors() { return errors_.get(); }  // null without --errors
  // Records already in the output (or the errors file) when resuming.
  const IndexSet& done() const { return done_; }
  // Flush points due by time, for both sinks.
  Status poll(OutputSink::Clock::time_point now);
  // Flushes and closes the sinks; with `input_records` (the input was read to its
  // end and every record of this shard is in the output) marks the manifest complete.
  Status close(std::optional<uint64_t> input_records);

 private:
  RunOutputConfig config_;
  Manifest manifest_;
  bool to_file_ = false;    // a regular file: manifest, resume
  bool append_ = false;  // resuming a file that exists
  IndexSet done_;
  std::unique_ptr<OutputSink> out_;
  std::unique_ptr<OutputSink> errors_;
};

}  // namespace sb::cli
