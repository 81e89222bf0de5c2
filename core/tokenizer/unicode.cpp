// UTF-8 helpers and ICU-backed normalisation (see unicode.h).
#include "core/tokenizer/unicode.h"

#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

namespace sb {
namespace {

bool is_cont(uint8_t c) { return (c & 0xC0) == 0x80; }

// Expected sequence length for a lead byte (0: not a valid lead) and the allowed
// range of the second byte.
int lead_info(uint8_t c, uint8_t* lo, uint8_t* hi) {
  *lo = 0x80;
  *hi = 0xBF;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) {
    if (c == 0xE0) *lo = 0xA0;
    if (c == 0xED) *hi = 0x9F;
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (c == 0xF0) *lo = 0x90;
    if (c == 0xF4) *hi = 0x8F;
    return 4;
  }
  return 0;
}

// Bytes at s[i] that are a valid prefix of one sequence (1 .. full length), and
// the full length that sequence needs; prefix 0 when s[i] is not a lead byte.
size_t valid_prefix(std::string_view s, size_t i, int* need) {
  uint8_t lo, hi;
  const int n = lead_info(static_cast<uint8_t>(s[i]), &lo, &hi);
  *need = n;
  if (n == 0) return 0;
  size_t k = 1;
  while (k < static_cast<size_t>(n) && i + k < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i + k]);
    if (k == 1 ? (c < lo || c > hi) : !is_cont(c)) break;
    ++k;
  }
  return k;
}

template <typename Fn>
std::string map_valid_runs(std::string_view s, Fn fn) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    while (j < s.size() && utf8_sequence_length(s, j) != 0) j += utf8_sequence_length(s, j);
    if (j > i) fn(s.substr(i, j - i), out);
    while (j < s.size() && utf8_sequence_length(s, j) == 0) out.push_back(s[j++]);
    i = j;
  }
  return out;
}

bool all_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<uint8_t>(c) >= 0x80) return false;
  }
  return true;
}

}  // namespace

size_t utf8_sequence_length(std::string_view s, size_t i) {
  if (i >= s.size()) return 0;
  int need = 0;
  const size_t k = valid_prefix(s, i, &need);
  return (need > 0 && k == static_cast<size_t>(need)) ? k : 0;
}

bool utf8_valid(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<uint8_t>(s[i]) < 0x80) {
      ++i;
      continue;
    }
    const size_t n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

size_t utf8_incomplete_tail(std::string_view s) {
  for (size_t k = 1; k <= 3 && k <= s.size(); ++k) {
    const size_t i = s.size() - k;
    if (is_cont(static_cast<uint8_t>(s[i]))) continue;
    int need = 0;
    const size_t prefix = valid_prefix(s, i, &need);
    return (need > static_cast<int>(k) && prefix == k) ? k : 0;
  }
  return 0;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string utf8_sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    int need = 0;
    const size_t k = valid_prefix(s, i, &need);
    if (need > 0 && k == static_cast<size_t>(need)) {
      out.append(s.substr(i, k));
      i += k;
    } else {
      out.append("\xEF\xBF\xBD");
      i += k == 0 ? 1 : k;
    }
  }
  return out;
}

ByteUnicodeMap::ByteUnicodeMap() {
  cp_to_byte_.fill(-1);
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
    utf8_append(byte_to_utf8_[b], cp);
    cp_to_byte_[cp] = static_cast<int16_t>(b);
  }
}

std::string unicode_normalize(std::string_view s, NormalForm form) {
  if (all_ascii(s)) return std::string(s);  // ASCII is invariant under every form
  UErrorCode err = U_ZERO_ERROR;
  const icu::Normalizer2* norm = nullptr;
  switch (form) {
    case NormalForm::kNfc: norm = icu::Normalizer2::getNFCInstance(err); break;
    case NormalForm::kNfd: norm = icu::Normalizer2::getNFDInstance(err); break;
    case NormalForm::kNfkc: norm = icu::Normalizer2::getNFKCInstance(err); break;
    case NormalForm::kNfkd: norm = icu::Normalizer2::getNFKDInstance(err); break;
  }
  if (U_FAILURE(err) || norm == nullptr) return std::string(s);
  return map_valid_runs(s, [norm](std::string_view run, std::string& out) {
    UErrorCode e = U_ZERO_ERROR;
    const icu::StringPiece piece(run.data(), static_cast<int32_t>(run.size()));
    if (norm->isNormalizedUTF8(piece, e) && U_SUCCESS(e)) {
      out.append(run);
      return;
    }
    e = U_ZERO_ERROR;
    std::string tmp;
    icu::StringByteSink<std::string> sink(&tmp);
    norm->normalizeUTF8(0, piece, sink, nullptr, e);
    out.append(U_SUCCESS(e) ? std::string_view(tmp) : run);
  });
}

std::string unicode_lowercase(std::string_view s) {
  return map_valid_runs(s, [](std::string_view run, std::string& out) {
    UErrorCode e = U_ZERO_ERROR;
    std::string tmp;
    icu::StringByteSink<std::string> sink(&tmp);
    icu::CaseMap::utf8ToLower("", 0, icu::StringPiece(run.data(), static_cast<int32_t>(run.size())), sink,
                              nullptr, e);
    out.append(U_SUCCESS(e) ? std::string_view(tmp) : run);
  });
}

}  // namespace sb
