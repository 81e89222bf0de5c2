#include "formats/index_set.h"

#include <algorithm>
#include <iterator>

#include "core/base/status.h"

namespace sb {

IndexSet::IndexSet(uint64_t stride, uint64_t offset) : stride_(stride), offset_(offset) {
  SB_CHECK(stride > 0 && offset < stride);
}

// Closed ranges keep UINT64_MAX representable; "adjacent" is written as last + 1 == first
// only where last < first, so nothing wraps.
void IndexSet::insert_range(uint64_t first, uint64_t last) {
  auto it = ranges_.upper_bound(first);
  if (it != ranges_.begin()) {
    const auto prev = std::prev(it);
    if (prev->second >= first || prev->second + 1 == first) it = prev;
  }
  uint64_t lo = first, hi = last;
  while (it != ranges_.end() && (it->first <= hi || it->first - 1 == hi)) {
    lo = std::min(lo, it->first);
    hi = std::max(hi, it->second);
    n_ -= it->second - it->first + 1;
    it = ranges_.erase(it);
  }
  ranges_.emplace_hint(it, lo, hi);
  n_ += hi - lo + 1;
}

bool IndexSet::insert(uint64_t index) {
  SB_CHECK(admits(index));
  if (contains(index)) return false;
  const uint64_t pos = index / stride_;
  insert_range(pos, pos);
  return true;
}

bool IndexSet::contains(uint64_t index) const {
  if (!admits(index)) return false;
  const uint64_t pos = index / stride_;
  const auto it = ranges_.upper_bound(pos);
  return it != ranges_.begin() && std::prev(it)->second >= pos;
}

void IndexSet::insert_all(const IndexSet& other) {
  SB_CHECK(other.stride_ == stride_ && other.offset_ == offset_);
  for (const auto& [first, last] : other.ranges_) insert_range(first, last);
}

std::optional<uint64_t> IndexSet::max() const {
  if (ranges_.empty()) return std::nullopt;
  return ranges_.rbegin()->second * stride_ + offset_;
}

std::vector<std::pair<uint64_t, uint64_t>> IndexSet::missing_ranges(uint64_t total) const {
  SB_CHECK(stride_ == 1);
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t next = 0;  // the first index not yet accounted for
  for (const auto& [first, last] : ranges_) {
    if (first >= total) break;
    if (first > next) out.emplace_back(next, first);
    if (last >= total - 1) return out;  // covers the rest (and keeps last + 1 from wrapping)
    next = last + 1;
  }
  if (next < total) out.emplace_back(next, total);
  return out;
}

std::string format_index_ranges(const std::vector<std::pair<uint64_t, uint64_t>>& ranges, size_t max_ranges) {
  std::string s;
  for (size_t r = 0; r < ranges.size() && r < max_ranges; ++r) {
    if (r > 0) s += ", ";
    s += std::to_string(ranges[r].first);
    if (ranges[r].second - ranges[r].first > 1) {
      s += '-';  // appended apart: GCC 12's -Wrestrict misfires on "-" + std::string
      s += std::to_string(ranges[r].second - 1);
    }
  }
  if (ranges.size() > max_ranges) s += ", ... (" + std::to_string(ranges.size() - max_ranges) + " more ranges)";
  return s;
}

}  // namespace sb
