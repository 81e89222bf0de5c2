// cli/flag_checks.h in-process: what each check accepts, the error text (bounds
// as written, never DBL_MAX in full) and the --help description.
#include <doctest/doctest.h>

#include <string>

#include "cli/flag_checks.h"



namespace {

// The check's verdict on `text`: "" when accepted, else the error.
std::string verdict(const CLI::Validator& v, std::string text) { return v(text); }

}  // namespace

TEST_CASE("numeric checks: accepted values, readable refusals, --help descriptions") {
  using sb::cli::above_at_most;
  using sb::cli::in_range;
  using sb::cli::non_negative;
  using sb::cli::positive;
  CHECK(verdict(non_negative(), "0") == "");
  CHECK(verdict(non_negative(), "1e9") == "");
  CHECK(verdict(non_negative(), "-1") == "must be >= 0, got -1");
  CHECK(verdict(non_negative(), "-0.001") == "must be >= 0, got -0.001");
  CHECK(verdict(positive(), "0") == "must be > 0, got 0");
  CHECK(verdict(positive(), "0.5") == "");
  CHECK(verdict(in_range(1, 128), "129") == "must be in [1, 128], got 129");
  CHECK(verdict(in_range(0, 1), "1") == "");
  CHECK(verdict(above_at_most(0, 1), "0") == "must be in (0, 1], got 0");
  CHECK(verdict(above_at_most(0, 1), "1") == "");
  CHECK(verdict(above_at_most(0, 1), "1.0000001") == "must be in (0, 1], got 1.0000001");
  for (const char* bad : {"ten", "", "1x", "inf", "nan", "-inf", "1e999"})
    CHECK(verdict(non_negative(), bad) == std::string("expected a number, got '") + bad + "'");
  CHECK(non_negative().get_description() == "NONNEGATIVE");
  CHECK(positive().get_description() == "POSITIVE");
  CHECK(in_range(0, 20).get_description() == "in [0, 20]");
  CHECK(above_at_most(0, 1).get_description() == "in (0, 1]");
}
