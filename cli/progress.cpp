#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>

#include "formats/json_writer.h"

namespace sb::cli {

namespace {
using Clock = std::chrono::steady_clock;

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string hms(double s) {
  const long t = static_cast<long>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

double ratio(uint64_t a, uint64_t b) { return b > 0 ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

}  // namespace

double prefix_cache_hit_rate(const EngineStats& s) { return ratio(s.cached_prompt_tokens, s.prompt_tokens); }
double draft_acceptance_rate(const EngineStats& s) { return ratio(s.accepted_tokens, s.drafted_tokens); }
double mean_accepted_length(const EngineStats& s) { return ratio(s.accepted_tokens, s.spec_verifications); }
double no_draft_share(const EngineStats& s) {
  return ratio(s.sampled_steps - s.spec_verifications, s.sampled_steps);
}

Progress::Progress(ProgressMode mode, double interval_s)
    : mode_(mode), interval_s_(interval_s), start_(Clock::now()), last_(start_) {}

double Progress::elapsed_s() const { return seconds(Clock::now() - start_); }

std::string Progress::line(const RunCounters& c) const {
  const double t = elapsed_s();
  const uint64_t done = c.ok + c.failed;
  const double tps = t > 0 ? static_cast<double>(c.engine.generated_tokens) / t : 0.0;
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
  if (!c.backend.empty()) line += " on " + c.backend;
  if (c.replicas > 1) line += " (" + std::to_string(c.replicas) + " engine replicas)";
  if (c.ignored_fields > 0) line += ", " + std::to_string(c.ignored_fields) + " unsupported fields ignored";
  const EngineStats& e = c.engine;
  if (e.prompt_tokens > 0) {
    std::snprintf(buf, sizeof(buf), ", prefix cache hit rate %.1f%%", 100.0 * prefix_cache_hit_rate(e));
    line += buf;
  }
  if (e.drafted_tokens > 0) {
    std::snprintf(buf, sizeof(buf),
                  ", %.1f%% of %llu draft tokens accepted, mean accepted length %.2f, "
                  "%.1f%% of record-steps verified no draft",
                  100.0 * draft_acceptance_rate(e), static_cast<unsigned long long>(e.drafted_tokens),
                  mean_accepted_length(e), 100.0 * no_draft_share(e));
    line += buf;
  }
  return line;
}

std::string stats_json(const RunCounters& c, double load_s, double run_s) {
  JsonWriter w;
  w.begin_object();
  if (!c.backend.empty()) w.key("backend").value(c.backend);
  w.key("replicas").value(c.replicas).key("replica_records").begin_array();
  for (uint64_t n : c.replica_records) w.value(n);
  w.end_array();
  w.key("records").value(c.ok + c.failed).key("ok").value(c.ok).key("failed").value(c.failed);
  w.key("prompt_tokens").value(c.prompt_tokens).key("generated_tokens").value(c.generated_tokens);
  w.key("ignored_fields").value(c.ignored_fields);
  w.key("wall_seconds").value(run_s).key("load_seconds").value(load_s);
  w.key("generated_tokens_per_second").value(run_s > 0 ? static_cast<double>(c.generated_tokens) / run_s : 0.0);
  const EngineStats& e = c.engine;
  w.key("engine_steps").value(e.steps).key("preemptions").value(e.preemptions);
  w.key("prefix_cached_tokens").value(e.cached_prompt_tokens);
  w.key("prefix_cache_hit_rate").value(prefix_cache_hit_rate(e));
  w.key("draft_tokens").value(e.drafted_tokens).key("accepted_draft_tokens").value(e.accepted_tokens);
  w.key("draft_acceptance_rate").value(draft_acceptance_rate(e));
  w.key("mean_accepted_length").value(mean_accepted_length(e));
  w.key("record_steps").value(e.sampled_steps).key("record_steps_with_draft").value(e.spec_verifications);
  w.key("no_draft_step_share").value(no_draft_share(e));
  w.key("drafter_steps").value(e.drafter_steps);
  w.end_object();
  return w.take();
}

}  // namespace sb::cli
