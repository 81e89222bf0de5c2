// `specbatch merge`: joins shard outputs (plain or zstd, any mix) into one output in
// input order (formats/output_merge.h), dropping repeated indices (reported) and
// listing missing ones (exit 3). The merged file is written to a unique temporary
// and renamed into place; its manifest says complete only when nothing is missing.
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <optional>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/flag_checks.h"
#include "formats/index_set.h"
#include "formats/manifest.h"
#include "formats/output_lock.h"
#include "formats/output_merge.h"
#include "formats/output_sink.h"
#include "formats/small_file.h"

namespace sb::cli {

CLI::App* add_merge_command(CLI::App& app, MergeOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "merge", "Join shard outputs (plain or .zst) into input order; report duplicates and missing indices");
  cmd->add_option("inputs", o.inputs, "Shard output files, in any order")->required()->type_name("OUT");
  cmd->add_option("-o,--output", o.output, "Merged output (default: stdout; a .zst name writes zstd)")
      ->type_name("MERGED");
  cmd->add_option("--expect", o.expect,
                  "Total number of records, to find missing ones at the end; default: from the inputs' manifests")
      ->check(non_negative());
  cmd->add_flag("--overwrite", o.overwrite, "Replace an existing merged output");
  return cmd;
}

namespace {

std::optional<uint64_t> parse_count(const std::string& s) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// What the inputs' manifests say: the total record count and a merged manifest.
struct ManifestSummary {
  std::optional<uint64_t> total;
  std::optional<Manifest> merged;  // the first input's fingerprint; its shard if all inputs share one, else 0/1
};

StatusOr<ManifestSummary> check_manifests(const std::vector<std::string>& inputs) {
  ManifestSummary out;
  std::optional<Manifest> first;
  std::string first_name;
  std::vector<std::string> shards;
  for (const std::string& in : inputs) {
    const std::string path = manifest_path_for(in);
    if (::access(path.c_str(), F_OK) != 0) {
      print_note(in + ": no manifest (" + path + "); its inputs and settings cannot be checked");
      continue;
    }
    SB_ASSIGN_OR_RETURN(Manifest m, read_manifest(path));
    if (const auto n = m.get_info("input_records")) {
      const std::optional<uint64_t> count = parse_count(*n);
      if (!count) return corrupt(path + ": input_records is not a number");
      const uint64_t total = *count;
      if (out.total && *out.total != total)
        return invalid_argument(in + ": its manifest counts " + std::to_string(total) + " input records, " +
                                first_name + "'s " + std::to_string(*out.total) + "; these are not shards of one run");
      out.total = total;
    } else {
      print_note(in + ": its run has not finished (the manifest has no record count)");
    }
    if (const auto s = m.get("shard")) shards.push_back(*s);
    if (!first) {
      first = m;
      first_name = in;
      continue;
    }
    const std::vector<std::string> diff = manifest_differences(*first, m, {"shard"});
    if (!diff.empty()) {
      std::string msg = first_name + " and " + in + " were made with different inputs or settings:";
      for (const std::string& d : diff) msg += "\n  " + d;
      return invalid_argument(msg);
    }
  }
  // Shard outputs that were not given ("1/3" missing among 0/3 and 2/3); the count
  // comes from a file, so only a short list is spelled out.
  if (!shards.empty()) {
    const size_t slash = shards[0].find('/');
    const uint64_t n = parse_count(slash == std::string::npos ? "1" : shards[0].substr(slash + 1)).value_or(1);
    std::string absent;
    uint64_t n_absent = 0;
    for (uint64_t k = 0; k < n && n_absent <= 20; ++k) {
      const std::string s = std::to_string(k) + "/" + std::to_string(n);
      if (std::find(shards.begin(), shards.end(), s) != shards.end()) continue;
      if (++n_absent <= 20) absent += (absent.empty() ? "" : ", ") + s;
    }
    if (n_absent > 20) absent += ", ...";
    if (!absent.empty()) print_note("no output given for shard(s) " + absent);
  }
  if (first) {
    const bool one_shard = !shards.empty() && std::count(shards.begin(), shards.end(), shards[0]) ==
                                                  static_cast<std::ptrdiff_t>(inputs.size());
    if (!one_shard) first->set("shard", "0/1");  // a single shard's file stays resumable as that shard
    out.merged = std::move(first);
  }
  return out;
}

// The merged lines to stdout, or to a unique temporary beside OUTPUT, synced
// and renamed into place (removed on failure), so a merged file is always whole.
StatusOr<MergeResult> write_merged(const MergeOptions& o, const MergePlan& plan, bool to_file) {
  OutputSinkOptions sink_options;
  sink_options.compression = to_file ? compression_for_path(o.output) : OutputCompression::kPlain;
  sink_options.sync = SyncPolicy::kNone;  // the merged file is synced once, before its rename
  TempFile tmp;
  if (to_file) {
    SB_ASSIGN_OR_RETURN(tmp, TempFile::create_beside(o.output));
  }
  std::unique_ptr<OutputSink> sink = to_file ? OutputSink::for_fd(tmp.fd(), o.output, sink_options)
                                             : OutputSink::for_fd(STDOUT_FILENO, "stdout", sink_options);
  SB_ASSIGN_OR_RETURN(MergeResult merged, merge_outputs(o.inputs, plan, *sink));
  SB_RETURN_IF_ERROR(sink->close());
  if (to_file) SB_RETURN_IF_ERROR(tmp.commit());
  return merged;
}

// Duplicates, missing indices and indices beyond the total on stderr; the
// merged manifest (complete only when nothing is missing); true when complete.
StatusOr<bool> report_merge(const MergeOptions& o, const MergePlan& plan, const MergeResult& merged,
                            ManifestSummary* manifests, bool to_file) {
  const IndexSet& seen = merged.seen;
  if (merged.n_duplicates > 0)
    print_note("dropped " + std::to_string(merged.n_duplicates) + " duplicate record(s) (an index seen twice)");
  const std::optional<uint64_t> total = o.expect > 0 ? std::optional<uint64_t>(o.expect) : manifests->total;
  if (!total)
    print_note("the total record count is unknown (no finished manifest; see --expect): only gaps below the "
               "largest index are detected");
  const std::optional<uint64_t> max_index = plan.max_index;
  const uint64_t check_below = total ? *total : max_index ? *max_index + 1 : 0;  // indices are < 2^48
  const auto ranges = seen.missing_ranges(check_below);
  uint64_t missing = 0;
  for (const auto& [a, b] : ranges) missing += b - a;
  if (missing > 0)
    print_error("incomplete: " + std::to_string(missing) + " of " + std::to_string(check_below) +
                " records missing, indices " + format_index_ranges(ranges));
  const bool beyond = total && max_index && *max_index >= *total;
  if (beyond)
    print_error("records with indices up to " + std::to_string(*max_index) + " but only " + std::to_string(*total) +
                " were expected");
  const bool complete = total && missing == 0 && !beyond;
  if (to_file && !manifests->merged) ::unlink(manifest_path_for(o.output).c_str());  // a replaced file's, now stale
  if (to_file && manifests->merged) {
    Manifest& m = *manifests->merged;
    m.set_info("shard_records", std::to_string(seen.size()));
    if (total) m.set_info("input_records", std::to_string(*total));
    // An incomplete set is resumable (`run --resume` fills the gaps), never marked complete.
    m.set_info("complete", complete ? "true" : "false");
    SB_RETURN_IF_ERROR(write_manifest(manifest_path_for(o.output), m));
  }
  print_note("merged " + std::to_string(seen.size()) + " records from " + std::to_string(o.inputs.size()) +
             " file(s)" + (to_file ? " into " + o.output : std::string()));
  return missing == 0 && !beyond;
}

// The merge: every input is read once (plan_merge) before anything is written,
// so a bad input fails first.
StatusOr<bool> merge(const MergeOptions& o) {
  const bool to_file = !o.output.empty() && o.output != "-";
  if (to_file && !o.overwrite && ::access(o.output.c_str(), F_OK) == 0)
    return invalid_argument(o.output + ": output file exists; pass --overwrite to replace it");
  SB_ASSIGN_OR_RETURN(ManifestSummary manifests, check_manifests(o.inputs));
  SB_ASSIGN_OR_RETURN(const MergePlan plan, plan_merge(o.inputs));
  // One writer per output: a run or merge writing an existing OUTPUT keeps it
  // locked, and this merge holds the lock until its manifest is written.
  std::optional<OutputLock> lock;
  if (to_file && ::access(o.output.c_str(), F_OK) == 0) {
    SB_ASSIGN_OR_RETURN(lock, OutputLock::acquire(o.output));
  }
  SB_ASSIGN_OR_RETURN(const MergeResult merged, write_merged(o, plan, to_file));
  return report_merge(o, plan, merged, &manifests, to_file);
}

}  // namespace

int merge_command(const MergeOptions& o) {
  const StatusOr<bool> complete = merge(o);
  if (!complete.ok()) {
    print_error(complete.status().message());
    return kExitFatal;
  }
  return *complete ? kExitOk : kExitSomeFailed;
}

}  // namespace sb::cli
