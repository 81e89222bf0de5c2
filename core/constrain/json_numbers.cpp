#include "core/constrain/json_numbers.h"

#include <algorithm>
#include <charconv>
#include <string>

namespace sb::constrain {

namespace {

// Digit strings: unsigned decimal integers without leading zeros ("0" for 0),
// and fractions without trailing zeros ("" for 0).
int compare_digits(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return a.compare(b) < 0 ? -1 : a == b ? 0 : 1;
}

std::string increment(std::string s) {
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] != '9') {
      ++s[i];
      return s;
    }
    s[i] = '0';
  }
  s.insert(s.begin(), '1');
  return s;
}

std::string decrement(std::string s) {  // s >= 1
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] != '0') {
      --s[i];
      break;
    }
    s[i] = '9';
  }
  if (s.size() > 1 && s[0] == '0') s.erase(0, 1);
  return s;
}

// A non-negative double's shortest round-trip decimal expansion.
struct Decimal {
  std::string int_digits = "0";
  std::string frac_digits;
};

Decimal decimal_of(double x) {
  if (x == 0) x = 0;  // -0.0 prints a sign
  char buf[512];
  const auto r = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::fixed);
  const std::string s(buf, r.ptr);
  Decimal d;
  const size_t dot = s.find('.');
  d.int_digits = s.substr(0, dot);
  if (dot != std::string::npos) {
    d.frac_digits = s.substr(dot + 1);
    while (!d.frac_digits.empty() && d.frac_digits.back() == '0') d.frac_digits.pop_back();
  }
  return d;
}

class Numbers {
 public:
  explicit Numbers(GrammarBuilder& b) : b_(b) {}

  ExprId digits(int lo, int hi) { return b_.byte_range(static_cast<uint8_t>('0' + lo), static_cast<uint8_t>('0' + hi)); }
  ExprId digit(char c) { return b_.byte_range(static_cast<uint8_t>(c), static_cast<uint8_t>(c)); }
  ExprId any_digits(int min) { return b_.repeat(digits(0, 9), min, kUnbounded); }
  ExprId nothing() { return b_.alt({}); }

  // Same-length digit strings in [lo, hi].
  ExprId same_length(const std::string& lo, const std::string& hi) {
    if (lo.empty()) return b_.empty();
    const int l = lo[0] - '0', h = hi[0] - '0';
    const std::string lr = lo.substr(1), hr = hi.substr(1);
    if (l == h) return b_.seq({digit(lo[0]), same_length(lr, hr)});
    const std::string nines(lr.size(), '9'), zeros(lr.size(), '0');
    std::vector<ExprId> alts{b_.seq({digit(lo[0]), same_length(lr, nines)})};
    if (l + 1 <= h - 1) alts.push_back(b_.seq({digits(l + 1, h - 1), b_.repeat(digits(0, 9), static_cast<int>(lr.size()),
                                                                                   static_cast<int>(lr.size()))}));
    alts.push_back(b_.seq({digit(hi[0]), same_length(zeros, hr)}));
    return b_.alt(std::move(alts));
  }

  // Integers in [lo, hi] (hi absent: unbounded) as digit strings; lo <= hi.
  ExprId uint_range(const std::string& lo, const std::string* hi) {
    const size_t la = lo.size(), lb = hi ? hi->size() : 0;
    if (hi && la == lb) return same_length(lo, *hi);
    std::vector<ExprId> alts{same_length(lo, std::string(la, '9'))};
    auto of_length = [&](int k) { return b_.seq({digits(1, 9), b_.repeat(digits(0, 9), k - 1, k - 1)}); };
    if (hi) {
      for (size_t k = la + 1; k < lb; ++k) alts.push_back(of_length(static_cast<int>(k)));
      std::string first(lb, '0');  // 10..0, the smallest of hi's length
      first[0] = '1';
      alts.push_back(same_length(first, *hi));
    } else {
      alts.push_back(b_.seq({digits(1, 9), any_digits(static_cast<int>(la))}));
    }
    return b_.alt(std::move(alts));
  }

