// Template values: construction, Python semantics (truthiness, ==, <, str, repr),
// JSON out (tojson) and JSON in (messages, kwargs).
#include "core/chat/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "core/tokenizer/unicode.h"

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

// Python's repr() of a float: shortest round-trip digits, always with a '.' or exponent.
std::string float_str(double f) {
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), f);
  std::string s(buf, r.ptr);
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
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

void json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 15]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

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
    case ValueKind::kString: json_string(out, v.as_string()); return ok_status();
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
        json_string(out, items[i]->first);
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

class JsonReader {
 public:
  JsonReader(std::string_view s, int max_depth) : s_(s), max_depth_(max_depth) {}

  StatusOr<Value> document() {
    SB_ASSIGN_OR_RETURN(Value v, value(0));
    skip_ws();
    if (pos_ != s_.size()) return error("unexpected text after the JSON value");
    return v;
  }

 private:
  Status error(const std::string& what) const {
    return invalid_argument("JSON at byte " + std::to_string(pos_) + ": " + what);
  }
  void skip_ws() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  bool consume(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  StatusOr<Value> value(int depth) {
    if (depth > max_depth_) return error("nested deeper than " + std::to_string(max_depth_) + " levels");
    skip_ws();
    if (pos_ >= s_.size()) return error("unexpected end");
    const char c = s_[pos_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') {
      SB_ASSIGN_OR_RETURN(std::string str, string());
      return Value::string(std::move(str));
    }
    if (consume("true")) return Value::boolean(true);
    if (consume("false")) return Value::boolean(false);
    if (consume("null")) return Value::none();
    return number();
  }

  StatusOr<Value> object(int depth) {
    ++pos_;
    Dict d;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return Value::dict(std::move(d));
    }
    while (true) {
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != '"') return error("expected a string key");
      SB_ASSIGN_OR_RETURN(std::string key, string());
      skip_ws();
      if (pos_ >= s_.size() || s_[pos_] != ':') return error("expected ':'");
      ++pos_;
      SB_ASSIGN_OR_RETURN(Value v, value(depth + 1));
      d.set(std::move(key), std::move(v));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == '}') {
        ++pos_;
        return Value::dict(std::move(d));
      }
      return error("expected ',' or '}'");
    }
  }

  StatusOr<Value> array(int depth) {
    ++pos_;
    List l;
    skip_ws();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return Value::list(std::move(l));
    }
    while (true) {
      SB_ASSIGN_OR_RETURN(Value v, value(depth + 1));
      l.push_back(std::move(v));
      skip_ws();
      if (pos_ < s_.size() && s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (pos_ < s_.size() && s_[pos_] == ']') {
        ++pos_;
        return Value::list(std::move(l));
      }
      return error("expected ',' or ']'");
    }
  }

  StatusOr<uint32_t> hex4() {
    if (pos_ + 4 > s_.size()) return error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = s_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<uint32_t>(h - 'A' + 10);
      else return error("bad \\u escape");
    }
    return v;
  }

  StatusOr<std::string> string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      if (pos_ >= s_.size()) return error("unterminated string");
      const char c = s_[pos_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) return error("control character in a string");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return error("unterminated escape");
      const char e = s_[pos_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': {
          SB_ASSIGN_OR_RETURN(uint32_t cp, hex4());
          if (cp >= 0xD800 && cp < 0xDC00 && s_.substr(pos_, 2) == "\\u") {
            pos_ += 2;
            SB_ASSIGN_OR_RETURN(uint32_t lo, hex4());
            if (lo < 0xDC00 || lo > 0xDFFF) return error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = 0xFFFD;
          }
          utf8_append(out, cp);
          break;
        }
        default: return error("bad escape");
      }
    }
  }

  StatusOr<Value> number() {
    const size_t start = pos_;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    bool is_float = false;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c >= '0' && c <= '9') {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && pos_ > start)) {
        is_float = true;
        ++pos_;
      } else {
        break;
      }
    }
    const std::string_view text = s_.substr(start, pos_ - start);
    if (text.empty() || text == "-") return error("unexpected character");
    const char* first = text.data();
    const char* last = text.data() + text.size();
    if (!is_float) {
      int64_t i = 0;
      const auto r = std::from_chars(first, last, i);
      if (r.ec == std::errc() && r.ptr == last) return Value::integer(i);
    }
    double f = 0;
    const auto r = std::from_chars(first, last, f);
    if (r.ec != std::errc() || r.ptr != last) return error("bad number '" + std::string(text) + "'");
    return Value::number(f);
  }

  std::string_view s_;
  size_t pos_ = 0;
  int max_depth_;
};

}  // namespace

StatusOr<Value> parse_json(std::string_view json, int max_depth) { return JsonReader(json, max_depth).document(); }

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
