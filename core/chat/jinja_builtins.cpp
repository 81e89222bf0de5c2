// Operators, subscripts, slicing, iteration, string/dict methods and global
// functions of the template language. Filters and tests: jinja_filters.cpp.
#include "core/chat/jinja_builtins.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace sb::jinja {

Status Budget::charge(size_t bytes) {
  work_ += 1 + static_cast<int64_t>(bytes / 64);
  if (work_ > limits_.max_work) {
    return invalid_argument("the template did too much work (more than " + std::to_string(limits_.max_work) +
                            " steps); is it looping forever?");
  }
  return ok_status();
}

Status Budget::check_size(size_t bytes, size_t items) const {
  if (bytes > limits_.max_output_bytes) {
    return invalid_argument("a string of " + std::to_string(bytes) + " bytes is over the limit of " +
                            std::to_string(limits_.max_output_bytes));
  }
  if (items > limits_.max_items) {
    return invalid_argument("a list of " + std::to_string(items) + " items is over the limit of " +
                            std::to_string(limits_.max_items));
  }
  return ok_status();
}

namespace {

// |step| without overflow (step may be INT64_MIN).
uint64_t step_magnitude(int64_t step) {
  return step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
}

// base + k * step in wrapping 64-bit arithmetic: exact whenever the true value fits int64.
int64_t offset_by(int64_t base, uint64_t k, int64_t step) {
  return static_cast<int64_t>(static_cast<uint64_t>(base) + k * static_cast<uint64_t>(step));
}

bool is_numeric(const Value& v) { return v.is_number() || v.kind() == ValueKind::kBool; }
bool is_float(const Value& v) { return v.kind() == ValueKind::kFloat; }

Status type_error(std::string_view op, const Value& a, const Value& b) {
  return invalid_argument("unsupported operand types for " + std::string(op) + ": " + a.type_name() + " and " +
                          b.type_name());
}

// Python's floor division and modulo on integers.
int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

StatusOr<Value> repeat(const Value& seq, int64_t n, Budget& budget) {
  const size_t count = n > 0 ? static_cast<size_t>(n) : 0;
  if (seq.is_string()) {
    const std::string& s = seq.as_string();
    if (!s.empty() && count > budget.limits().max_output_bytes / s.size() + 1) return budget.check_size(SIZE_MAX);
    SB_RETURN_IF_ERROR(budget.check_size(s.size() * count));
    SB_RETURN_IF_ERROR(budget.charge(s.size() * count));
    std::string out;
    out.reserve(s.size() * count);
    for (size_t i = 0; i < count; ++i) out += s;
    return Value::string(std::move(out));
  }
  const List& l = seq.as_list();
  if (!l.empty() && count > budget.limits().max_items / l.size() + 1) return budget.check_size(0, SIZE_MAX);
  SB_RETURN_IF_ERROR(budget.check_size(0, l.size() * count));
  SB_RETURN_IF_ERROR(budget.charge(l.size() * count * 8));
  List out;
  out.reserve(l.size() * count);
  for (size_t i = 0; i < count; ++i) out.insert(out.end(), l.begin(), l.end());
  return Value::list(std::move(out));
}

StatusOr<Value> arithmetic(std::string_view op, const Value& a, const Value& b) {
  if (!is_numeric(a) || !is_numeric(b)) return type_error(op, a, b);
  if (op == "/") {
    if (b.as_float() == 0) return invalid_argument("division by zero");
    return Value::number(a.as_float() / b.as_float());
  }
  if (is_float(a) || is_float(b)) {
    const double x = a.as_float(), y = b.as_float();
    if (op == "+") return Value::number(x + y);
    if (op == "-") return Value::number(x - y);
    if (op == "*") return Value::number(x * y);
    if (op == "**") return Value::number(std::pow(x, y));
    if (y == 0) return invalid_argument("division by zero");
    if (op == "//") return Value::number(std::floor(x / y));
    const double m = std::fmod(x, y);
    return Value::number(m != 0 && ((m < 0) != (y < 0)) ? m + y : m);
  }
  const int64_t x = a.as_int(), y = b.as_int();
  int64_t r = 0;
  const Status overflow = invalid_argument("integer overflow in " + std::string(op));
  if (op == "+") {
    if (__builtin_add_overflow(x, y, &r)) return overflow;
  } else if (op == "-") {
    if (__builtin_sub_overflow(x, y, &r)) return overflow;
  } else if (op == "*") {
    if (__builtin_mul_overflow(x, y, &r)) return overflow;
  } else if (op == "**") {
    if (y < 0) return Value::number(std::pow(static_cast<double>(x), static_cast<double>(y)));
    if (x == 0 || x == 1) return Value::integer(y == 0 ? 1 : x);
    if (x == -1) return Value::integer(y % 2 == 0 ? 1 : -1);
    r = 1;  // |x| >= 2: overflows within 63 steps
    for (int64_t i = 0; i < y; ++i) {
      if (__builtin_mul_overflow(r, x, &r)) return overflow;
    }
  } else {
    if (y == 0) return invalid_argument("division by zero");
    if (x == std::numeric_limits<int64_t>::min() && y == -1) return overflow;
    const int64_t q = floor_div(x, y);
    r = op == "//" ? q : x - q * y;
  }
  return Value::integer(r);
}

}  // namespace