  // Digit strings S (possibly empty when may_be_empty) with 0.S >= 0.f (> when strict).
  ExprId at_least(const std::string& f, bool strict, bool may_be_empty) {
    if (f.empty()) {
      if (strict) return b_.seq({any_digits(0), digits(1, 9), any_digits(0)});
      return any_digits(may_be_empty ? 0 : 1);
    }
    const int d = f[0] - '0';
    std::vector<ExprId> alts;
    if (d < 9) alts.push_back(b_.seq({digits(d + 1, 9), any_digits(0)}));
    alts.push_back(b_.seq({digit(f[0]), at_least(f.substr(1), strict, true)}));
    return b_.alt(std::move(alts));
  }

  // Digit strings S with 0.S <= 0.f (< when strict).
  ExprId at_most(const std::string& f, bool strict, bool may_be_empty) {
    if (f.empty()) return strict ? nothing() : b_.repeat(digit('0'), may_be_empty ? 0 : 1, kUnbounded);
    const int d = f[0] - '0';
    std::vector<ExprId> alts;
    if (may_be_empty) alts.push_back(b_.empty());
    if (d > 0) alts.push_back(b_.seq({digits(0, d - 1), any_digits(0)}));
    alts.push_back(b_.seq({digit(f[0]), at_most(f.substr(1), strict, true)}));
    return b_.alt(std::move(alts));
  }

  // Digit strings S with 0.lo <= 0.S <= 0.hi (strict ends as asked); 0.lo < 0.hi.
  ExprId between(const std::string& lo, bool lo_strict, const std::string& hi, bool hi_strict, bool may_be_empty) {
    const char l = lo.empty() ? '0' : lo[0], h = hi[0];
    const std::string lr = lo.empty() ? "" : lo.substr(1), hr = hi.substr(1);
    std::vector<ExprId> alts;
    if (may_be_empty && lo.empty() && !lo_strict) alts.push_back(b_.empty());
    if (l == h) {
      alts.push_back(b_.seq({digit(l), between(lr, lo_strict, hr, hi_strict, true)}));
    } else {
      alts.push_back(b_.seq({digit(l), at_least(lr, lo_strict, true)}));
      if (l + 1 <= h - 1) alts.push_back(b_.seq({digits(l - '0' + 1, h - '0' - 1), any_digits(0)}));
      alts.push_back(b_.seq({digit(h), at_most(hr, hi_strict, true)}));
    }
    return b_.alt(std::move(alts));
  }

  ExprId fraction(ExprId digits_expr) { return b_.seq({b_.literal("."), digits_expr}); }

  // Non-negative numbers x, A <= x (< when a_strict), x <= B (< when b_strict) or
  // unbounded above; the range is not empty.
  ExprId non_negative(const Decimal& a, bool a_strict, const Decimal* b, bool b_strict) {
    const std::string &ai = a.int_digits, &af = a.frac_digits;
    auto from_a = [&] {  // integer part a: the fraction at least a's
      std::vector<ExprId> alts;
      if (af.empty() && !a_strict) alts.push_back(b_.empty());
      alts.push_back(fraction(at_least(af, a_strict, false)));
      return b_.seq({b_.literal(ai), b_.alt(std::move(alts))});
    };
    const ExprId any_fraction = b_.optional(fraction(any_digits(1)));
    if (b == nullptr) {
      const std::string next = increment(ai);
      return b_.alt({from_a(), b_.seq({uint_range(next, nullptr), any_fraction})});
    }
    const std::string &bi = b->int_digits, &bf = b->frac_digits;
    if (ai == bi) {
      if (af == bf) {  // a single value (both ends inclusive)
        const ExprId zeros = af.empty() ? b_.optional(fraction(b_.repeat(digit('0'), 1, kUnbounded)))
                                        : fraction(b_.seq({b_.literal(af), b_.repeat(digit('0'), 0, kUnbounded)}));
        return b_.seq({b_.literal(ai), zeros});
      }
      std::vector<ExprId> alts;
      if (af.empty() && !a_strict) alts.push_back(b_.empty());
      alts.push_back(fraction(between(af, a_strict, bf, b_strict, false)));
      return b_.seq({b_.literal(ai), b_.alt(std::move(alts))});
    }
    std::vector<ExprId> alts{from_a()};
    const std::string next = increment(ai), prev = decrement(bi);
    if (compare_digits(next, prev) <= 0) alts.push_back(b_.seq({uint_range(next, &prev), any_fraction}));
    std::vector<ExprId> to_b;
    if (!(b_strict && bf.empty())) to_b.push_back(b_.empty());
    to_b.push_back(fraction(at_most(bf, b_strict, false)));
    alts.push_back(b_.seq({b_.literal(bi), b_.alt(std::move(to_b))}));
    return b_.alt(std::move(alts));
  }

