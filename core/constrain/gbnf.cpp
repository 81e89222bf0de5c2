#include "core/constrain/gbnf.h"

#include <algorithm>
#include <map>
#include <string>

#include "core/tokenizer/unicode.h"

namespace sb::constrain {

namespace {

constexpr int kMaxDepth = 100;
constexpr int kMaxRepeat = 100'000;

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

class GbnfParser {
 public:
  explicit GbnfParser(std::string_view s) : s_(s) {}

  StatusOr<Grammar> parse(const GrammarLimits& limits) {
    skip_space(true);
    while (pos_ < s_.size()) SB_RETURN_IF_ERROR(rule());
    const auto root = rules_.find("root");
    if (root == rules_.end()) return invalid_argument("grammar: no rule 'root'");
    for (const auto& [name, r] : rules_)
      if (!b_.defined(r.id))
        return invalid_argument("grammar line " + std::to_string(r.first_use_line) + ": rule '" + name +
                                "' is used but not defined");
    auto g = b_.build(root->second.id, limits);
    if (!g.ok()) return g.status().with_context("grammar");
    return g;
  }

 private:
  struct RuleInfo {
    int32_t id = -1;
    int first_use_line = 0;
  };

  int line() const { return 1 + static_cast<int>(std::count(s_.begin(), s_.begin() + static_cast<long>(pos_), '\n')); }
  Status error(const std::string& what) const {
    return invalid_argument("grammar line " + std::to_string(line()) + ": " + what);
  }
  bool at(char c) const { return pos_ < s_.size() && s_[pos_] == c; }

  void skip_space(bool newlines) {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }

