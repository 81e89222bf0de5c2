// Checks of numeric flag values whose errors and --help text read as people
// write bounds: "--temperature: must be >= 0, got -1", "--top-p: must be in
// (0, 1], got 0", "--max-tokens: expected a number, got 'ten'"; --help shows
// "FLOAT:NONNEGATIVE", "FLOAT:in (0, 1]". Bounds print as %g (never DBL_MAX
// in full).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace sb::cli {

// A number as people write it ("30", "0.5", "1e+06"): %g.
std::string number_text(double v);

CLI::Validator non_negative();                       // >= 0
CLI::Validator positive();                           // > 0
CLI::Validator in_range(double lo, double hi);       // [lo, hi]
CLI::Validator above_at_most(double lo, double hi);  // (lo, hi]

}  // namespace sb::cli