StatusOr<Value> binary_op(std::string_view op, const Value& a, const Value& b, Budget& budget) {
  if (op == "~") {
    std::string s = a.str() + b.str();
    SB_RETURN_IF_ERROR(budget.check_size(s.size()));
    SB_RETURN_IF_ERROR(budget.charge(s.size()));
    return Value::string(std::move(s));
  }
  if (op == "==") return Value::boolean(a.equals(b));
  if (op == "!=") return Value::boolean(!a.equals(b));
  if (op == "<" || op == ">=") {
    SB_ASSIGN_OR_RETURN(bool lt, less_than(a, b));
    return Value::boolean(op == "<" ? lt : !lt);
  }
  if (op == ">" || op == "<=") {
    SB_ASSIGN_OR_RETURN(bool gt, less_than(b, a));
    return Value::boolean(op == ">" ? gt : !gt);
  }
  if (op == "in" || op == "not in") {
    SB_ASSIGN_OR_RETURN(bool in, contains(b, a));
    return Value::boolean(op == "in" ? in : !in);
  }
  if (op == "+" && a.is_string() && b.is_string()) {
    const size_t n = a.as_string().size() + b.as_string().size();
    SB_RETURN_IF_ERROR(budget.check_size(n));
    SB_RETURN_IF_ERROR(budget.charge(n));
    return Value::string(a.as_string() + b.as_string());
  }
  if (op == "+" && a.is_list() && b.is_list()) {
    const size_t n = a.as_list().size() + b.as_list().size();
    SB_RETURN_IF_ERROR(budget.check_size(0, n));
    SB_RETURN_IF_ERROR(budget.charge(n * 8));
    List out = a.as_list();
    out.insert(out.end(), b.as_list().begin(), b.as_list().end());
    return Value::list(std::move(out));
  }
  if (op == "*" && (a.is_string() || a.is_list()) && (b.is_int() || b.kind() == ValueKind::kBool)) {
    return repeat(a, b.as_int(), budget);
  }
  if (op == "*" && (b.is_string() || b.is_list()) && (a.is_int() || a.kind() == ValueKind::kBool)) {
    return repeat(b, a.as_int(), budget);
  }
  return arithmetic(op, a, b);
}

StatusOr<bool> contains(const Value& haystack, const Value& needle) {
  switch (haystack.kind()) {
    case ValueKind::kUndefined: return false;
    case ValueKind::kString:
      if (!needle.is_string()) return invalid_argument(std::string("'in <string>' needs a string, not ") + needle.type_name());
      return haystack.as_string().find(needle.as_string()) != std::string::npos;
    case ValueKind::kList:
      for (const Value& v : haystack.as_list()) {
        if (v.equals(needle)) return true;
      }
      return false;
    case ValueKind::kDict:
    case ValueKind::kNamespace:
      return needle.is_string() && haystack.as_dict().find(needle.as_string()) != nullptr;
    default: return invalid_argument(std::string("a ") + haystack.type_name() + " cannot be searched with 'in'");
  }
}

