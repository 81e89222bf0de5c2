#include "core/constrain/charset.h"

#include <algorithm>

#include "core/tokenizer/unicode.h"

namespace sb::constrain {

namespace {
constexpr uint32_t kSurrogateLo = 0xD800, kSurrogateHi = 0xDFFF;

// Bytes of the encoding of c, most significant first.
void encode(uint32_t c, int n, uint8_t* b) {
  static constexpr uint8_t kLead[5] = {0, 0x00, 0xC0, 0xE0, 0xF0};
  for (int i = n - 1; i > 0; --i) {
    b[i] = static_cast<uint8_t>(0x80 | (c & 0x3F));
    c >>= 6;
  }
  b[0] = static_cast<uint8_t>(kLead[n] | c);
}

// [lo, hi] of one encoded length as byte-range sequences: split until the two
// ends differ only in a suffix whose bytes span their whole continuation range,
// so every byte position is an independent range (Russ Cox's utf8 ranges).
void split_same_length(uint32_t lo, uint32_t hi, int n, std::vector<ByteRangeSeq>* out) {
  for (int i = 1; i < n; ++i) {
    const uint32_t m = (uint32_t{1} << (6 * i)) - 1;
    if ((lo & ~m) != (hi & ~m)) {
      if ((lo & m) != 0) {
        split_same_length(lo, lo | m, n, out);
        split_same_length((lo | m) + 1, hi, n, out);
        return;
      }
      if ((hi & m) != m) {
        split_same_length(lo, (hi & ~m) - 1, n, out);
        split_same_length(hi & ~m, hi, n, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  encode(lo, n, a);
  encode(hi, n, b);
  ByteRangeSeq seq;
  for (int i = 0; i < n; ++i) seq.emplace_back(a[i], b[i]);
  out->push_back(std::move(seq));
}
}  // namespace

CharSet CharSet::range(uint32_t lo, uint32_t hi) {
  CharSet s;
  s.add(lo, hi);
  return s;
}

CharSet CharSet::any() { return range(0, kMaxCodePoint); }

void CharSet::add(uint32_t lo, uint32_t hi) {
  hi = std::min(hi, kMaxCodePoint);
  if (lo > hi) return;
  if (lo < kSurrogateLo && hi > kSurrogateHi) {
    ranges_.emplace_back(lo, kSurrogateLo - 1);
    ranges_.emplace_back(kSurrogateHi + 1, hi);
  } else if (lo >= kSurrogateLo && hi <= kSurrogateHi) {
    return;
  } else if (lo >= kSurrogateLo && lo <= kSurrogateHi) {
    ranges_.emplace_back(kSurrogateHi + 1, hi);
  } else if (hi >= kSurrogateLo && hi <= kSurrogateHi) {
    ranges_.emplace_back(lo, kSurrogateLo - 1);
  } else {
    ranges_.emplace_back(lo, hi);
  }
  normalize();
}

void CharSet::add(const CharSet& other) {
  ranges_.insert(ranges_.end(), other.ranges_.begin(), other.ranges_.end());
  normalize();
}

void CharSet::normalize() {
  std::sort(ranges_.begin(), ranges_.end());
  size_t n = 0;
  for (const auto& r : ranges_) {
    if (n > 0 && r.first <= ranges_[n - 1].second + 1) {
      ranges_[n - 1].second = std::max(ranges_[n - 1].second, r.second);
    } else {
      ranges_[n++] = r;
    }
  }
  ranges_.resize(n);
}

CharSet CharSet::complement() const {
  CharSet out;
  uint32_t next = 0;
  for (const auto& [lo, hi] : ranges_) {
    if (lo > next) out.add(next, lo - 1);
    next = hi + 1;
  }
  if (next <= kMaxCodePoint) out.add(next, kMaxCodePoint);
  return out;
}

bool CharSet::contains(uint32_t c) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), std::make_pair(c, kMaxCodePoint + 1));
  return it != ranges_.begin() && std::prev(it)->second >= c;
}

std::vector<ByteRangeSeq> utf8_sequences(const CharSet& set) {
  static constexpr uint32_t kLengthEnd[4] = {0x7F, 0x7FF, 0xFFFF, kMaxCodePoint};
  std::vector<ByteRangeSeq> out;
  for (auto [lo, hi] : set.ranges()) {
    for (int n = 1; n <= 4 && lo <= hi; ++n) {
      if (lo > kLengthEnd[n - 1]) continue;
      const uint32_t end = std::min(hi, kLengthEnd[n - 1]);
      split_same_length(lo, end, n, &out);
      lo = end + 1;
    }
  }
  return out;
}

bool next_code_point(std::string_view s, size_t* pos, uint32_t* c) {
  const size_t n = utf8_sequence_length(s, *pos);
  if (n == 0) return false;
  static constexpr uint8_t kLeadMask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t v = static_cast<uint8_t>(s[*pos]) & kLeadMask[n];
  for (size_t i = 1; i < n; ++i) v = (v << 6) | (static_cast<uint8_t>(s[*pos + i]) & 0x3F);
  *c = v;
  *pos += n;
  return true;
}

}  // namespace sb::constrain
