// `specbatch merge`: joins shard outputs (plain or zstd, any mix) into one output in
// input order, dropping repeated indices (reported) and listing missing ones (exit 3).
// Memory stays bounded: a first pass validates every line and checks that each input
// is in index order; then a k-way merge holds one line per input. Inputs that are not
// in order (--order completion) are merged in passes over index ranges, each holding at
// most ~256 MiB of lines. The first pass also means a bad input fails before any write.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>
#include <optional>
#include <queue>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/flag_checks.h"
#include "formats/index_set.h"
#include "formats/jsonl_reader.h"
#include "formats/manifest.h"
#include "formats/output_sink.h"
#include "formats/resume_scan.h"

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

constexpr unsigned kBucketShift = 16;                 // histogram buckets of 65536 indices
constexpr uint64_t kPassBytes = uint64_t{256} << 20;  // lines held per pass when inputs are unordered

std::optional<uint64_t> parse_count(const std::string& s) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// What the inputs' manifests say: the total record count and a merged manifest.
struct ManifestSummary {
  std::optional<uint64_t> total;
  std::optional<Manifest> merged;  // the first input's fingerprint, shard 0/1
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
  // Shard outputs that were not given ("1/3" missing among 0/3 and 2/3).
  if (!shards.empty()) {
    const size_t slash = shards[0].find('/');
    const std::string n = slash == std::string::npos ? "1" : shards[0].substr(slash + 1);
    std::string absent;
    for (uint64_t k = 0; k < parse_count(n).value_or(1); ++k) {
      const std::string s = std::to_string(k) + "/" + n;
      if (std::find(shards.begin(), shards.end(), s) == shards.end()) absent += (absent.empty() ? "" : ", ") + s;
    }
    if (!absent.empty()) print_note("no output given for shard(s) " + absent);
  }
  if (first) {
    first->set("shard", "0/1");
    out.merged = std::move(first);
  }
  return out;
}

// Reads every line of one input with its index; `fn(index, line)` returns a Status.
template <typename Fn>
Status for_each_line(const std::string& path, OutputIndexParser& parser, Fn&& fn) {
  SB_ASSIGN_OR_RETURN(std::unique_ptr<JsonlReader> reader, JsonlReader::open({path}));
  JsonlLine line;
  for (;;) {
    StatusOr<bool> more = reader->next(&line);
    if (!more.ok())
      return Status(more.status().code(), more.status().message() +
                                              " (if a run was interrupted, `specbatch run --resume` repairs it)");
    if (!*more) return ok_status();
    const std::optional<uint64_t> index = parser.index_of(line.text);
    if (!index)
      return corrupt(path + ":" + std::to_string(line.line_no) + ": not a specbatch output record (no \"index\")");
    SB_RETURN_IF_ERROR(fn(*index, line.text));
  }
}

// Writes lines in index order, skipping repeats, remembering what it wrote.
class MergedWriter {
 public:
  explicit MergedWriter(OutputSink& sink) : sink_(sink) {}
  Status write(uint64_t index, std::string_view line) {
    if (!seen_.insert(index)) {
      ++n_duplicates_;
      return ok_status();
    }
    return sink_.write_record(line);
  }
  const IndexSet& seen() const { return seen_; }
  uint64_t n_duplicates() const { return n_duplicates_; }

 private:
  OutputSink& sink_;
  IndexSet seen_;
  uint64_t n_duplicates_ = 0;
};

// k-way merge of inputs that are each in index order: one line per input in memory.
Status merge_sorted(const std::vector<std::string>& inputs, MergedWriter& out) {
  struct Cursor {
    std::unique_ptr<JsonlReader> reader;
    JsonlLine line;
    uint64_t index = 0;
  };
  std::vector<Cursor> cursors(inputs.size());
  OutputIndexParser parser;
  auto advance = [&](size_t i) -> StatusOr<bool> {
    SB_ASSIGN_OR_RETURN(bool more, cursors[i].reader->next(&cursors[i].line));
    if (more) cursors[i].index = parser.index_of(cursors[i].line.text).value();  // validated by the first pass
    return more;
  };
  using Item = std::pair<uint64_t, size_t>;  // (index, cursor)
  std::priority_queue<Item, std::vector<Item>, std::greater<Item>> heap;
  for (size_t i = 0; i < inputs.size(); ++i) {
    SB_ASSIGN_OR_RETURN(cursors[i].reader, JsonlReader::open({inputs[i]}));
    SB_ASSIGN_OR_RETURN(bool more, advance(i));
    if (more) heap.emplace(cursors[i].index, i);
  }
  while (!heap.empty()) {
    const size_t i = heap.top().second;
    heap.pop();
    SB_RETURN_IF_ERROR(out.write(cursors[i].index, cursors[i].line.text));
    SB_ASSIGN_OR_RETURN(bool more, advance(i));
    if (more) heap.emplace(cursors[i].index, i);
  }
  return ok_status();
}

// Inputs not in order: passes over index ranges sized by the first pass's histogram.
Status merge_unsorted(const std::vector<std::string>& inputs, const std::vector<uint64_t>& bucket_bytes,
                      MergedWriter& out) {
  OutputIndexParser parser;
  size_t b = 0;
  while (b < bucket_bytes.size()) {
    uint64_t bytes = 0;
    const size_t first = b;
    while (b < bucket_bytes.size() && (b == first || bytes + bucket_bytes[b] <= kPassBytes)) bytes += bucket_bytes[b++];
    const uint64_t lo = uint64_t{first} << kBucketShift, hi = uint64_t{b} << kBucketShift;
    std::multimap<uint64_t, std::string> lines;
    for (const std::string& in : inputs) {
      SB_RETURN_IF_ERROR(for_each_line(in, parser, [&](uint64_t index, std::string_view line) {
        if (index >= lo && index < hi) lines.emplace(index, std::string(line));
        return ok_status();
      }));
    }
    for (const auto& [index, line] : lines) SB_RETURN_IF_ERROR(out.write(index, line));
  }
  return ok_status();
}

