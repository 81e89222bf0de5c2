// JSON number texts between bounds, as grammar expressions: what "minimum",
// "maximum", "exclusiveMinimum" and "exclusiveMaximum" compile to. Integers
// are -?(0|[1-9][0-9]*) restricted digit by digit; bounded non-integers are
// written without an exponent (-?int(.frac)?), the integer part restricted
// like an integer and the fraction compared digit by digit with the bounds'
// decimal expansions, so every text the expression matches is in range and
// every in-range value has a text it matches.
#pragma once

#include <cstdint>
#include <optional>

#include "core/constrain/grammar.h"

namespace sb::constrain {

struct NumberBound {
  double value = 0;
  bool exclusive = false;
};

// Integers n with lo <= n <= hi (either bound absent: unbounded).
ExprId integer_range(GrammarBuilder& b, std::optional<int64_t> lo, std::optional<int64_t> hi);
// Numbers between the bounds; the caller checks the range is not empty.
ExprId number_range(GrammarBuilder& b, const std::optional<NumberBound>& lo, const std::optional<NumberBound>& hi);
// Any JSON number (sign, fraction and exponent as RFC 8259 has them), the
// exponent at most two digits so that every text parses to a finite double.
ExprId any_number(GrammarBuilder& b);

}  // namespace sb::constrain
