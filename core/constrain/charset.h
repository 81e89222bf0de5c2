// Sets of Unicode scalar values (code points but the surrogates D800-DFFF) as
// sorted, disjoint, non-adjacent ranges: what a regex or grammar character
// class means before it is encoded to bytes (core/constrain/grammar.h).
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace sb::constrain {

constexpr uint32_t kMaxCodePoint = 0x10FFFF;

class CharSet {
 public:
  CharSet() = default;
  static CharSet range(uint32_t lo, uint32_t hi);  // [lo, hi]; surrogates dropped
  static CharSet single(uint32_t c) { return range(c, c); }
  static CharSet any();                           // every scalar value

  void add(uint32_t lo, uint32_t hi);
  void add(const CharSet& other);
  CharSet complement() const;  // within the scalar values
  bool contains(uint32_t c) const;
  bool empty() const { return ranges_.empty(); }
  const std::vector<std::pair<uint32_t, uint32_t>>& ranges() const { return ranges_; }

 private:
  void normalize();
  std::vector<std::pair<uint32_t, uint32_t>> ranges_;
};

// The UTF-8 encodings of the scalar values in [lo, hi] (same encoded length,
// no surrogates) as sequences of byte ranges, one sequence per element: each
// sequence holds one [lo, hi] byte range per encoded byte.
using ByteRangeSeq = std::vector<std::pair<uint8_t, uint8_t>>;
std::vector<ByteRangeSeq> utf8_sequences(const CharSet& set);

// The scalar value of the well-formed UTF-8 sequence at s[*pos] (advancing *pos
// past it); false, *pos unchanged, when none starts there.
bool next_code_point(std::string_view s, size_t* pos, uint32_t* c);

}  // namespace sb::constrain
