// A set of record indices as a growable bitmap (1 bit per index up to the largest
// seen: a million records cost 128 KiB). Used for "already done" on resume and for
// duplicate / missing detection in merge. Also formats index ranges compactly.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sb {

class IndexSet {
 public:
  // Returns false when `index` was already present.
  bool insert(uint64_t index);
  bool contains(uint64_t index) const;
  // Adds every index of `other`.
  void insert_all(const IndexSet& other);
  uint64_t size() const { return n_; }
  // Half-open ranges [first, last) of indices in [0, total) that are absent.
  std::vector<std::pair<uint64_t, uint64_t>> missing_ranges(uint64_t total) const;

 private:
  std::vector<uint64_t> words_;
  uint64_t n_ = 0;
};

// "3, 7-9, 12" for ranges [3,4) [7,10) [12,13); after `max_ranges` ranges: ", ... (N more ranges)".
std::string format_index_ranges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, size_t max_ranges = 50);

}  // namespace sb
