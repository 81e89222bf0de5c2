// Lexer of the chat-template language (a Jinja2 subset): splits template source
// into text and the tokens of {{ ... }} and {% ... %}, drops {# comments #}, and
// applies whitespace control the way Hugging Face renders chat templates
// (trim_blocks and lstrip_blocks on, plus the explicit `-` / `+` markers).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace sb::jinja {

enum class TokenKind {
  kText,       // literal template text (after whitespace control)
  kExprBegin,  // {{
  kExprEnd,    // }}
  kStmtBegin,  // {%
  kStmtEnd,    // %}
  kName,       // identifiers and keywords
  kString,     // text holds the unescaped value
  kInt,
  kFloat,
  kOp,         // punctuation and operators: ( ) [ ] { } . , : | ~ + - * / // % ** = == != < <= > >=
  kEnd,        // end of the source
};

struct Token {
  TokenKind kind = TokenKind::kEnd;
  std::string text;
  int line = 1;
  int64_t int_value = 0;
  double float_value = 0;
};

// Errors (unterminated tags, strings or comments, stray characters) name the line.
StatusOr<std::vector<Token>> lex(std::string_view source);

}  // namespace sb::jinja
