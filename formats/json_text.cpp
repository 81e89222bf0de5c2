#include "formats/json_text.h"

#include <string>

namespace sb {
namespace {

// Integer literals with more digits than this may not fit 64 bits; as floats
// they lose nothing a loader could use (every needed field is far smaller).
constexpr size_t kMaxIntegerDigits = 18;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

simdjson::padded_string padded_json(std::string_view text) {
  std::string out;
  size_t copied = 0;  // text[0, copied) is already in out
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
      continue;
    }
    if (c != '-' && !is_digit(c)) continue;
    // A number token (outside strings only numbers hold digits): digits, sign, '.', exponent.
    size_t end = i + 1, digits = is_digit(c) ? 1 : 0;
    bool integer = true;
    for (; end < text.size(); ++end) {
      const char d = text[end];
      if (is_digit(d)) ++digits;
      else if (d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-') integer = false;
      else break;
    }
    if (integer && digits > kMaxIntegerDigits) {
      out.append(text.substr(copied, end - copied)).append(".0");
      copied = end;
    }
    i = end - 1;
  }
  if (copied == 0) return simdjson::padded_string(text);
  out.append(text.substr(copied));
  return simdjson::padded_string(out);
}

}  // namespace sb
