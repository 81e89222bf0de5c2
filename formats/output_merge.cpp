#include "formats/output_merge.h"

#include <memory>
#include <queue>

#include "formats/jsonl_reader.h"
#include "formats/resume_scan.h"

namespace sb {
namespace {

constexpr unsigned kBucketShift = 16;                 // buckets of 65536 indices
constexpr uint64_t kPassBytes = uint64_t{256} << 20;  // lines held per pass when inputs are unordered

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
    if (*index > kMaxRecordIndex)
      return corrupt(path + ":" + std::to_string(line.line_no) + ": index " + std::to_string(*index) +
                     " is above any input's record count (2^48); the file is damaged");
    SB_RETURN_IF_ERROR(fn(*index, line.text));
  }
}

// Writes lines in index order, skipping repeats, remembering what it wrote.
class MergedWriter {
 public:
  explicit MergedWriter(OutputSink& sink) : sink_(sink) {}
  Status write(uint64_t index, std::string_view line) {
    if (!result_.seen.insert(index)) {
      ++result_.n_duplicates;
      return ok_status();
    }
    return sink_.write_record(line);
  }
  MergeResult take_result() { return std::move(result_); }

 private:
  OutputSink& sink_;
  MergeResult result_;
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
// Only buckets that hold lines exist in the histogram, so a stray huge index costs one entry.
Status merge_unsorted(const std::vector<std::string>& inputs, const std::map<uint64_t, uint64_t>& bucket_bytes,
                      MergedWriter& out) {
  OutputIndexParser parser;
  auto b = bucket_bytes.begin();
  while (b != bucket_bytes.end()) {
    uint64_t bytes = 0;
    const uint64_t first = b->first;
    uint64_t last = first;  // buckets [first, last] this pass
    for (; b != bucket_bytes.end() && (b->first == first || bytes + b->second <= kPassBytes); ++b) {
      bytes += b->second;
      last = b->first;
    }
    const uint64_t lo = first << kBucketShift, hi_bucket = last;
    std::multimap<uint64_t, std::string> lines;
    for (const std::string& in : inputs) {
      SB_RETURN_IF_ERROR(for_each_line(in, parser, [&](uint64_t index, std::string_view line) {
        if (index >= lo && (index >> kBucketShift) <= hi_bucket) lines.emplace(index, std::string(line));
        return ok_status();
      }));
    }
    for (const auto& [index, line] : lines) SB_RETURN_IF_ERROR(out.write(index, line));
  }
  return ok_status();
}

}  // namespace

StatusOr<MergePlan> plan_merge(const std::vector<std::string>& inputs) {
  MergePlan plan;
  OutputIndexParser parser;
  for (const std::string& in : inputs) {
    std::optional<uint64_t> prev;
    SB_RETURN_IF_ERROR(for_each_line(in, parser, [&](uint64_t index, std::string_view line) {
      if (prev && index < *prev) plan.all_sorted = false;
      prev = index;
      plan.max_index = std::max(plan.max_index.value_or(0), index);
      plan.bucket_bytes[index >> kBucketShift] += line.size() + 1;
      return ok_status();
    }));
  }
  return plan;
}

StatusOr<MergeResult> merge_outputs(const std::vector<std::string>& inputs, const MergePlan& plan, OutputSink& out) {
  MergedWriter writer(out);
  SB_RETURN_IF_ERROR(plan.all_sorted ? merge_sorted(inputs, writer) : merge_unsorted(inputs, plan.bucket_bytes, writer));
  return writer.take_result();
}

}  // namespace sb
