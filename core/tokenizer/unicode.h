// UTF-8 helpers shared by the tokenizer and the CLI: validity checks, code point
// decoding that never reads past the end (invalid bytes decode as one byte),
// GPT-2's byte <-> unicode mapping, and ICU-backed Unicode normalisation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sb {

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values > U+10FFFF).
bool utf8_valid(std::string_view s);

// Length of the well-formed UTF-8 sequence starting at s[i]; 0 when the bytes
// there do not start one (a stray continuation, a truncated or invalid sequence).
size_t utf8_sequence_length(std::string_view s, size_t i);

// Byte count of the character at s[i]: its sequence length when well formed,
// otherwise 1 (the bad byte on its own). Always >= 1 for i < s.size().
inline size_t utf8_char_bytes(std::string_view s, size_t i) {
  const size_t n = utf8_sequence_length(s, i);
  return n == 0 ? 1 : n;
}

// Number of bytes at the end of `s` that form an incomplete-but-so-far-valid UTF-8
// sequence (0..3); what a streaming decoder must hold back.
size_t utf8_incomplete_tail(std::string_view s);

// Appends the UTF-8 encoding of code point `cp` (must be <= U+10FFFF).
void utf8_append(std::string& out, uint32_t cp);

// Replaces each ill-formed sequence with U+FFFD (one per maximal bad subpart).
std::string utf8_sanitize(std::string_view s);

// GPT-2's reversible byte <-> printable-unicode mapping used by byte-level BPE.
class ByteUnicodeMap {
 public:
  ByteUnicodeMap();
  // UTF-8 of the code point byte `b` maps to (1 or 2 bytes).
  const std::string& encode(uint8_t b) const { return byte_to_utf8_[b]; }
  // The byte a mapped code point stands for; -1 when cp is not in the mapping.
  int decode(uint32_t cp) const { return cp < cp_to_byte_.size() ? cp_to_byte_[cp] : -1; }

 private:
  std::array<std::string, 256> byte_to_utf8_;
  std::array<int16_t, 324> cp_to_byte_;  // mapped code points are all < 324
};

// Unicode normalisation forms, computed with ICU. Ill-formed UTF-8 runs are kept
// as they are; only well-formed runs are normalised.
enum class NormalForm { kNfc, kNfd, kNfkc, kNfkd };
std::string unicode_normalize(std::string_view s, NormalForm form);
// Unicode lowercase (ICU, root locale), same handling of ill-formed bytes.
std::string unicode_lowercase(std::string_view s);

}  // namespace sb
