// Template values: construction, Python semantics (truthiness, ==, <, str, repr),
// JSON out (tojson: the layout here, strings through formats' JSON writer) and
// JSON in (messages, kwargs, tools: simdjson's DOM turned into values).
#include "core/chat/jinja_value.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/tokenizer/unicode.h"
#include "formats/json_writer.h"

namespace sb::jinja {

const Value* Dict::find(std::string_view key) const {
  for (const auto& [k, v] : items) {
    if (k == key) return &v;
  }
  return nullptr;
}

void Dict::set(std::string key, Value value) {
  for (auto& [k, v] : items) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  items.emplace_back(std::move(key), std::move(value));
}

Value Value::none() { return Value(Storage(nullptr)); }
Value Value::boolean(bool b) { return Value(Storage(b)); }
Value Value::integer(int64_t i) { return Value(Storage(i)); }
Value Value::number(double f) { return Value(Storage(f)); }
Value Value::string(std::string s) { return Value(Storage(std::make_shared<const std::string>(std::move(s)))); }

Value Value::list(List items) {
  int depth = 0;
  bool holds_ns = false;
  for (const Value& v : items) {
    depth = std::max(depth, v.depth());
    holds_ns = holds_ns || v.holds_namespace();
  }
  return Value(Storage(std::make_shared<const List>(std::move(items))), depth + 1, holds_ns);
}

Value Value::dict(Dict d) {
  int depth = 0;
  bool holds_ns = false;
  for (const auto& kv : d.items) {
    depth = std::max(depth, kv.second.depth());
    holds_ns = holds_ns || kv.second.holds_namespace();
  }
  return Value(Storage(std::make_shared<const Dict>(std::move(d))), depth + 1, holds_ns);
}

Value Value::ns(Dict d) { return Value(Storage(std::make_shared<Dict>(std::move(d))), 0, true); }
Value Value::macro(std::shared_ptr<const Macro> m) { return Value(Storage(std::move(m))); }

bool Value::as_bool() const {
  SB_CHECK(kind() == ValueKind::kBool);
  return std::get<bool>(v_);
}
int64_t Value::as_int() const {
  if (kind() == ValueKind::kBool) return std::get<bool>(v_) ? 1 : 0;
  SB_CHECK(kind() == ValueKind::kInt);
  return std::get<int64_t>(v_);
}
double Value::as_float() const {
  if (kind() == ValueKind::kFloat) return std::get<double>(v_);
  return static_cast<double>(as_int());
}
const std::string& Value::as_string() const {
  SB_CHECK(is_string());
  return *std::get<std::shared_ptr<const std::string>>(v_);
}
const List& Value::as_list() const {
  SB_CHECK(is_list());
  return *std::get<std::shared_ptr<const List>>(v_);
}
const Dict& Value::as_dict() const {
  if (kind() == ValueKind::kNamespace) return *std::get<std::shared_ptr<Dict>>(v_);
  SB_CHECK(is_dict());
  return *std::get<std::shared_ptr<const Dict>>(v_);
}
Dict& Value::namespace_dict() const {
  SB_CHECK(kind() == ValueKind::kNamespace);
  return *std::get<std::shared_ptr<Dict>>(v_);
}
const std::shared_ptr<const Macro>& Value::as_macro() const {
  SB_CHECK(kind() == ValueKind::kMacro);
  return std::get<std::shared_ptr<const Macro>>(v_);
}

bool Value::truthy() const {
  switch (kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return false;
    case ValueKind::kBool: return as_bool();
    case ValueKind::kInt: return as_int() != 0;
    case ValueKind::kFloat: return as_float() != 0.0;
    case ValueKind::kString: return !as_string().empty();
    case ValueKind::kList: return !as_list().empty();
    case ValueKind::kDict: return !as_dict().items.empty();
    case ValueKind::kNamespace:
    case ValueKind::kMacro: return true;
  }
  return false;
}

namespace {

// Python's repr() of a float: the shortest digits that read back as the same
// double, written fixed when the decimal exponent is in [-4, 16) ("0.0001",
// "1e+16" is not), else as d.ddde+XX with at least two exponent digits.
std::string float_str(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), f, std::chars_format::scientific);
  const std::string_view s(buf, static_cast<size_t>(r.ptr - buf));  // "-d.ddde+XX"
  const size_t e = s.find('e');
  int exp = 0;
  std::from_chars(s.data() + e + (s[e + 1] == '+' ? 2 : 1), s.data() + s.size(), exp);
  std::string digits;
  for (char c : s.substr(0, e))
    if (c >= '0' && c <= '9') digits.push_back(c);
  std::string out = std::signbit(f) ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits[0];
    if (digits.size() > 1) {
      out += '.';
      out.append(digits, 1);
    }
    out += exp < 0 ? "e-" : "e+";
    const int abs_exp = exp < 0 ? -exp : exp;
    if (abs_exp < 10) out += '0';
    out += std::to_string(abs_exp);
    return out;
  }
  if (exp < 0) {
    out += "0.";
    out.append(static_cast<size_t>(-exp - 1), '0');
    out += digits;
    return out;
  }
  const size_t point = static_cast<size_t>(exp) + 1;  // digits before the point
  if (digits.size() <= point) {
    out += digits;
    out.append(point - digits.size(), '0');
    out += ".0";
    return out;
  }
  out.append(digits, 0, point);
  out += '.';
  out.append(digits, point);
  return out;
}

