// GBNF grammars (llama.cpp's grammar format) compiled to the automaton form of
// core/constrain/grammar.h. Rules `name ::= alternatives`, one per line (a rule
// continues over newlines only inside parentheses or right after '|');
// "literals" and [classes] / [^classes] over Unicode code points with escapes
// \xHH \uHHHH \UHHHHHHHH \t \n \r \\ \" \[ \] \-; '.' for any character; rule
// references; ( ) groups; * + ? {m} {m,} {m,n}; '#' comments. The text must
// match rule `root`. Errors name the line: syntax, undefined rules, left
// recursion, a grammar that matches no text.
#pragma once

#include <string_view>

#include "core/base/status.h"
#include "core/constrain/grammar.h"

namespace sb::constrain {

StatusOr<Grammar> compile_gbnf(std::string_view text, const GrammarLimits& limits = {});

}  // namespace sb::constrain
