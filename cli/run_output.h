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
#include "formats/output_lock.h"
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
  bool input_order = true;  // --order input: a resumed file is put back into index order at the end
  Shard shard;              // the run's shard: resumed records of another shard are corruption
  OutputSinkOptions sink;   // compression is set from each path's name
};

class RunOutput {
 public:
  // What the command line alone can get wrong (invalid_argument, a usage error):
  // --resume without a regular output file, --resume with --overwrite, --errors
  // naming the output itself.
  static Status check_config(const RunOutputConfig& config);
  // Refuses what check_config refuses and an output directory that cannot be
  // written (checked before the model loads). Locks the output and errors files
  // (refused at once when another run holds them; created when missing). Refuses
  // an existing output without resume/overwrite. With resume: compares `manifest`
  // with the stored one (listing every difference), cuts damaged tails of the
  // output and the errors file, refuses a file with repeated indices, and notes
  // what it kept and cut on stderr. Changes nothing else.
  static StatusOr<std::unique_ptr<RunOutput>> prepare(const RunOutputConfig& config, Manifest manifest);
  // Unless the run completed: when no record was written, removes the files this run
  // created or was to replace (and their manifest), so a run that fails or stops
  // before its first record leaves nothing that blocks its retry. Releases the locks.
  ~RunOutput();

  // Empties a replaced output, writes the manifest and opens the sinks.
  Status open();
  // A resumed output holding an index the input does not reach is not this input's.
  Status check_indices_below(uint64_t input_records) const;

  OutputSink& out() { return *out_; }
  OutputSink* errors() { return errors_.get(); }  // null without --errors
  // Records already in the output (or the errors file) when resuming.
  const IndexSet& done() const { return done_; }
  // Flush points due by time, for both sinks.
  Status poll(OutputSink::Clock::time_point now);
  // Flushes and closes the sinks; with `input_records` (the input was read to its
  // end and every record of this shard is in the output) puts a resumed file back
  // into input order when needed and marks the manifest complete.
  Status close(std::optional<uint64_t> input_records);

 private:
  Status restore_input_order();

  RunOutputConfig config_;
  Manifest manifest_;
  bool to_file_ = false;         // a regular file: lock, manifest, resume
  bool fresh_ = true;            // starts empty: new, replaced, or resumed before it had anything
  bool reorder_ = false;         // resumed with gaps: rewrite in index order when complete
  bool opened_ = false;          // open() ran: a fresh file was emptied
  bool wrote_manifest_ = false;
  bool complete_ = false;        // closed with every record of the input
  IndexSet done_;
  OutputLock out_lock_;          // held from prepare() to destruction
  OutputLock errors_lock_;
  std::unique_ptr<OutputSink> out_;
  std::unique_ptr<OutputSink> errors_;
};

}  // namespace sb::cli