StatusOr<List> iterate(const Value& v) {
  switch (v.kind()) {
    case ValueKind::kUndefined: return List{};
    case ValueKind::kList: return v.as_list();
    case ValueKind::kString: {
      List out;
      for (std::string_view c : utf8_chars(v.as_string())) out.push_back(Value::string(std::string(c)));
      return out;
    }
    case ValueKind::kDict: {
      List out;
      for (const auto& kv : v.as_dict().items) out.push_back(Value::string(kv.first));
      return out;
    }
    default: return invalid_argument(std::string("a ") + v.type_name() + " is not iterable");
  }
}

Value subscript(const Value& v, const Value& key) {
  if (v.is_mapping()) {
    if (!key.is_string()) return Value();
    const Value* found = v.as_dict().find(key.as_string());
    return found ? *found : Value();
  }
  if (!key.is_int()) return Value();
  int64_t i = key.as_int();
  if (v.is_list()) {
    const List& l = v.as_list();
    if (i < 0) i += static_cast<int64_t>(l.size());
    if (i < 0 || i >= static_cast<int64_t>(l.size())) return Value();
    return l[static_cast<size_t>(i)];
  }
  if (v.is_string()) {
    const std::vector<std::string_view> chars = utf8_chars(v.as_string());
    if (i < 0) i += static_cast<int64_t>(chars.size());
    if (i < 0 || i >= static_cast<int64_t>(chars.size())) return Value();
    return Value::string(std::string(chars[static_cast<size_t>(i)]));
  }
  return Value();
}