std::string string_repr(const std::string& s) {
  const char quote = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
  std::string out(1, quote);
  for (char c : s) {
    if (c == quote || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out.push_back(c);
    }
  }
  out.push_back(quote);
  return out;
}

}  // namespace

std::string Value::str() const {
  switch (kind()) {
    case ValueKind::kUndefined: return "";
    case ValueKind::kNone: return "None";
    case ValueKind::kBool: return as_bool() ? "True" : "False";
    case ValueKind::kInt: return std::to_string(as_int());
    case ValueKind::kFloat: return float_str(as_float());
    case ValueKind::kString: return as_string();
    case ValueKind::kList: {
      std::string out = "[";
      for (size_t i = 0; i < as_list().size(); ++i) out += (i ? ", " : "") + as_list()[i].repr();
      return out + "]";
    }
    case ValueKind::kDict: {
      std::string out = "{";
      bool first = true;
      for (const auto& [k, v] : as_dict().items) {
        out += (first ? "" : ", ") + string_repr(k) + ": " + v.repr();
        first = false;
      }
      return out + "}";
    }
    case ValueKind::kNamespace: return "<Namespace>";
    case ValueKind::kMacro: return "<Macro>";
  }
  return "";
}

std::string Value::repr() const { return is_string() ? string_repr(as_string()) : str(); }

bool Value::equals(const Value& o) const {
  const bool num_a = is_number() || kind() == ValueKind::kBool;
  const bool num_b = o.is_number() || o.kind() == ValueKind::kBool;
  if (num_a && num_b) {
    if (kind() != ValueKind::kFloat && o.kind() != ValueKind::kFloat) return as_int() == o.as_int();
    return as_float() == o.as_float();
  }
  if (kind() != o.kind()) return false;
  switch (kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone: return true;
    case ValueKind::kString: return as_string() == o.as_string();
    case ValueKind::kList: {
      const List& a = as_list();
      const List& b = o.as_list();
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].equals(b[i])) return false;
      }
      return true;
    }
    case ValueKind::kDict: {
      const Dict& a = as_dict();
      const Dict& b = o.as_dict();
      if (a.items.size() != b.items.size()) return false;
      for (const auto& [k, v] : a.items) {
        const Value* other = b.find(k);
        if (!other || !v.equals(*other)) return false;
      }
      return true;
    }
    case ValueKind::kNamespace: return &namespace_dict() == &o.namespace_dict();
    case ValueKind::kMacro: return as_macro() == o.as_macro();
    default: return false;
  }
}

const char* Value::type_name() const {
  switch (kind()) {
    case ValueKind::kUndefined: return "undefined";
    case ValueKind::kNone: return "none";
    case ValueKind::kBool: return "bool";
    case ValueKind::kInt: return "int";
    case ValueKind::kFloat: return "float";
    case ValueKind::kString: return "string";
    case ValueKind::kList: return "list";
    case ValueKind::kDict: return "dict";
    case ValueKind::kNamespace: return "namespace";
    case ValueKind::kMacro: return "macro";
  }
  return "?";
}

StatusOr<bool> less_than(const Value& a, const Value& b) {
  const bool num_a = a.is_number() || a.kind() == ValueKind::kBool;
  const bool num_b = b.is_number() || b.kind() == ValueKind::kBool;
  if (num_a && num_b) {
    if (a.kind() != ValueKind::kFloat && b.kind() != ValueKind::kFloat) return a.as_int() < b.as_int();
    return a.as_float() < b.as_float();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();  // UTF-8 bytes order = code points
  if (a.is_list() && b.is_list()) {
    const List& x = a.as_list();
    const List& y = b.as_list();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (x[i].equals(y[i])) continue;
      return less_than(x[i], y[i]);
    }
    return x.size() < y.size();
  }
  return invalid_argument(std::string("cannot order ") + a.type_name() + " and " + b.type_name());
}

// ---------------------------------------------------------------- JSON out