  std::string_view name() {
    const size_t start = pos_;
    while (pos_ < s_.size() && is_word(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  int32_t rule_id(std::string_view n) {
    auto [it, added] = rules_.try_emplace(std::string(n));
    if (added) {
      it->second.id = b_.add_rule(std::string(n));
      it->second.first_use_line = line();
    }
    return it->second.id;
  }

  Status rule() {
    const std::string_view n = name();
    if (n.empty()) return error("expected a rule name");
    skip_space(false);
    if (s_.substr(pos_, 3) != "::=") return error("expected '::=' after '" + std::string(n) + "'");
    pos_ += 3;
    skip_space(true);
    const int32_t id = rule_id(n);
    if (b_.defined(id)) return error("rule '" + std::string(n) + "' is defined twice");
    SB_ASSIGN_OR_RETURN(ExprId body, alternatives(0));
    b_.define(id, body);
    if (at('\r')) ++pos_;
    if (at('\n')) {
      ++pos_;
    } else if (pos_ < s_.size()) {
      return error("expected the end of the line");
    }
    skip_space(true);
    return ok_status();
  }

  StatusOr<ExprId> alternatives(int depth) {
    if (depth > kMaxDepth) return error("groups nested deeper than " + std::to_string(kMaxDepth));
    std::vector<ExprId> alts;
    SB_ASSIGN_OR_RETURN(ExprId first, sequence(depth));
    alts.push_back(first);
    while (at('|')) {
      ++pos_;
      skip_space(true);
      SB_ASSIGN_OR_RETURN(ExprId next, sequence(depth));
      alts.push_back(next);
    }
    return b_.alt(std::move(alts));
  }

  StatusOr<ExprId> sequence(int depth) {
    std::vector<ExprId> items;
    const bool nested = depth > 0;
    while (pos_ < s_.size()) {
      ExprId item;
      const char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        SB_ASSIGN_OR_RETURN(item, literal());
      } else if (c == '[') {
        ++pos_;
        SB_ASSIGN_OR_RETURN(CharSet set, char_class());
        item = b_.chars(set);
      } else if (c == '.') {
        ++pos_;
        item = b_.chars(CharSet::any());
      } else if (c == '(') {
        ++pos_;
        skip_space(true);
        SB_ASSIGN_OR_RETURN(item, alternatives(depth + 1));
        if (!at(')')) return error("expected ')'");
        ++pos_;
      } else if (is_word(c)) {
        const size_t save = pos_;
        const std::string_view n = name();
        skip_space(false);
        const bool defines = s_.substr(pos_, 3) == "::=";
        pos_ = save + n.size();
        if (defines) {
          pos_ = save;
          return error("expected the end of the line before rule '" + std::string(n) + "'");
        }
        item = b_.ref(rule_id(n));
      } else {
        break;
      }
      skip_space(nested);
      SB_ASSIGN_OR_RETURN(item, quantified(item, nested));
      items.push_back(item);
    }
    return items.empty() ? b_.empty() : b_.seq(std::move(items));
  }

  StatusOr<ExprId> quantified(ExprId item, bool nested) {
    int min = 0, max = 0;
    if (at('*')) {
      min = 0, max = kUnbounded;
    } else if (at('+')) {
      min = 1, max = kUnbounded;
    } else if (at('?')) {
      min = 0, max = 1;
    } else if (at('{')) {
      ++pos_;
      skip_space(nested);
      SB_ASSIGN_OR_RETURN(min, number());
      max = min;
      skip_space(nested);
      if (at(',')) {
        ++pos_;
        skip_space(nested);
        max = kUnbounded;
        if (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
          SB_ASSIGN_OR_RETURN(max, number());
        }
        skip_space(nested);
      }
      if (!at('}')) return error("expected '}'");
      if (max != kUnbounded && max < min) return error("a repetition {m,n} with n < m");
    } else {
      return item;
    }
    ++pos_;
    skip_space(nested);
    return b_.repeat(item, min, max);
  }

  StatusOr<int> number() {
    int64_t v = 0;
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') v = std::min<int64_t>(v * 10 + (s_[pos_++] - '0'), kMaxRepeat + 1);
    if (pos_ == start) return error("expected a number");
    if (v > kMaxRepeat) return error("a repetition count over " + std::to_string(kMaxRepeat));
    return static_cast<int>(v);
  }

  // One character of a literal or class (escapes decoded), at pos_.
  StatusOr<uint32_t> character() {
    if (pos_ >= s_.size()) return error("unexpected end of the grammar");
    if (s_[pos_] != '\\') {
      uint32_t c = 0;
      if (!next_code_point(s_, &pos_, &c)) return error("the grammar is not valid UTF-8");
      return c;
    }
    if (++pos_ >= s_.size()) return error("a trailing backslash");
    const char e = s_[pos_++];
    int digits = 0;
    switch (e) {
      case 'x': digits = 2; break;
      case 'u': digits = 4; break;
      case 'U': digits = 8; break;
      case 't': return '\t';
      case 'n': return '\n';
      case 'r': return '\r';
      case '\\': case '"': case '[': case ']': case '-': return static_cast<uint32_t>(e);
      default: return error(std::string("unknown escape \\") + e);
    }
    uint32_t v = 0;
    for (int i = 0; i < digits; ++i, ++pos_) {
      const char h = pos_ < s_.size() ? s_[pos_] : 'g';
      const int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                                                      : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) return error("bad hex escape");
      v = v * 16 + static_cast<uint32_t>(d);
    }
    if (v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF)) return error("the escape is not a Unicode scalar value");
    return v;
  }

  StatusOr<ExprId> literal() {
    std::string bytes;
    while (!at('"')) {
      if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated literal");
      SB_ASSIGN_OR_RETURN(uint32_t c, character());
      utf8_append(bytes, c);
    }
    ++pos_;
    return b_.literal(bytes);
  }

  StatusOr<CharSet> char_class() {
    const bool negated = at('^');
    if (negated) ++pos_;
    CharSet set;
    while (!at(']')) {
      if (pos_ >= s_.size() || s_[pos_] == '\n') return error("unterminated character class");
      SB_ASSIGN_OR_RETURN(uint32_t lo, character());
      uint32_t hi = lo;
      if (at('-') && pos_ + 1 < s_.size() && s_[pos_ + 1] != ']') {
        ++pos_;
        SB_ASSIGN_OR_RETURN(hi, character());
        if (hi < lo) return error("a class range out of order");
      }
      set.add(lo, hi);
    }
    ++pos_;
    return negated ? set.complement() : set;
  }

  std::string_view s_;
  size_t pos_ = 0;
  GrammarBuilder b_;
  std::map<std::string, RuleInfo, std::less<>> rules_;
};

}  // namespace

StatusOr<Grammar> compile_gbnf(std::string_view text, const GrammarLimits& limits) {
  return GbnfParser(text).parse(limits);
}

}  // namespace sb::constrain
