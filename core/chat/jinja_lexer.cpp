// Template lexer: text / tag splitting with whitespace control, then the tokens
// inside each tag.
#include "core/chat/jinja_lexer.h"

#include <charconv>

#include "core/tokenizer/unicode.h"

namespace sb::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

Status error_at(int line, const std::string& what) {
  return invalid_argument("line " + std::to_string(line) + ": " + what);
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : src_(src) {}

  StatusOr<std::vector<Token>> run() {
    bool strip_next = false;    // the previous tag ended with '-': drop all leading whitespace
    bool trim_newline = false;  // the previous tag was a block or comment: drop one newline
    bool line_start = true;     // the next text starts at the beginning of a line
    while (true) {
      const size_t hit = next_tag(pos_);
      std::string_view text = src_.substr(pos_, hit == std::string_view::npos ? std::string_view::npos : hit - pos_);
      const int text_line = line_;
      count_lines(text);
      if (strip_next) {
        while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
      } else if (trim_newline) {
        if (text.substr(0, 1) == "\n") text.remove_prefix(1);
        else if (text.substr(0, 2) == "\r\n") text.remove_prefix(2);
      }
      if (hit == std::string_view::npos) {
        emit_text(text, text_line);
        break;
      }
      const char kind = src_[hit + 1];
      const char marker = hit + 2 < src_.size() ? src_[hit + 2] : '\0';
      if (marker == '-') {
        while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
      } else if (kind != '{' && marker != '+') {
        // lstrip_blocks: spaces and tabs between the start of the line and a block or comment go.
        const size_t nl = text.rfind('\n');
        const size_t from = nl == std::string_view::npos ? 0 : nl + 1;
        if (nl != std::string_view::npos || line_start) {
          const std::string_view tail = text.substr(from);
          if (tail.find_first_not_of(" \t") == std::string_view::npos) text = text.substr(0, from);
        }
      }
      emit_text(text, text_line);
      pos_ = hit + 2 + ((marker == '-' || (marker == '+' && kind != '{')) ? 1 : 0);
      bool strip = false;
      if (kind == '#') {
        SB_RETURN_IF_ERROR(skip_comment(&strip));
      } else {
        SB_RETURN_IF_ERROR(lex_tag(kind == '{', &strip));
      }
      strip_next = strip;
      trim_newline = kind != '{';
      line_start = trim_newline && pos_ < src_.size() && src_[pos_] == '\n';
    }
    out_.push_back(Token{TokenKind::kEnd, "", line_});
    return std::move(out_);
  }

 private:
  size_t next_tag(size_t from) const {
    for (size_t i = src_.find('{', from); i != std::string_view::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }

  void count_lines(std::string_view s) {
    for (char c : s) line_ += c == '\n';
  }

  void emit_text(std::string_view text, int line) {
    if (!text.empty()) out_.push_back(Token{TokenKind::kText, std::string(text), line});
  }

  Status skip_comment(bool* strip) {
    const int start_line = line_;
    const size_t end = src_.find("#}", pos_);
    if (end == std::string_view::npos) return error_at(start_line, "unterminated comment");
    *strip = end > pos_ && src_[end - 1] == '-';
    count_lines(src_.substr(pos_, end - pos_));
    pos_ = end + 2;
    return ok_status();
  }

  // Tokens up to the closing }} or %}; a '-' right before it asks to strip what follows.
  Status lex_tag(bool is_expr, bool* strip) {
    const int start_line = line_;
    out_.push_back(Token{is_expr ? TokenKind::kExprBegin : TokenKind::kStmtBegin, "", line_});
    const char closer = is_expr ? '}' : '%';
    int depth = 0;  // open brackets: a '}' inside a dict literal does not end the tag
    while (true) {
      while (pos_ < src_.size() && is_space(src_[pos_])) line_ += src_[pos_++] == '\n';
      if (pos_ >= src_.size()) return error_at(start_line, std::string("unterminated ") + (is_expr ? "{{" : "{%"));
      const char c = src_[pos_];
      const std::string_view rest = src_.substr(pos_);
      const bool closes_here = depth == 0 && rest.size() >= 2 && rest[0] == closer && rest[1] == '}';
      const bool closes_strip = depth == 0 && rest.size() >= 3 && rest[0] == '-' && rest[1] == closer && rest[2] == '}';
      if (closes_here || closes_strip) {
        *strip = closes_strip;
        pos_ += closes_strip ? 3 : 2;
        out_.push_back(Token{is_expr ? TokenKind::kExprEnd : TokenKind::kStmtEnd, "", line_});
        return ok_status();
      }
      if (is_name_start(c)) {
        size_t n = 1;
        while (n < rest.size() && is_name_char(rest[n])) ++n;
        out_.push_back(Token{TokenKind::kName, std::string(rest.substr(0, n)), line_});
        pos_ += n;
      } else if (is_digit(c)) {
        SB_RETURN_IF_ERROR(lex_number());
      } else if (c == '\'' || c == '"') {
        SB_RETURN_IF_ERROR(lex_string());
      } else {
        static constexpr std::string_view kTwo[] = {"//", "**", "==", "!=", "<=", ">="};
        std::string op;
        for (std::string_view two : kTwo) {
          if (rest.substr(0, 2) == two) op = two;
        }
        if (op.empty()) {
          if (std::string_view("()[]{}.,:|~+-*/%=<>").find(c) == std::string_view::npos) {
            return error_at(line_, std::string("unexpected character '") + c + "' in a tag");
          }
          op = std::string(1, c);
        }
        if (op == "(" || op == "[" || op == "{") ++depth;
        if ((op == ")" || op == "]" || op == "}") && depth > 0) --depth;
        out_.push_back(Token{TokenKind::kOp, op, line_});
        pos_ += op.size();
      }
    }
  }

  Status lex_number() {
    size_t n = 0;
    const std::string_view rest = src_.substr(pos_);
    bool is_float = false;
    while (n < rest.size() && (is_digit(rest[n]) || rest[n] == '_')) ++n;
    if (n + 1 < rest.size() && rest[n] == '.' && is_digit(rest[n + 1])) {
      is_float = true;
      ++n;
      while (n < rest.size() && is_digit(rest[n])) ++n;
    }
    if (n < rest.size() && (rest[n] == 'e' || rest[n] == 'E')) {
      size_t m = n + 1;
      if (m < rest.size() && (rest[m] == '+' || rest[m] == '-')) ++m;
      if (m < rest.size() && is_digit(rest[m])) {
        is_float = true;
        n = m;
        while (n < rest.size() && is_digit(rest[n])) ++n;
      }
    }
    std::string digits;
    for (char ch : rest.substr(0, n)) {
      if (ch != '_') digits.push_back(ch);
    }
    Token t{is_float ? TokenKind::kFloat : TokenKind::kInt, digits, line_};
    const char* first = digits.data();
    const char* last = digits.data() + digits.size();
    const auto r = is_float ? std::from_chars(first, last, t.float_value) : std::from_chars(first, last, t.int_value);
    if (r.ec != std::errc() || r.ptr != last) return error_at(line_, "number '" + digits + "' is out of range");
    out_.push_back(std::move(t));
    pos_ += n;
    return ok_status();
  }

  // Python-style string literal with the common escapes; unknown escapes keep the backslash.
  Status lex_string() {
    const char quote = src_[pos_];
    const int start_line = line_;
    std::string value;
    size_t i = pos_ + 1;
    while (true) {
      if (i >= src_.size()) return error_at(start_line, "unterminated string");
      const char c = src_[i++];
      if (c == quote) break;
      line_ += c == '\n';
      if (c != '\\' || i >= src_.size()) {
        value.push_back(c);
        continue;
      }
      const char e = src_[i++];
      switch (e) {
        case 'n': value.push_back('\n'); break;
        case 't': value.push_back('\t'); break;
        case 'r': value.push_back('\r'); break;
        case '0': value.push_back('\0'); break;
        case '\\': case '\'': case '"': value.push_back(e); break;
        case '\n': ++line_; break;
        case 'x':
        case 'u': {
          const size_t n = e == 'x' ? 2 : 4;
          uint32_t cp = 0;
          const std::string_view hex = src_.substr(i, n);
          const auto r = std::from_chars(hex.data(), hex.data() + hex.size(), cp, 16);
          if (hex.size() != n || r.ptr != hex.data() + n || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
            return error_at(line_, std::string("bad \\") + e + " escape in a string");
          }
          utf8_append(value, cp);
          i += n;
          break;
        }
        default:
          value.push_back('\\');
          value.push_back(e);
      }
    }
    out_.push_back(Token{TokenKind::kString, std::move(value), start_line});
    pos_ = i;
    return ok_status();
  }

  std::string_view src_;
  size_t pos_ = 0;
  int line_ = 1;
  std::vector<Token> out_;
};

}  // namespace

StatusOr<std::vector<Token>> lex(std::string_view source) { return Lexer(source).run(); }

}  // namespace sb::jinja
