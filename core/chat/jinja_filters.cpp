// Filters (`x | name(args)`) and tests (`x is name args`) of the template
// language, with Jinja2's meaning; tojson follows Hugging Face's override
// (json.dumps without HTML escaping). Case mapping is ASCII only.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "core/chat/jinja_builtins.h"

namespace sb::jinja {
namespace {

// Argument `i`, or keyword `name`, or nullptr.
const Value* arg(const CallArgs& a, size_t i, std::string_view name) {
  for (const auto& [k, v] : a.kwargs) {
    if (k == name) return &v;
  }
  return i < a.args.size() ? &a.args[i] : nullptr;
}

Status need_string(std::string_view filter, const Value& v) {
  if (v.is_string()) return ok_status();
  return invalid_argument("filter '" + std::string(filter) + "' needs a string, not " + v.type_name());
}

std::string ascii_case(std::string s, bool upper) {
  for (char& c : s) {
    if (upper && c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (!upper && c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// x.a.b for mappings (map(attribute=...), selectattr, join(attribute=...), sort(attribute=...)).
Value attribute_path(const Value& v, std::string_view path) {
  Value cur = v;
  while (true) {
    const size_t dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    if (!cur.is_mapping()) return Value();
    const Value* next = cur.as_dict().find(part);
    if (!next) return Value();
    cur = *next;
    if (dot == std::string_view::npos) return cur;
    path.remove_prefix(dot + 1);
  }
}

StatusOr<Value> replace(const std::string& s, const CallArgs& a, Budget& budget) {
  const Value* from = arg(a, 0, "old");
  const Value* to = arg(a, 1, "new");
  const Value* count = arg(a, 2, "count");
  if (!from || !to || !from->is_string() || !to->is_string()) return invalid_argument("replace() needs two strings");
  int64_t left = count && count->is_int() ? count->as_int() : -1;
  const std::string& f = from->as_string();
  const std::string& t = to->as_string();
  std::string out;
  size_t pos = 0;
  if (f.empty()) {  // Python inserts `t` around every character
    for (std::string_view c : utf8_chars(s)) {
      if (left != 0) {
        out += t;
        if (left > 0) --left;
      }
      out += c;
      SB_RETURN_IF_ERROR(budget.check_size(out.size()));
    }
    if (left != 0) out += t;
  } else {
    for (size_t hit = s.find(f); hit != std::string::npos && left != 0; hit = s.find(f, pos), --left) {
      out.append(s, pos, hit - pos);
      out += t;
      pos = hit + f.size();
      SB_RETURN_IF_ERROR(budget.check_size(out.size()));
    }
    out.append(s, pos);
  }
  SB_RETURN_IF_ERROR(budget.check_size(out.size()));
  SB_RETURN_IF_ERROR(budget.charge(out.size()));
  return Value::string(std::move(out));
}

StatusOr<Value> join(const Value& input, const CallArgs& a, Budget& budget) {
  const Value* sep = arg(a, 0, "d");
  const Value* attribute = arg(a, 1, "attribute");
  SB_ASSIGN_OR_RETURN(List items, iterate(input));
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i && sep) out += sep->str();
    out += attribute && attribute->is_string() ? attribute_path(items[i], attribute->as_string()).str() : items[i].str();
    SB_RETURN_IF_ERROR(budget.check_size(out.size()));
  }
  SB_RETURN_IF_ERROR(budget.charge(out.size()));
  return Value::string(std::move(out));
}

// selectattr / rejectattr / select / reject: keep items whose (attribute's) test passes (or fails).
StatusOr<Value> select(const Value& input, const CallArgs& a, bool by_attribute, bool keep, Budget& budget) {
  SB_ASSIGN_OR_RETURN(List items, iterate(input));
  size_t first = 0;
  std::string attribute;
  if (by_attribute) {
    if (a.args.empty() || !a.args[0].is_string()) return invalid_argument("selectattr() needs an attribute name");
    attribute = a.args[0].as_string();
    first = 1;
  }
  std::string test;
  if (a.args.size() > first) {
    if (!a.args[first].is_string()) return invalid_argument("select() test name must be a string");
    test = a.args[first].as_string();
  }
  CallArgs test_args;
  for (size_t i = first + 1; i < a.args.size(); ++i) test_args.args.push_back(a.args[i]);
  List out;
  for (const Value& item : items) {
    SB_RETURN_IF_ERROR(budget.charge());
    const Value subject = by_attribute ? attribute_path(item, attribute) : item;
    bool pass = subject.truthy();
    if (!test.empty()) {
      SB_ASSIGN_OR_RETURN(pass, apply_test(test, subject, test_args));
    }
    if (pass == keep) out.push_back(item);
  }
  return Value::list(std::move(out));
}

StatusOr<Value> map(const Value& input, const CallArgs& a, Budget& budget) {
  SB_ASSIGN_OR_RETURN(List items, iterate(input));
  const Value* attribute = arg(a, SIZE_MAX, "attribute");
  const Value* dflt = arg(a, SIZE_MAX, "default");
  List out;
  if (attribute) {
    if (!attribute->is_string()) return invalid_argument("map(attribute=...) needs a string");
    for (const Value& item : items) {
      Value v = attribute_path(item, attribute->as_string());
      out.push_back(v.is_undefined() && dflt ? *dflt : v);
    }
    return Value::list(std::move(out));
  }
  if (a.args.empty() || !a.args[0].is_string()) return invalid_argument("map() needs a filter name or attribute=");
  CallArgs filter_args;
  filter_args.args.assign(a.args.begin() + 1, a.args.end());
  for (const Value& item : items) {
    SB_ASSIGN_OR_RETURN(Value v, apply_filter(a.args[0].as_string(), item, filter_args, budget));
    out.push_back(std::move(v));
  }
  return Value::list(std::move(out));
}

StatusOr<Value> sort(const Value& input, const CallArgs& a, Budget& budget) {
  SB_ASSIGN_OR_RETURN(List items, iterate(input));
  const Value* reverse = arg(a, 0, "reverse");
  const Value* attribute = arg(a, 2, "attribute");
  SB_RETURN_IF_ERROR(budget.charge(items.size() * 8));
  Status failed;
  const auto key = [&](const Value& v) {
    return attribute && attribute->is_string() ? attribute_path(v, attribute->as_string()) : v;
  };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    auto lt = less_than(key(x), key(y));
    if (!lt.ok()) {
      failed = lt.status();
      return false;
    }
    return *lt;
  });
  SB_RETURN_IF_ERROR(failed);
  if (reverse && reverse->truthy()) std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

StatusOr<Value> to_number(const Value& input, const CallArgs& a, bool integer) {
  const Value* dflt = arg(a, 0, "default");
  const Value fallback = dflt ? *dflt : integer ? Value::integer(0) : Value::number(0.0);
  if (input.kind() == ValueKind::kBool || input.is_int()) {
    return integer ? Value::integer(input.as_int()) : Value::number(input.as_float());
  }
  if (input.kind() == ValueKind::kFloat) {
    const double f = input.as_float();
    if (!integer) return input;
    if (!std::isfinite(f) || std::fabs(f) >= 9.2e18) return fallback;
    return Value::integer(static_cast<int64_t>(f));
  }
  if (!input.is_string()) return fallback;
  const std::string& s = input.as_string();
  const char* begin = s.c_str();
  char* end = nullptr;
  if (integer) {
    errno = 0;
    const long long v = std::strtoll(begin, &end, 10);
    if (end != begin && *end == '\0' && errno == 0) return Value::integer(v);
  }
  const double f = std::strtod(begin, &end);
  if (end == begin || *end != '\0') return fallback;
  if (!integer) return Value::number(f);
  if (!std::isfinite(f) || std::fabs(f) >= 9.2e18) return fallback;
  return Value::integer(static_cast<int64_t>(f));
}

StatusOr<Value> indent(const std::string& s, const CallArgs& a, Budget& budget) {
  const Value* width = arg(a, 0, "width");
  const Value* first = arg(a, 1, "first");
  const Value* blank = arg(a, 2, "blank");
  std::string pad = width && width->is_string() ? width->as_string()
                                                : std::string(width && width->is_int() ? std::clamp<int64_t>(width->as_int(), 0, 256) : 4, ' ');
  std::string out;
  size_t pos = 0;
  bool first_line = true;
  while (pos <= s.size()) {
    const size_t nl = s.find('\n', pos);
    const std::string_view line = std::string_view(s).substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if ((!first_line || (first && first->truthy())) && (!line.empty() || (blank && blank->truthy()))) out += pad;
    out += line;
    SB_RETURN_IF_ERROR(budget.check_size(out.size()));
    if (nl == std::string::npos) break;
    out += '\n';
    pos = nl + 1;
    first_line = false;
  }
  SB_RETURN_IF_ERROR(budget.charge(out.size()));
  return Value::string(std::move(out));
}

}  // namespace

StatusOr<Value> apply_filter(std::string_view name, const Value& input, const CallArgs& a, Budget& budget) {
  SB_RETURN_IF_ERROR(budget.charge());
  if (name == "default" || name == "d") {
    const Value* dflt = arg(a, 0, "default_value");
    const Value* boolean = arg(a, 1, "boolean");
    const bool use_default = input.is_undefined() || (boolean && boolean->truthy() && !input.truthy());
    return use_default ? (dflt ? *dflt : Value::string("")) : input;
  }
  if (name == "length" || name == "count") {
    switch (input.kind()) {
      case ValueKind::kUndefined: return Value::integer(0);
      case ValueKind::kString: return Value::integer(static_cast<int64_t>(utf8_chars(input.as_string()).size()));
      case ValueKind::kList: return Value::integer(static_cast<int64_t>(input.as_list().size()));
      case ValueKind::kDict:
      case ValueKind::kNamespace: return Value::integer(static_cast<int64_t>(input.as_dict().items.size()));
      default: return invalid_argument(std::string("a ") + input.type_name() + " has no length");
    }
  }
  if (name == "tojson") {
    const Value* ind = arg(a, 0, "indent");
    const Value* sort_keys = arg(a, SIZE_MAX, "sort_keys");
    for (const auto& kw : a.kwargs) {
      if (kw.first != "indent" && kw.first != "sort_keys" && kw.first != "ensure_ascii") {
        return invalid_argument("tojson() has no argument '" + kw.first + "'");
      }
    }
    const int indent_n = ind && ind->is_int() ? static_cast<int>(std::clamp<int64_t>(ind->as_int(), 0, 64)) : -1;
    SB_ASSIGN_OR_RETURN(std::string json, to_json(input, indent_n, sort_keys && sort_keys->truthy()));
    SB_RETURN_IF_ERROR(budget.check_size(json.size()));
    SB_RETURN_IF_ERROR(budget.charge(json.size()));
    return Value::string(std::move(json));
  }
  if (name == "string") return Value::string(input.str());
  if (name == "safe") return input;
  if (name == "int" || name == "float") return to_number(input, a, name == "int");
  if (name == "list") {
    SB_ASSIGN_OR_RETURN(List items, iterate(input));
    return Value::list(std::move(items));
  }
  if (name == "items") {
    if (input.is_undefined()) return Value::list({});
    if (!input.is_mapping()) return invalid_argument(std::string("items() needs a mapping, not ") + input.type_name());
    return call_method(input, "items", CallArgs{}, budget);
  }
  if (name == "first" || name == "last") {
    SB_ASSIGN_OR_RETURN(List items, iterate(input));
    if (items.empty()) return Value();
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (input.is_string()) return slice(input, std::nullopt, std::nullopt, -1);
    SB_ASSIGN_OR_RETURN(List items, iterate(input));
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "join") return join(input, a, budget);
  if (name == "map") return map(input, a, budget);
  if (name == "sort") return sort(input, a, budget);
  if (name == "selectattr" || name == "rejectattr") return select(input, a, true, name == "selectattr", budget);
  if (name == "select" || name == "reject") return select(input, a, false, name == "select", budget);
  if (name == "abs") {
    if (input.is_int()) {
      if (input.as_int() == INT64_MIN) return invalid_argument("integer overflow in abs");
      return Value::integer(std::llabs(input.as_int()));
    }
    if (input.kind() == ValueKind::kFloat) return Value::number(std::fabs(input.as_float()));
    return invalid_argument(std::string("abs() needs a number, not ") + input.type_name());
  }
  // The rest work on strings.
  if (name == "trim" || name == "upper" || name == "lower" || name == "capitalize" || name == "title" ||
      name == "replace" || name == "indent") {
    SB_RETURN_IF_ERROR(need_string(name, input));
  } else {
    return invalid_argument("unknown filter '" + std::string(name) + "'");
  }
  const std::string& s = input.as_string();
  if (name == "trim") {
    const Value* chars = arg(a, 0, "chars");
    CallArgs strip_args;
    if (chars) strip_args.args.push_back(*chars);
    return call_method(input, "strip", strip_args, budget);
  }
  if (name == "upper" || name == "lower") return Value::string(ascii_case(s, name == "upper"));
  if (name == "capitalize") {
    std::string out = ascii_case(s, false);
    if (!out.empty()) out[0] = ascii_case(out.substr(0, 1), true)[0];
    return Value::string(std::move(out));
  }
  if (name == "title") {
    std::string out = s;
    bool prev_alpha = false;
    for (char& c : out) {
      c = ascii_case(std::string(1, c), !prev_alpha)[0];
      prev_alpha = is_alpha(c);
    }
    return Value::string(std::move(out));
  }
  if (name == "replace") return replace(s, a, budget);
  return indent(s, a, budget);
}

StatusOr<bool> apply_test(std::string_view name, const Value& v, const CallArgs& a) {
  const auto other = [&]() -> StatusOr<Value> {
    if (a.args.size() != 1) return invalid_argument("test '" + std::string(name) + "' needs one argument");
    return a.args[0];
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.kind() == ValueKind::kBool;
  if (name == "true") return v.kind() == ValueKind::kBool && v.as_bool();
  if (name == "false") return v.kind() == ValueKind::kBool && !v.as_bool();
  if (name == "string") return v.is_string();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.kind() == ValueKind::kFloat;
  if (name == "mapping") return v.is_mapping();
  if (name == "iterable") return v.is_list() || v.is_string() || v.is_dict();
  if (name == "sequence") return v.is_list() || v.is_string() || v.is_dict();
  if (name == "callable") return v.kind() == ValueKind::kMacro;
  if (name == "odd" || name == "even") {
    if (!v.is_int()) return invalid_argument(std::string("test '") + std::string(name) + "' needs an integer");
    return (v.as_int() % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    SB_ASSIGN_OR_RETURN(Value d, other());
    if (!v.is_int() || !d.is_int() || d.as_int() == 0) return invalid_argument("divisibleby needs non-zero integers");
    return d.as_int() == -1 || v.as_int() % d.as_int() == 0;  // INT64_MIN % -1 traps
  }
  if (name == "in") {
    SB_ASSIGN_OR_RETURN(Value d, other());
    return contains(d, v);
  }
  static constexpr std::pair<std::string_view, std::string_view> kCompare[] = {
      {"eq", "=="}, {"equalto", "=="}, {"==", "=="}, {"ne", "!="}, {"!=", "!="}, {"lt", "<"}, {"lessthan", "<"},
      {"<", "<"},   {"le", "<="},      {"<=", "<="}, {"gt", ">"},  {">", ">"},   {"greaterthan", ">"},
      {"ge", ">="}, {">=", ">="},
  };
  for (const auto& [test, op] : kCompare) {
    if (name != test) continue;
    SB_ASSIGN_OR_RETURN(Value d, other());
    if (op == "==") return v.equals(d);
    if (op == "!=") return !v.equals(d);
    if (op == "<") return less_than(v, d);
    if (op == ">") return less_than(d, v);
    SB_ASSIGN_OR_RETURN(bool lt, less_than(op == "<=" ? d : v, op == "<=" ? v : d));
    return !lt;
  }
  return invalid_argument("unknown test '" + std::string(name) + "'");
}

}  // namespace sb::jinja
