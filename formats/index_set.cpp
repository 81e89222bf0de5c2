#include "formats/index_set.h"

#include <algorithm>

namespace sb {

bool IndexSet::insert(uint64_t index) {
  const uint64_t word = index / 64;
  if (word >= words_.size()) words_.resize(std::max<uint64_t>(word + 1, words_.size() * 2), 0);
  const uint64_t bit = uint64_t{1} << (index % 64);
  if (words_[word] & bit) return false;
  words_[word] |= bit;
  ++n_;
  return true;
}

bool IndexSet::contains(uint64_t index) const {
  const uint64_t word = index / 64;
  return word < words_.size() && (words_[word] >> (index % 64) & 1) != 0;
}

void IndexSet::insert_all(const IndexSet& other) {
  if (other.words_.size() > words_.size()) words_.resize(other.words_.size(), 0);
  n_ = 0;
  for (size_t w = 0; w < words_.size(); ++w) {
    if (w < other.words_.size()) words_[w] |= other.words_[w];
    n_ += static_cast<uint64_t>(__builtin_popcountll(words_[w]));
  }
}

std::vector<std::pair<uint64_t, uint64_t>> IndexSet::missing_ranges(uint64_t total) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t i = 0;
  while (i < total) {
    if (contains(i)) {
      ++i;
      continue;
    }
    const uint64_t first = i;
    while (i < total && !contains(i)) ++i;
    out.emplace_back(first, i);
  }
  return out;
}

std::string format_index_ranges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, size_t max_ranges) {
  std::string s;
  for (size_t r = 0; r < ranges.size() && r < max_ranges; ++r) {
    if (r > 0) s += ", ";
    s += std::to_string(ranges[r].first);
    if (ranges[r].second - ranges[r].first > 1) s += "-" + std::to_string(ranges[r].second - 1);
  }
  if (ranges.size() > max_ranges) s += ", ... (" + std::to_string(ranges.size() - max_ranges) + " more ranges)";
  return s;
}

}  // namespace sb