namespace {

// json.dumps' layout (", " and ": ", or "," and newlines with indent; NaN and
// Infinity as Python writes them; floats as repr); strings escaped as json.dumps
// with ensure_ascii=False does.
Status json_write(std::string& out, const Value& v, int indent, bool sort_keys, int level) {
  const auto newline = [&](int lvl) {
    if (indent < 0) return;
    out.push_back('\n');
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(lvl), ' ');
  };
  const char* item_sep = indent < 0 ? ", " : ",";
  switch (v.kind()) {
    case ValueKind::kNone: out += "null"; return ok_status();
    case ValueKind::kBool: out += v.as_bool() ? "true" : "false"; return ok_status();
    case ValueKind::kInt: out += std::to_string(v.as_int()); return ok_status();
    case ValueKind::kFloat: {
      const double f = v.as_float();
      out += std::isnan(f) ? "NaN" : std::isinf(f) ? (f > 0 ? "Infinity" : "-Infinity") : float_str(f);
      return ok_status();
    }
    case ValueKind::kString: json_append_string(out, v.as_string(), JsonEscapes::kPython); return ok_status();
    case ValueKind::kList: {
      const List& l = v.as_list();
      out.push_back('[');
      for (size_t i = 0; i < l.size(); ++i) {
        if (i) out += item_sep;
        newline(level + 1);
        SB_RETURN_IF_ERROR(json_write(out, l[i], indent, sort_keys, level + 1));
      }
      if (!l.empty()) newline(level);
      out.push_back(']');
      return ok_status();
    }
    case ValueKind::kDict: {
      std::vector<const std::pair<std::string, Value>*> items;
      for (const auto& kv : v.as_dict().items) items.push_back(&kv);
      if (sort_keys) std::stable_sort(items.begin(), items.end(), [](auto* a, auto* b) { return a->first < b->first; });
      out.push_back('{');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += item_sep;
        newline(level + 1);
        json_append_string(out, items[i]->first, JsonEscapes::kPython);
        out += ": ";
        SB_RETURN_IF_ERROR(json_write(out, items[i]->second, indent, sort_keys, level + 1));
      }
      if (!items.empty()) newline(level);
      out.push_back('}');
      return ok_status();
    }
    default: return invalid_argument(std::string("a ") + v.type_name() + " value is not JSON serializable");
  }
}

}  // namespace

StatusOr<std::string> to_json(const Value& v, int indent, bool sort_keys) {
  std::string out;
  SB_RETURN_IF_ERROR(json_write(out, v, indent, sort_keys, 0));
  return out;
}

// ---------------------------------------------------------------- JSON in

namespace {

// A simdjson element as a template value: objects keep their key order (a
// repeated key keeps its first place and its last value, as Python's json.loads
// does), numbers keep their kind (1 an int, 1.0 a float; integers past int64 are
// floats, past uint64 a parse error).
StatusOr<Value> from_json(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      List l;
      for (simdjson::dom::element x : simdjson::dom::array(e)) {
        SB_ASSIGN_OR_RETURN(Value v, from_json(x));
        l.push_back(std::move(v));
      }
      return Value::list(std::move(l));
    }
    case simdjson::dom::element_type::OBJECT: {
      Dict d;
      for (simdjson::dom::key_value_pair kv : simdjson::dom::object(e)) {
        SB_ASSIGN_OR_RETURN(Value v, from_json(kv.value));
        d.set(std::string(kv.key), std::move(v));
      }
      return Value::dict(std::move(d));
    }
    case simdjson::dom::element_type::INT64: return Value::integer(e.get_int64().value_unsafe());
    case simdjson::dom::element_type::UINT64: return Value::number(static_cast<double>(e.get_uint64().value_unsafe()));
    case simdjson::dom::element_type::DOUBLE: return Value::number(e.get_double().value_unsafe());
    case simdjson::dom::element_type::STRING: return Value::string(std::string(e.get_string().value_unsafe()));
    case simdjson::dom::element_type::BOOL: return Value::boolean(e.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE: return Value::none();
  }
  return invalid_argument("JSON: unknown element type");
}

}  // namespace

StatusOr<Value> parse_json(std::string_view json, int max_depth) {
  simdjson::dom::parser parser;
  if (parser.allocate(json.size(), static_cast<size_t>(max_depth)) != simdjson::SUCCESS)
    return internal_error("JSON: cannot allocate a parser for " + std::to_string(json.size()) + " bytes");
  simdjson::dom::element doc;
  const simdjson::error_code err = parser.parse(json.data(), json.size()).get(doc);
  if (err == simdjson::DEPTH_ERROR)
    return invalid_argument("JSON nested deeper than " + std::to_string(max_depth) + " levels");
  if (err != simdjson::SUCCESS) return invalid_argument(std::string("not valid JSON: ") + simdjson::error_message(err));
  return from_json(doc);
}

std::vector<std::string_view> utf8_chars(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8_char_bytes(s, i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace sb::jinja