StatusOr<Value> slice(const Value& v, std::optional<int64_t> start, std::optional<int64_t> stop,
                      std::optional<int64_t> step) {
  const int64_t st = step.value_or(1);
  if (st == 0) return invalid_argument("slice step cannot be zero");
  std::vector<std::string_view> chars;
  int64_t n = 0;
  if (v.is_string()) {
    chars = utf8_chars(v.as_string());
    n = static_cast<int64_t>(chars.size());
  } else if (v.is_list()) {
    n = static_cast<int64_t>(v.as_list().size());
  } else {
    return invalid_argument(std::string("a ") + v.type_name() + " cannot be sliced");
  }
  // Python's rules: negative indexes count from the end, then clamp.
  const auto clamp = [&](std::optional<int64_t> x, int64_t dflt) {
    if (!x) return dflt;
    int64_t i = *x;
    if (i < 0) i += n;
    if (st > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t b = clamp(start, st > 0 ? 0 : n - 1);
  const int64_t e = clamp(stop, st > 0 ? n : -1);
  // Picks b, b + st, ... short of e, counted first: i += st could overflow for a huge step.
  const uint64_t span = st > 0 ? (b < e ? static_cast<uint64_t>(e - b) : 0) : (b > e ? static_cast<uint64_t>(b - e) : 0);
  const uint64_t count = span == 0 ? 0 : (span - 1) / step_magnitude(st) + 1;
  std::vector<size_t> picks;
  for (uint64_t k = 0; k < count; ++k) picks.push_back(static_cast<size_t>(offset_by(b, k, st)));
  if (v.is_string()) {
    std::string out;
    for (size_t i : picks) out += chars[i];
    return Value::string(std::move(out));
  }
  List out;
  out.reserve(picks.size());
  for (size_t i : picks) out.push_back(v.as_list()[i]);
  return Value::list(std::move(out));
}

// ---------------------------------------------------------------- methods

namespace {

constexpr std::string_view kWhitespace = " \t\n\r\f\v";

Status arg_count(std::string_view what, const CallArgs& a, size_t lo, size_t hi) {
  if (a.args.size() < lo || a.args.size() > hi || !a.kwargs.empty()) {
    return invalid_argument(std::string(what) + "() takes " +
                            (lo == hi ? std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi)) +
                            " positional arguments");
  }
  return ok_status();
}

StatusOr<std::string> string_arg(std::string_view what, const Value& v) {
  if (!v.is_string()) return invalid_argument(std::string(what) + "() needs a string, not " + v.type_name());
  return v.as_string();
}

// strip / lstrip / rstrip with Python's optional set of characters.
StatusOr<Value> strip(const std::string& s, const CallArgs& a, bool left, bool right) {
  SB_RETURN_IF_ERROR(arg_count("strip", a, 0, 1));
  std::string chars(kWhitespace);
  if (!a.args.empty() && !a.args[0].is_none()) {
    SB_ASSIGN_OR_RETURN(chars, string_arg("strip", a.args[0]));
  }
  size_t b = 0, e = s.size();
  if (left) {
    while (b < e && chars.find(s[b]) != std::string::npos) ++b;
  }
  if (right) {
    while (e > b && chars.find(s[e - 1]) != std::string::npos) --e;
  }
  return Value::string(s.substr(b, e - b));
}

StatusOr<Value> split(const std::string& s, const CallArgs& a, Budget& budget) {
  SB_RETURN_IF_ERROR(arg_count("split", a, 0, 2));
  int64_t max_split = -1;
  if (a.args.size() == 2) {
    if (!a.args[1].is_int()) return invalid_argument("split() maxsplit must be an integer");
    max_split = a.args[1].as_int();
  }
  List out;
  if (a.args.empty() || a.args[0].is_none()) {
    size_t i = s.find_first_not_of(kWhitespace);
    while (i != std::string::npos) {
      size_t j = s.find_first_of(kWhitespace, i);
      if (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split) j = std::string::npos;
      if (j == std::string::npos) {
        const size_t end = s.find_last_not_of(kWhitespace);
        out.push_back(Value::string(s.substr(i, end + 1 - i)));
        break;
      }
      out.push_back(Value::string(s.substr(i, j - i)));
      i = s.find_first_not_of(kWhitespace, j);
    }
  } else {
    SB_ASSIGN_OR_RETURN(std::string sep, string_arg("split", a.args[0]));
    if (sep.empty()) return invalid_argument("split() separator is empty");
    size_t i = 0;
    while (true) {
      const size_t j = s.find(sep, i);
      if (j == std::string::npos || (max_split >= 0 && static_cast<int64_t>(out.size()) == max_split)) {
        out.push_back(Value::string(s.substr(i)));
        break;
      }
      out.push_back(Value::string(s.substr(i, j - i)));
      i = j + sep.size();
    }
  }
  SB_RETURN_IF_ERROR(budget.charge(s.size()));
  SB_RETURN_IF_ERROR(budget.check_size(0, out.size()));
  return Value::list(std::move(out));
}

// startswith / endswith: the argument may be a string or a list of strings.
StatusOr<Value> affix(const std::string& s, const CallArgs& a, bool prefix) {
  SB_RETURN_IF_ERROR(arg_count(prefix ? "startswith" : "endswith", a, 1, 1));
  List options = a.args[0].is_list() ? a.args[0].as_list() : List{a.args[0]};
  for (const Value& o : options) {
    SB_ASSIGN_OR_RETURN(std::string x, string_arg(prefix ? "startswith" : "endswith", o));
    const bool hit = prefix ? s.starts_with(x) : s.ends_with(x);
    if (hit) return Value::boolean(true);
  }
  return Value::boolean(false);
}

}  // namespace

bool has_method(const Value& v, std::string_view name) {
  static constexpr std::string_view kString[] = {"startswith", "endswith", "strip",   "lstrip", "rstrip",
                                                 "split",      "upper",    "lower",   "replace", "find",
                                                 "count",      "join",     "title",   "capitalize"};
  static constexpr std::string_view kDict[] = {"items", "keys", "values", "get"};
  if (v.is_string()) return std::find(std::begin(kString), std::end(kString), name) != std::end(kString);
  if (v.is_mapping()) return std::find(std::begin(kDict), std::end(kDict), name) != std::end(kDict);
  return false;
}

StatusOr<Value> call_method(const Value& v, std::string_view name, const CallArgs& a, Budget& budget) {
  SB_RETURN_IF_ERROR(budget.charge());
  if (v.is_mapping()) {
    const Dict& d = v.as_dict();
    if (name == "get") {
      SB_RETURN_IF_ERROR(arg_count("get", a, 1, 2));
      const Value* found = a.args[0].is_string() ? d.find(a.args[0].as_string()) : nullptr;
      if (found) return *found;
      return a.args.size() == 2 ? a.args[1] : Value::none();
    }
    SB_RETURN_IF_ERROR(arg_count(name, a, 0, 0));
    List out;
    for (const auto& [k, val] : d.items) {
      if (name == "items") out.push_back(Value::list({Value::string(k), val}));
      else if (name == "keys") out.push_back(Value::string(k));
      else out.push_back(val);
    }
    return Value::list(std::move(out));
  }
  SB_CHECK(v.is_string());
  const std::string& s = v.as_string();
  if (name == "startswith" || name == "endswith") return affix(s, a, name == "startswith");
  if (name == "strip") return strip(s, a, true, true);
  if (name == "lstrip") return strip(s, a, true, false);
  if (name == "rstrip") return strip(s, a, false, true);
  if (name == "split") return split(s, a, budget);
  if (name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
    SB_RETURN_IF_ERROR(arg_count(name, a, 0, 0));
    CallArgs none;
    return apply_filter(name, v, none, budget);
  }
  if (name == "replace") {
    SB_RETURN_IF_ERROR(arg_count("replace", a, 2, 3));
    return apply_filter("replace", v, a, budget);
  }
  if (name == "find" || name == "count") {
    SB_RETURN_IF_ERROR(arg_count(name, a, 1, 1));
    SB_ASSIGN_OR_RETURN(std::string sub, string_arg(name, a.args[0]));
    if (name == "find") {
      const size_t at = s.find(sub);
      if (at == std::string::npos) return Value::integer(-1);
      return Value::integer(static_cast<int64_t>(utf8_chars(std::string_view(s).substr(0, at)).size()));
    }
    if (sub.empty()) return Value::integer(static_cast<int64_t>(utf8_chars(s).size()) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value::integer(n);
  }
  // join
  SB_RETURN_IF_ERROR(arg_count("join", a, 1, 1));
  CallArgs sep;
  sep.args.push_back(v);
  return apply_filter("join", a.args[0], sep, budget);
}

bool is_global_function(std::string_view name) { return name == "range" || name == "namespace" || name == "dict"; }

StatusOr<Value> call_global(std::string_view name, const CallArgs& a, Budget& budget) {
  SB_RETURN_IF_ERROR(budget.charge());
  if (name == "range") {
    if (a.args.empty() || a.args.size() > 3 || !a.kwargs.empty()) return invalid_argument("range() takes 1 to 3 integers");
    for (const Value& x : a.args) {
      if (!x.is_int()) return invalid_argument(std::string("range() needs integers, not ") + x.type_name());
    }
    const int64_t start = a.args.size() > 1 ? a.args[0].as_int() : 0;
    const int64_t stop = a.args.size() > 1 ? a.args[1].as_int() : a.args[0].as_int();
    const int64_t step = a.args.size() > 2 ? a.args[2].as_int() : 1;
    if (step == 0) return invalid_argument("range() step cannot be zero");
    // Exact in 64 bits: the span of two int64 fits a uint64, and every value produced lies in [start, stop).
    const uint64_t span = step > 0 ? (start < stop ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start) : 0)
                                   : (start > stop ? static_cast<uint64_t>(start) - static_cast<uint64_t>(stop) : 0);
    const uint64_t count = span == 0 ? 0 : (span - 1) / step_magnitude(step) + 1;
    if (count > budget.limits().max_items) return budget.check_size(0, SIZE_MAX);
    SB_RETURN_IF_ERROR(budget.charge(static_cast<size_t>(count) * 8));
    List out;
    for (uint64_t k = 0; k < count; ++k) out.push_back(Value::integer(offset_by(start, k, step)));
    return Value::list(std::move(out));
  }
  // namespace(...) and dict(...): a mapping from keyword arguments (and an optional mapping first).
  if (a.args.size() > 1 || (a.args.size() == 1 && !a.args[0].is_mapping())) {
    return invalid_argument(std::string(name) + "() takes keyword arguments and at most one mapping");
  }
  Dict d;
  if (!a.args.empty()) d = a.args[0].as_dict();
  for (const auto& [k, val] : a.kwargs) d.set(k, val);
  return name == "namespace" ? Value::ns(std::move(d)) : Value::dict(std::move(d));
}

}  // namespace sb::jinja
