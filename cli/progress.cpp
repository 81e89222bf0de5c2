#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include "formats/json_writer.h"

namespace sb::cli {

namespace {
using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double prefix_cache_hit_rate(const RunCounters& c) {
  return c.engine_prompt_tokens > 0
             ? static_cast<double>(c.cached_prompt_tokens) / static_cast<double>(c.engine_prompt_tokens)
             : 0.0;
}

std::string hms(double s) {
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

double mean_accepted_length(const RunCounters& c) {
  return c.spec_verifications > 0 ? static_cast<double>(c.accepted_tokens) / static_cast<double>(c.spec_verifications)
                                  : 0.0;
}
double no_draft_share(const RunCounters& c) {
  return c.sampled_steps > 0
             ? static_cast<double>(c.sampled_steps - c.spec_verifications) / static_cast<double>(c.sampled_steps)
             : 0.0;
}
}  // namespace

Progress::Progress(ProgressMode mode, double interval_s)
    : mode_(mode), interval_s_(interval_s), start_(Clock::now()), last_(start_) {}

double Progress::elapsed_s() const { return seconds(Clock::now() - start_); }

std::string Progress::line(const RunCounters& c) const {
  const double t = elapsed_s();
  const uint64_t done = c.ok + c.failed;
  const double tps = t > 0 ? static_cast<double>(c.sampled_tokens) / t : 0.0;
  char buf[256];
  int n = std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(done));
  if (c.total > 0)
    n += std::snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), "/%s%llu", c.total_estimated ? "~" : "",
                       static_cast<unsigned long long>(c.total));
  n += std::snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n),
                     " records (%llu failed), %.1f tokens/s, elapsed %s",
                     static_cast<unsigned long long>(c.failed), tps, hms(t).c_str());
  if (c.total > 0 && done > 0 && done < c.total)
    std::snprintf(buf + n, sizeof(buf) - static_cast<size_t>(n), ", ETA %s",
                  hms(t / static_cast<double>(done) * static_cast<double>(c.total - done)).c_str());
  return buf;
}

void Progress::update(const RunCounters& c) {
  if (mode_ == ProgressMode::kNone) return;
  const auto now = Clock::now();
  const double due = mode_ == ProgressMode::kTerminal ? 0.5 : interval_s_;
  if (seconds(now - last_) < due) return;
  last_ = now;
  if (mode_ == ProgressMode::kTerminal) {
    std::fprintf(stderr, "\r\033[Kspecbatch: %s", line(c).c_str());
    drawn_ = true;
  } else {
    std::fprintf(stderr, "specbatch: progress: %s\n", line(c).c_str());
  }
  std::fflush(stderr);
}

void Progress::finish() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
  drawn_ = false;
}

std::string summary_line(const RunCounters& c, double load_s, double run_s) {
  char buf[512];
  const double tps = run_s > 0 ? static_cast<double>(c.generated_tokens) / run_s : 0.0;
  std::snprintf(buf, sizeof(buf),
                "%llu records (%llu ok, %llu failed), %llu prompt tokens, %llu generated tokens, "
                "%.2f s (+%.2f s loading), %.1f generated tokens/s",
                static_cast<unsigned long long>(c.ok + c.failed), static_cast<unsigned long long>(c.ok),
                static_cast<unsigned long long>(c.failed), static_cast<unsigned long long>(c.prompt_tokens),
                static_cast<unsigned long long>(c.generated_tokens), run_s, load_s, tps);
  std::string line = buf;
  if (c.engine_prompt_tokens > 0) {
    std::snprintf(buf, sizeof(buf), ", prefix cache hit rate %.1f%%", 100.0 * prefix_cache_hit_rate(c));
    line += buf;
  }
  if (c.drafted_tokens > 0) {
    std::snprintf(buf, sizeof(buf),
                  ", %.1f%% of %llu draft tokens accepted, mean accepted length %.2f, "
                  "%.1f%% of record-steps verified no draft",
                  100.0 * static_cast<double>(c.accepted_tokens) / static_cast<double>(c.drafted_tokens),
                  static_cast<unsigned long long>(c.drafted_tokens), mean_accepted_length(c),
                  100.0 * no_draft_share(c));
    line += buf;
  }
  return line;
}

std::string stats_json(const RunCounters& c, double load_s, double run_s) {
  JsonWriter w;
  w.begin_object();
  w.key("records").value(c.ok + c.failed).key("ok").value(c.ok).key("failed").value(c.failed);
  w.key("prompt_tokens").value(c.prompt_tokens).key("generated_tokens").value(c.generated_tokens);
  w.key("wall_seconds").value(run_s).key("load_seconds").value(load_s);
  w.key("generated_tokens_per_second").value(run_s > 0 ? static_cast<double>(c.generated_tokens) / run_s : 0.0);
  w.key("engine_steps").value(c.steps).key("preemptions").value(c.preemptions);
  w.key("prefix_cached_tokens").value(c.cached_prompt_tokens);
  w.key("prefix_cache_hit_rate").value(prefix_cache_hit_rate(c));
  w.key("draft_tokens").value(c.drafted_tokens).key("accepted_draft_tokens").value(c.accepted_tokens);
  w.key("draft_acceptance_rate")
      .value(c.drafted_tokens > 0 ? static_cast<double>(c.accepted_tokens) / static_cast<double>(c.drafted_tokens) : 0.0);
  w.key("mean_accepted_length").value(mean_accepted_length(c));
  w.key("record_steps").value(c.sampled_steps).key("record_steps_with_draft").value(c.spec_verifications);
  w.key("no_draft_step_share").value(no_draft_share(c));
  w.key("drafter_steps").value(c.drafter_steps);
  w.end_object();
  return w.take();
}

}  // namespace sb::cli