// What the first pass learns: each input is a record file; whether each is in
// index order; bytes per index bucket (the passes of an unordered merge).
struct InputScan {
  std::vector<uint64_t> bucket_bytes;
  bool all_sorted = true;
  std::optional<uint64_t> max_index;
};

StatusOr<InputScan> scan_inputs(const std::vector<std::string>& inputs) {
  OutputIndexParser parser;
  InputScan scan;
  for (const std::string& in : inputs) {
    std::optional<uint64_t> prev;
    SB_RETURN_IF_ERROR(for_each_line(in, parser, [&](uint64_t index, std::string_view line) {
      if (prev && index < *prev) scan.all_sorted = false;
      prev = index;
      scan.max_index = std::max(scan.max_index.value_or(0), index);
      const uint64_t bucket = index >> kBucketShift;
      if (bucket >= scan.bucket_bytes.size()) scan.bucket_bytes.resize(bucket + 1, 0);
      scan.bucket_bytes[bucket] += line.size() + 1;
      return ok_status();
    }));
  }
  return scan;
}

struct MergeResult {
  IndexSet seen;
  uint64_t n_duplicates = 0;
};

// Writes the merge to stdout, or to OUTPUT.tmp, synced and renamed into place
// (removed on failure), so a merged file is always whole.
StatusOr<MergeResult> write_merged(const MergeOptions& o, const InputScan& scan, bool to_file) {
  OutputSinkOptions sink_options;
  sink_options.compression = to_file ? compression_for_path(o.output) : OutputCompression::kPlain;
  sink_options.sync = SyncPolicy::kNone;  // the merged file is synced once, before its rename
  const std::string tmp = o.output + ".tmp";
  std::unique_ptr<OutputSink> sink;
  if (to_file) {
    SB_ASSIGN_OR_RETURN(sink, OutputSink::open_file(tmp, OpenMode::kTruncate, sink_options));
  } else {
    sink = OutputSink::for_fd(STDOUT_FILENO, "stdout", sink_options);
  }
  MergedWriter writer(*sink);
  Status st = scan.all_sorted ? merge_sorted(o.inputs, writer) : merge_unsorted(o.inputs, scan.bucket_bytes, writer);
  if (st.ok()) st = sink->close();
  if (st.ok() && to_file) {
    const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      (void)::fsync(fd);
      ::close(fd);
    }
    if (::rename(tmp.c_str(), o.output.c_str()) != 0) st = errno_error("cannot rename " + tmp + " to " + o.output);
  }
  if (!st.ok()) {
    if (to_file) ::unlink(tmp.c_str());
    return st;
  }
  return MergeResult{writer.seen(), writer.n_duplicates()};
}

// Duplicates, missing indices and indices beyond the total on stderr; the
// merged manifest; true when the merge is complete.
StatusOr<bool> report_merge(const MergeOptions& o, const InputScan& scan, const MergeResult& merged,
                            ManifestSummary* manifests, bool to_file) {
  if (merged.n_duplicates > 0)
    print_note("dropped " + std::to_string(merged.n_duplicates) + " duplicate record(s) (an index seen twice)");
  const std::optional<uint64_t> total = o.expect > 0 ? std::optional<uint64_t>(o.expect) : manifests->total;
  if (!total)
    print_note("the total record count is unknown (no finished manifest; see --expect): only gaps below the "
               "largest index are detected");
  const uint64_t check_below = total ? *total : scan.max_index ? *scan.max_index + 1 : 0;
  const auto ranges = merged.seen.missing_ranges(check_below);
  uint64_t missing = 0;
  for (const auto& [a, b] : ranges) missing += b - a;
  if (missing > 0)
    print_error("incomplete: " + std::to_string(missing) + " of " + std::to_string(check_below) +
                " records missing, indices " + format_index_ranges(ranges));
  const bool beyond = total && scan.max_index && *scan.max_index >= *total;
  if (beyond)
    print_error("records with indices up to " + std::to_string(*scan.max_index) + " but only " +
                std::to_string(*total) + " were expected");
  if (to_file && manifests->merged) {
    Manifest& m = *manifests->merged;
    m.set_info("shard_records", std::to_string(merged.seen.size()));
    if (total) m.set_info("input_records", std::to_string(*total));
    SB_RETURN_IF_ERROR(write_manifest(manifest_path_for(o.output), m));
  }
  print_note("merged " + std::to_string(merged.seen.size()) + " records from " + std::to_string(o.inputs.size()) +
             " file(s)" + (to_file ? " into " + o.output : std::string()));
  return missing == 0 && !beyond;
}

// The merge: a bad input fails before anything is written (first pass).
StatusOr<bool> merge(const MergeOptions& o) {
  const bool to_file = !o.output.empty() && o.output != "-";
  if (to_file && !o.overwrite && ::access(o.output.c_str(), F_OK) == 0)
    return invalid_argument(o.output + ": output file exists; pass --overwrite to replace it");
  SB_ASSIGN_OR_RETURN(ManifestSummary manifests, check_manifests(o.inputs));
  SB_ASSIGN_OR_RETURN(const InputScan scan, scan_inputs(o.inputs));
  SB_ASSIGN_OR_RETURN(const MergeResult merged, write_merged(o, scan, to_file));
  return report_merge(o, scan, merged, &manifests, to_file);
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
