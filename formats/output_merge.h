// Joins specbatch output files (plain or zstd, any mix) into one sink in index
// order, one line per index: a repeated index keeps its first line and is counted.
// Memory stays bounded: plan_merge reads every input once (each line must be a
// record; is each input in index order; bytes per index bucket), so a bad input
// fails before anything is written; merge_outputs then holds one line per input
// when every input is in order (k-way merge), else makes passes over index ranges
// holding at most ~256 MiB of lines each. Used by `merge` and to put a resumed
// output back into input order.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "formats/index_set.h"
#include "formats/output_sink.h"

namespace sb {

struct MergePlan {
  bool all_sorted = true;                      // every input is in index order
  std::optional<uint64_t> max_index;           // the largest index seen
  std::map<uint64_t, uint64_t> bucket_bytes;   // bytes of lines per bucket of 65536 indices
};

struct MergeResult {
  IndexSet seen;              // indices written
  uint64_t n_duplicates = 0;  // lines dropped because their index was already written
};

StatusOr<MergePlan> plan_merge(const std::vector<std::string>& inputs);
StatusOr<MergeResult> merge_outputs(const std::vector<std::string>& inputs, const MergePlan& plan, OutputSink& out);

}  // namespace sb