 private:
  GrammarBuilder& b_;
};

std::string magnitude_digits(int64_t v) {
  const uint64_t m = v < 0 ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  return std::to_string(m);
}

}  // namespace

ExprId integer_range(GrammarBuilder& b, std::optional<int64_t> lo, std::optional<int64_t> hi) {
  Numbers n(b);
  std::vector<ExprId> alts;
  if (!hi || *hi >= 0) {
    const std::string from = magnitude_digits(lo ? std::max<int64_t>(*lo, 0) : 0);
    const std::string to = hi ? magnitude_digits(*hi) : "";
    if (!hi || compare_digits(from, to) <= 0) alts.push_back(n.uint_range(from, hi ? &to : nullptr));
  }
  if (!lo || *lo < 0) {
    const std::string from = (hi && *hi < 0) ? magnitude_digits(*hi) : "1";
    const std::string to = lo ? magnitude_digits(*lo) : "";
    if (!lo || compare_digits(from, to) <= 0)
      alts.push_back(b.seq({b.literal("-"), n.uint_range(from, lo ? &to : nullptr)}));
  }
  return b.alt(std::move(alts));
}

ExprId number_range(GrammarBuilder& b, const std::optional<NumberBound>& lo, const std::optional<NumberBound>& hi) {
  Numbers n(b);
  std::vector<ExprId> alts;
  if (!hi || hi->value > 0 || (hi->value == 0 && !hi->exclusive)) {
    const bool from_lo = lo && lo->value >= 0;
    const Decimal a = decimal_of(from_lo ? lo->value : 0.0);
    const Decimal top = hi ? decimal_of(hi->value) : Decimal{};
    alts.push_back(n.non_negative(a, from_lo && lo->exclusive, hi ? &top : nullptr, hi && hi->exclusive));
  }
  if (!lo || lo->value < 0) {  // -x for magnitudes x > 0
    const bool from_hi = hi && hi->value < 0;
    const Decimal a = decimal_of(from_hi ? -hi->value : 0.0);
    const Decimal top = lo ? decimal_of(-lo->value) : Decimal{};
    alts.push_back(b.seq({b.literal("-"), n.non_negative(a, from_hi ? hi->exclusive : true, lo ? &top : nullptr,
                                                          lo && lo->exclusive)}));
  }
  return b.alt(std::move(alts));
}

ExprId any_number(GrammarBuilder& b) {
  Numbers n(b);
  const ExprId int_part = b.alt({n.digit('0'), b.seq({n.digits(1, 9), n.any_digits(0)})});
  const ExprId frac = b.optional(b.seq({b.literal("."), n.any_digits(1)}));
  // At most two exponent digits: every text then parses to a finite double.
  const ExprId exp = b.optional(b.seq({b.alt({b.literal("e"), b.literal("E")}),
                                       b.optional(b.alt({b.literal("+"), b.literal("-")})),
                                       b.repeat(n.digits(0, 9), 1, 2)}));
  return b.seq({b.optional(b.literal("-")), int_part, frac, exp});
}

}  // namespace sb::constrain
