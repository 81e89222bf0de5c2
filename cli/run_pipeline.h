// The record path of `specbatch run` once it is set up (cli/run.cpp), in two
// halves the run loop alternates. Admission reads records lazily, only while an
// engine replica between steps has room in its queue (2 x --max-seqs requests;
// --max-seqs each with several replicas) and the reorder window has room, so
// memory does not grow with the input; each record goes to the replica with the
// shortest queue (per-replica admission: a replica is topped up between its own
// steps, so a slow one holds no waiting records that another could run). It skips records a resumed
// output already holds, and turns each record into n requests (sample k with
// seed + k) on one replica, its output constraint compiled by that engine (once
// per distinct constraint), or an error record in its place; a record whose
// constraint fails it after it started (constraint_dead_end, internal) is an
// error record too. Drain starts a step on every replica with work that is not
// stepping, waits for one step to end and writes each record whose samples have
// all finished: in input order through the window (records keep their input
// index whichever replica ran them), or as they finish (--order completion);
// error records to --errors when given.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/chat.h"
#include "cli/commands.h"
#include "cli/engine_replicas.h"
#include "cli/output_line.h"
#include "cli/progress.h"
#include "cli/reorder_window.h"
#include "cli/run_output.h"
#include "core/engine.h"
#include "formats/jsonl_reader.h"
#include "formats/record.h"
#include "formats/shard.h"

namespace sb::cli {

// What the pipeline works with; the run owns all of it.
struct PipelineParts {
  JsonlReader& reader;
  RunOutput& output;
  EngineReplicas& replicas;
  const ChatPrompter& prompter;
  const OutputLineFormat& lines;
  bool add_bos = true;        // the model's setting: BOS before each prompt
  size_t reorder_window = 0;  // records held to restore input order; 0 = completion order
  std::string backend;        // the replicas' Backend::name()s, for the summary and --stats-json
  Shard shard;                // this run's shard of the input
  std::optional<uint64_t> input_records;  // the input's records, when counted up front (plain files)
};

class RunPipeline {
 public:
  // o: the defaults of record parameters (make_request) and --max-seqs.
  RunPipeline(const RunOptions& o, const PipelineParts& parts);

  // Admission: reads and admits records until every replica between steps has
  // a full queue, the window is full, the input ends, or a pipe has nothing to
  // read while records are in the engines. A damaged input ends admission (input_error()); what came before it
  // still finishes. Errors are the output's, or a resumed output that holds
  // indices the input does not reach (fatal).
  Status admit();
  // Drain: starts a step on each replica with work that is not stepping, waits
  // for one step to end and writes the records it finished. An error is a
  // replica's backend failing: fatal for the run.
  Status drain();
  // A stop signal: no more admission, and the records that have not started are
  // dropped (resume does them) once the steps in progress end; running ones may
  // still finish. Returns how many were dropped.
  size_t stop();
  // After a stop in which nothing was dropped and everything finished: reads on
  // to learn whether the input is done (records only an earlier run did remain).
  void read_rest_after_stop();

  // Nothing left to do: admission is over and no replica has work.
  bool done() const { return input_done_ && !has_work() && !replicas_.busy(); }
  // Records are in the engines (requests added and not yet finished).
  bool has_work() const { return n_requests_ > 0; }
  // Every record of the input was read and finished: the output is complete.
  bool complete() const { return input_error_.ok() && input_read_to_end_ && in_flight_.empty(); }
  // Why the input ended early (ok when it did not): fatal once the rest finished.
  const Status& input_error() const { return input_error_; }
  size_t n_in_flight() const { return in_flight_.size(); }
  // Records still held for ordering behind one that never finished (after a stop).
  bool holds_unwritten() const { return window_ && !window_->empty(); }
  const RunCounters& counters() const { return counters_; }

 private:
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

  // The replica between steps with the shortest queue that has room, if any.
  std::optional<size_t> replica_with_room();
  // One input line -> requests on replica r, or an error record in its slot.
  Status admit_line(const JsonlLine& line, size_t r);
  // Adds the record's n samples to replica r; false (and an error record) when its engine refuses.
  StatusOr<bool> add_samples(size_t r, uint64_t slot, const Record& rec, const GenerationRequest& req, size_t n);
  // Writes the records whose last samples replica r's step finished.
  Status write_finished(size_t r);
  Status record_error(uint64_t slot, const Record& rec, RecordErrorCode code, const std::string& message);
  // A finished line: to the window (input order) or straight out; errors to --errors if given.
  Status emit(uint64_t slot, std::string line, bool is_error);
  GenerationRequest make_request(const Record& r) const;
  // Counts the fields --ignore-unsupported let through; warns once per field name.
  void note_ignored_fields(const Record& rec);
  // The records this run does, estimated from the share of the input's bytes read
  // (compressed bytes for zstd, whose records are not counted up front).
  void estimate_total();

  const RunOptions& o_;
  JsonlReader& reader_;
  RunOutput& output_;
  EngineReplicas& replicas_;
  const ChatPrompter& prompter_;
  const OutputLineFormat& lines_;
  const bool add_bos_;
  const int queue_cap_;  // requests waiting or running per replica: 2 x --max-seqs, or --max-seqs with several
  const Shard shard_;
  const bool counted_;   // the input's records were counted up front
  std::optional<ReorderWindow> window_;
  RecordParser parser_;
  std::set<std::string> warned_fields_;  // --ignore-unsupported: each field is named once on stderr
  JsonlLine line_;
  std::unordered_map<uint64_t, InFlight> in_flight_;  // by record index
  std::vector<std::unordered_map<uint64_t, SampleOf>> sample_of_;  // [replica] by engine request id
  size_t n_requests_ = 0;                  // entries of sample_of_, all replicas
  std::vector<EngineStats> engine_stats_;  // [replica] as of its last step
  std::vector<FinishedRequest> finished_;
  RunCounters counters_;
  uint64_t n_read_ = 0;  // records read by this run (resumed ones not counted)
  bool input_done_ = false;
  bool input_read_to_end_ = false;
  bool dropped_ = false;  // a stop dropped records that had not started
  Status input_error_;
};

}  // namespace sb::cli
