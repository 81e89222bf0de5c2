// Regular expressions compiled to grammar expressions (core/constrain/grammar.h):
// the syntax of JSON Schema's "pattern" (ECMA-262) and vLLM's guided_regex,
// less what a finite automaton cannot do. Supported: literals; escapes \n \t \r
// \f \v \0 \xHH \uHHHH \cX and escaped punctuation; the classes
// \d \w \s \D \W \S (ASCII \d and \w; \s without the Unicode spaces, \S without
// them either, so the text fits ECMA-262 and PCRE2 alike); '.' (any character
// but \n \r U+2028 U+2029); [...] and [^...] with ranges and class escapes;
// groups (...), (?:...), (?<name>...), (?P<name>...); '|'; quantifiers * + ?
// {n} {n,} {n,m} and their lazy forms (the same language). '^' and '$' only at
// the start and end of the pattern or of a top-level alternative. Refused with
// the offending offset: backreferences, lookaround, \b \B, inline flags,
// possessive quantifiers, \p{..}, anchors elsewhere.
#pragma once

#include <functional>
#include <string_view>

#include "core/base/status.h"
#include "core/constrain/charset.h"
#include "core/constrain/grammar.h"

namespace sb::constrain {

// How a character set becomes bytes: as UTF-8, or as the JSON string escapes
// of its characters when the text sits inside a JSON string.
using CharEncoder = std::function<ExprId(GrammarBuilder&, const CharSet&)>;
ExprId utf8_chars(GrammarBuilder& b, const CharSet& set);

enum class RegexMatch {
  kFull,    // the whole text matches (guided_regex); '^' / '$' change nothing
  kSearch,  // JSON Schema: the pattern matches somewhere in the text, unless anchored
};

StatusOr<ExprId> regex_expr(std::string_view pattern, RegexMatch mode, GrammarBuilder& b,
                            const CharEncoder& encode = utf8_chars);

}  // namespace sb::constrain
