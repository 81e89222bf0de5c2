// A set of record indices as sorted, disjoint ranges: a run's records (done in
// input order, or in completion order with gaps that close) cost a few ranges, and
// memory follows the number of gaps, never the largest index, so a hostile
// {"index": 18446744073709551615} costs one range. A set for shard K/N holds only
// indices i with i % N == K and stores i / N, so a shard's records are as compact
// as a whole run's. Used for "already done" on resume and for duplicate / missing
// detection in merge. Also formats index ranges.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sb {

class IndexSet {
 public:
  // Indices i with i % stride == offset (a shard); offset < stride.
  explicit IndexSet(uint64_t stride = 1, uint64_t offset = 0);
  // Whether `index` can be a member (i % stride == offset).
  bool admits(uint64_t index) const { return index % stride_ == offset_; }
  // Returns false when `index` was already present. Requires admits(index).
  bool insert(uint64_t index);
  bool contains(uint64_t index) const;
  // Adds every index of `other` (a set of the same stride and offset).
  void insert_all(const IndexSet& other);
  uint64_t size() const { return n_; }
  // The largest index present, if any.
  std::optional<uint64_t> max() const;
  // Empty, or the first size() admitted indices: what a run in input order leaves.
  bool is_prefix() const { return ranges_.empty() || (ranges_.size() == 1 && ranges_.begin()->first == 0); }
  // Half-open ranges [first, last) of indices in [0, total) that are absent (stride 1 only).
  std::vector<std::pair<uint64_t, uint64_t>> missing_ranges(uint64_t total) const;

 private:
  void insert_range(uint64_t first, uint64_t last);  // closed: [first, last]

  uint64_t stride_;
  uint64_t offset_;
  std::map<uint64_t, uint64_t> ranges_;  // of index / stride: first -> last (closed), disjoint, not adjacent
  uint64_t n_ = 0;
};

// "3, 7-9, 12" for ranges [3,4) [7,10) [12,13); after `max_ranges` ranges: ", ... (N more ranges)".
std::string format_index_ranges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, size_t max_ranges = 50);

}  // namespace sb
