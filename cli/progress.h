// Progress and the final account of a run on stderr: on a terminal one line
// rewritten in place (records done / total, "~" when estimated, tokens/s, ETA), else a
// plain log line every interval (for Slurm logs); the summary line and the
// --stats-json document carry the same numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/engine.h"

namespace sb::cli {

// The records of a run and, as of the last step, the engine's own counts.
struct RunCounters {
  std::string backend;  // Backend::name(): "cpu-avx512", "cuda:0" ...; the replicas' distinct names, ", " between
  uint64_t replicas = 1;  // engine replicas that ran (--device cuda:0,1, --replicas)
  std::vector<uint64_t> replica_records;  // [replicas] records each one ran to the end (ok or failed there)
  uint64_t ok = 0;
  uint64_t failed = 0;
  uint64_t prompt_tokens = 0;     // of records written ok
  uint64_t generated_tokens = 0;  // of records written ok
  uint64_t ignored_fields = 0;    // refused fields run without (--ignore-unsupported), all records
  uint64_t total = 0;             // records this run does: counted up front, estimated, or 0 (unknown)
  bool total_estimated = false;   // total is an estimate from the share of the input read (zstd)
  EngineStats engine;             // records in flight included
};

// Ratios of the engine's counts (0 when the denominator is 0), as the summary,
// --stats-json and bench report them.
double prefix_cache_hit_rate(const EngineStats& s);  // prompt tokens reused / prompt tokens
double draft_acceptance_rate(const EngineStats& s);  // accepted / drafted tokens
double mean_accepted_length(const EngineStats& s);   // accepted draft tokens per record-step that verified any
double no_draft_share(const EngineStats& s);         // share of record-steps that verified no draft

enum class ProgressMode { kTerminal, kLog, kNone };

class Progress {
 public:
  Progress(ProgressMode mode, double interval_s);
  // Prints when due (terminal: twice a second; log: every interval).
  void update(const RunCounters& c);
  // Clears the terminal line before the summary.
  void finish();
  double elapsed_s() const;

 private:
  std::string line(const RunCounters& c) const;

  ProgressMode mode_;
  double interval_s_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
  bool drawn_ = false;
};

// "N records (ok, failed), prompt tokens, generated tokens, wall time, tokens/s, backend"
// (and the number of engine replicas when several ran), summed over the replicas;
// the prefix-cache hit rate (prompt tokens reused / prompt tokens), and when
// drafts were verified: the acceptance rate, the mean accepted length (accepted
// draft tokens per record-step that verified any) and the share of record-steps
// that verified none; the fields --ignore-unsupported ignored, when any.
std::string summary_line(const RunCounters& c, double load_s, double run_s);
std::string stats_json(const RunCounters& c, double load_s, double run_s);

}  // namespace sb::cli
