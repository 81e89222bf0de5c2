// Progress and the final account of a run on stderr: on a terminal one line
// rewritten in place (records done / total, "~" when estimated, tokens/s, ETA), else a
// plain log line every interval (for Slurm logs); the summary line and the
// --stats-json document carry the same numbers.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sb::cli {

struct RunCounters {
  uint64_t ok = 0;
  uint64_t failed = 0;
  uint64_t prompt_tokens = 0;     // of records written ok
  uint64_t generated_tokens = 0;  // of records written ok
  uint64_t sampled_tokens = 0;    // generated so far, records in flight included
  uint64_t total = 0;             // records this run does: counted up front, estimated, or 0 (unknown)
  bool total_estimated = false;   // total is an estimate from the share of the input read (zstd)
  uint64_t preemptions = 0;
  uint64_t steps = 0;
  uint64_t drafted_tokens = 0;   // speculative draft tokens verified
  uint64_t accepted_tokens = 0;  // of them accepted
  uint64_t sampled_steps = 0;       // record-steps that sampled tokens
  uint64_t spec_verifications = 0;  // of them, those that verified draft tokens
  uint64_t drafter_steps = 0;       // engine steps in which the drafter ran
  uint64_t engine_prompt_tokens = 0;  // prompt tokens of all samples given to the engine
  uint64_t cached_prompt_tokens = 0;  // of them taken from the prefix cache
};

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

// "N records (ok, failed), prompt tokens, generated tokens, wall time, tokens/s",
// the prefix-cache hit rate (prompt tokens reused / prompt tokens), and when
// drafts were verified: the acceptance rate, the mean accepted length (accepted
// draft tokens per record-step that verified any) and the share of record-steps
// that verified none.
std::string summary_line(const RunCounters& c, double load_s, double run_s);
std::string stats_json(const RunCounters& c, double load_s, double run_s);

}  // namespace sb::cli
