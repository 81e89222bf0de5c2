#include "core/constrain/regex.h"

#include <algorithm>
#include <string>

namespace sb::constrain {

ExprId utf8_chars(GrammarBuilder& b, const CharSet& set) { return b.chars(set); }

namespace {

constexpr int kMaxDepth = 100;       // group nesting
constexpr int kMaxRepeat = 100'000;  // {n,m} bounds

CharSet digit_set() { return CharSet::range('0', '9'); }
CharSet word_set() {
  CharSet s = CharSet::range('a', 'z');
  s.add('A', 'Z');
  s.add('0', '9');
  s.add('_', '_');
  return s;
}
CharSet space_set() {  // \s as PCRE2 (no UCP) has it, a subset of ECMA-262's
  CharSet s = CharSet::range('\t', '\r');
  s.add(' ', ' ');
  return s;
}
CharSet unicode_spaces() {  // ECMA-262's \s beyond ASCII: \S leaves them out too
  CharSet s = space_set();
  for (uint32_t c : {0xA0u, 0x1680u, 0x2028u, 0x2029u, 0x202Fu, 0x205Fu, 0x3000u, 0xFEFFu}) s.add(c, c);
  s.add(0x2000, 0x200A);
  return s;
}
CharSet dot_set() {
  CharSet s = CharSet::single('\n');
  s.add('\r', '\r');
  s.add(0x2028, 0x2029);
  return s.complement();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

class RegexParser {
 public:
  RegexParser(std::string_view p, RegexMatch mode, GrammarBuilder& b, const CharEncoder& encode)
      : p_(p), mode_(mode), b_(b), encode_(encode) {}

  StatusOr<ExprId> parse() {
    SB_ASSIGN_OR_RETURN(ExprId e, alternation(0));
    if (pos_ < p_.size()) return error("unbalanced ')'");
    return e;
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument("regex at offset " + std::to_string(pos_) + ": " + what);
  }
  bool at(char c) const { return pos_ < p_.size() && p_[pos_] == c; }
  bool at(std::string_view s) const { return p_.substr(pos_, s.size()) == s; }

  StatusOr<ExprId> alternation(int depth) {
    if (depth > kMaxDepth) return error("groups nested deeper than " + std::to_string(kMaxDepth));
    std::vector<ExprId> alts;
    while (true) {
      SB_ASSIGN_OR_RETURN(ExprId s, sequence(depth));
      alts.push_back(s);
      if (!at('|')) break;
      ++pos_;
    }
    return b_.alt(std::move(alts));
  }

  // One alternative; at depth 0 it may be anchored ('^' first, '$' last).
  StatusOr<ExprId> sequence(int depth) {
    std::vector<ExprId> items;
    bool start_anchor = false, end_anchor = false;
    if (depth == 0 && at('^')) {
      ++pos_;
      start_anchor = true;
    }
    while (pos_ < p_.size() && !at('|') && !at(')')) {
      if (at('$') && depth == 0 && (pos_ + 1 == p_.size() || p_[pos_ + 1] == '|')) {
        ++pos_;
        end_anchor = true;
        break;
      }
      if (at('^') || at('$')) return error("'^' and '$' are supported only at the ends of the pattern");
      SB_ASSIGN_OR_RETURN(ExprId a, atom(depth));
      SB_ASSIGN_OR_RETURN(a, quantified(a));
      items.push_back(a);
    }
    if (depth == 0 && mode_ == RegexMatch::kSearch) {
      const ExprId anything = b_.repeat(encode_(b_, CharSet::any()), 0, kUnbounded);
      if (!start_anchor) items.insert(items.begin(), anything);
      if (!end_anchor) items.push_back(anything);
    }
    return items.empty() ? b_.empty() : b_.seq(std::move(items));
  }

  StatusOr<ExprId> quantified(ExprId a) {
    int min = 0, max = 0;
    bool any = false;
    while (true) {
      const size_t start = pos_;
      if (at('*')) {
        min = 0, max = kUnbounded, ++pos_;
      } else if (at('+')) {
        min = 1, max = kUnbounded, ++pos_;
      } else if (at('?')) {
        min = 0, max = 1, ++pos_;
      } else if (!(at('{') && counted(&min, &max))) {
        return a;
      }
      if (any) {
        pos_ = start;
        return error("a quantifier follows another");
      }
      any = true;
      if (at('?')) ++pos_;  // lazy: the same language
      if (at('+')) return error("possessive quantifiers are not supported");
      a = b_.repeat(a, min, max);
    }
  }

  // {n}, {n,}, {n,m}; false (nothing consumed) when the brace starts no
  // quantifier, which then reads as a literal '{'.
  bool counted(int* min, int* max) {
    size_t i = pos_ + 1;
    auto number = [&](int* out) {
      const size_t from = i;
      int64_t v = 0;
      while (i < p_.size() && p_[i] >= '0' && p_[i] <= '9') v = std::min<int64_t>(v * 10 + (p_[i++] - '0'), kMaxRepeat + 1);
      *out = static_cast<int>(v);
      return i > from;
    };
    if (!number(min)) return false;
    *max = *min;
    if (i < p_.size() && p_[i] == ',') {
      ++i;
      if (!number(max)) *max = kUnbounded;
    }
    if (i >= p_.size() || p_[i] != '}') return false;
    if (*min > kMaxRepeat || *max > kMaxRepeat || (*max != kUnbounded && *max < *min)) return false;
    pos_ = i + 1;
    return true;
  }

  StatusOr<ExprId> atom(int depth) {
    const char c = p_[pos_];
    if (c == '(') return group(depth);
    if (c == '[') {
      ++pos_;
      SB_ASSIGN_OR_RETURN(CharSet s, class_body());
      return encode_(b_, s);
    }
    if (c == '.') {
      ++pos_;
      return encode_(b_, dot_set());
    }
    if (c == '*' || c == '+' || c == '?') return error("a quantifier with nothing to repeat");
    if (c == '{') {
      int min = 0, max = 0;
      const size_t at_brace = pos_;
      if (counted(&min, &max)) {
        pos_ = at_brace;
        return error("a quantifier with nothing to repeat");
      }
    }
    SB_ASSIGN_OR_RETURN(CharSet s, single(false));
    return encode_(b_, s);
  }

  StatusOr<ExprId> group(int depth) {
    ++pos_;
    if (at('?')) {
      if (at("?:")) {
        pos_ += 2;
      } else if (at("?P<") || (at("?<") && !at("?<=") && !at("?<!"))) {
        const size_t close = p_.find('>', pos_);
        if (close == std::string_view::npos) return error("unterminated group name");
        pos_ = close + 1;
      } else if (at("?=") || at("?!") || at("?<=") || at("?<!")) {
        return error("lookaround is not supported");
      } else if (at("?P=")) {
        return error("backreferences are not supported");
      } else {
        return error("inline flags and other (?...) groups are not supported");
      }
    }
    SB_ASSIGN_OR_RETURN(ExprId e, alternation(depth + 1));
    if (!at(')')) return error("missing ')'");
    ++pos_;
    return e;
  }

  StatusOr<CharSet> class_body() {
    const bool negated = at('^');
    if (negated) ++pos_;
    if (at(']')) return error("']' first in a class reads differently in ECMA-262 and PCRE; escape it");
    CharSet set;
    while (!at(']')) {
      if (pos_ >= p_.size()) return error("missing ']'");
      if (at("[:") || at("[=") || at("[.")) return error("POSIX classes are not supported");
      const size_t item = pos_;
      SB_ASSIGN_OR_RETURN(CharSet lo, single(true));
      if (at('-') && pos_ + 1 < p_.size() && p_[pos_ + 1] != ']') {
        ++pos_;
        SB_ASSIGN_OR_RETURN(CharSet hi, single(true));
        if (lo.ranges().size() != 1 || lo.ranges()[0].first != lo.ranges()[0].second || hi.ranges().size() != 1 ||
            hi.ranges()[0].first != hi.ranges()[0].second) {
          pos_ = item;
          return error("a class range needs single characters at both ends");
        }
        const uint32_t a = lo.ranges()[0].first, z = hi.ranges()[0].first;
        if (a > z) {
          pos_ = item;
          return error("a class range out of order");
        }
        set.add(a, z);
      } else {
        set.add(lo);
      }
    }
    ++pos_;
    return negated ? set.complement() : set;
  }

  // One character or class escape, as a set.
  StatusOr<CharSet> single(bool in_class) {
    if (!at('\\')) {
      uint32_t c = 0;
      if (!next_code_point(p_, &pos_, &c)) return error("the pattern is not valid UTF-8");
      return CharSet::single(c);
    }
    ++pos_;
    if (pos_ >= p_.size()) return error("a trailing backslash");
    const char e = p_[pos_++];
    switch (e) {
      case 'd': return digit_set();
      case 'D': return digit_set().complement();
      case 'w': return word_set();
      case 'W': return word_set().complement();
      case 's': return space_set();
      case 'S': return unicode_spaces().complement();
      case 'n': return CharSet::single('\n');
      case 't': return CharSet::single('\t');
      case 'r': return CharSet::single('\r');
      case 'f': return CharSet::single('\f');
      case 'v': return CharSet::single('\v');
      case 'b':
        if (in_class) return CharSet::single('\b');
        return error("word boundaries (\\b) are not supported");
      case 'c':
        if (pos_ < p_.size() && ((p_[pos_] >= 'a' && p_[pos_] <= 'z') || (p_[pos_] >= 'A' && p_[pos_] <= 'Z')))
          return CharSet::single(static_cast<uint32_t>(p_[pos_++]) % 32);
        return error("\\c needs a letter");
      case '0':
        if (pos_ < p_.size() && p_[pos_] >= '0' && p_[pos_] <= '9') return error("octal escapes are not supported");
        return CharSet::single(0);
      case 'x':
      case 'u': {
        SB_ASSIGN_OR_RETURN(uint32_t c, hex_escape(e == 'x' ? 2 : 4));
        return CharSet::single(c);
      }
      default:
        break;
    }
    const bool alnum = (e >= 'a' && e <= 'z') || (e >= 'A' && e <= 'Z') || (e >= '0' && e <= '9');
    if (e >= '1' && e <= '9') return error("backreferences are not supported");
    if (e == 'p' || e == 'P') return error("Unicode property classes (\\p) are not supported");
    if (alnum) return error(std::string("unknown escape \\") + e);
    pos_ -= 1;
    uint32_t c = 0;
    if (!next_code_point(p_, &pos_, &c)) return error("the pattern is not valid UTF-8");
    return CharSet::single(c);
  }

  // The n hex digits of \xHH / \uHHHH; a surrogate pair written as two \u
  // escapes is one character.
  StatusOr<uint32_t> hex_escape(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; ++i, ++pos_) {
      const int h = pos_ < p_.size() ? hex_value(p_[pos_]) : -1;
      if (h < 0) return error("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(h);
    }
    if (v >= 0xD800 && v <= 0xDBFF && at("\\u")) {
      const size_t save = pos_;
      pos_ += 2;
      SB_ASSIGN_OR_RETURN(uint32_t lo, hex_escape(4));
      if (lo >= 0xDC00 && lo <= 0xDFFF) return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
      pos_ = save;
    }
    if (v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF)) return error("the escape is not a Unicode scalar value");
    return v;
  }

  std::string_view p_;
  size_t pos_ = 0;
  RegexMatch mode_;
  GrammarBuilder& b_;
  const CharEncoder& encode_;
};

}  // namespace

StatusOr<ExprId> regex_expr(std::string_view pattern, RegexMatch mode, GrammarBuilder& b, const CharEncoder& encode) {
  return RegexParser(pattern, mode, b, encode).parse();
}

}  // namespace sb::constrain
