#include "cli/flag_checks.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sb::cli {

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

namespace {

// A check that `lo <(=) value <= hi`; `desc` is what --help shows, `bound` the
// error's wording ("in (0, 1]", ">= 0").
CLI::Validator bounds(double lo, bool lo_open, double hi, const std::string& bound, const std::string& desc) {
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v))
          return "expected a number, got '" + text + "'";
        const bool ok = (lo_open ? v > lo : v >= lo) && v <= hi;
        return ok ? std::string() : "must be " + bound + ", got " + text;
      },
      desc);
}

std::string interval(double lo, bool lo_open, double hi) {
  return std::string("in ") + (lo_open ? "(" : "[") + number_text(lo) + ", " + number_text(hi) + "]";
}

}  // namespace

CLI::Validator non_negative() { return bounds(0, false, INFINITY, ">= 0", "NONNEGATIVE"); }
CLI::Validator positive() { return bounds(0, true, INFINITY, "> 0", "POSITIVE"); }
CLI::Validator in_range(double lo, double hi) {
  return bounds(lo, false, hi, interval(lo, false, hi), interval(lo, false, hi));
}
CLI::Validator above_at_most(double lo, double hi) {
  return bounds(lo, true, hi, interval(lo, true, hi), interval(lo, true, hi));
}

}  // namespace sb::cli
