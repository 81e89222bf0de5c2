#include "core/constrain/json_check.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cmath>
#include <map>
#include <memory>
#include <string>

namespace sb::constrain {

namespace {

using jinja::Dict;
using jinja::List;
using jinja::ValueKind;

constexpr int kMaxDepth = 256;  // schema references followed while checking one value

bool is_digits(std::string_view s) {
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return !s.empty();
}
int number_of(std::string_view s) { return std::stoi(std::string(s)); }
bool is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

bool valid_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  if (!is_digits(s.substr(0, 4)) || !is_digits(s.substr(5, 2)) || !is_digits(s.substr(8, 2))) return false;
  const int y = number_of(s.substr(0, 4)), m = number_of(s.substr(5, 2)), d = number_of(s.substr(8, 2));
  static constexpr int kDays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1]) return false;
  const bool leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return !(m == 2 && d == 29 && !leap);
}

bool valid_hh_mm(std::string_view s) {
  return s.size() == 5 && s[2] == ':' && is_digits(s.substr(0, 2)) && is_digits(s.substr(3, 2)) &&
         number_of(s.substr(0, 2)) <= 23 && number_of(s.substr(3, 2)) <= 59;
}

// RFC 3339 full-time: HH:MM:SS[.frac](Z|+HH:MM|-HH:MM), seconds up to 60.
bool valid_time(std::string_view s) {
  if (s.size() < 9 || !valid_hh_mm(s.substr(0, 5)) || s[5] != ':' || !is_digits(s.substr(6, 2)) ||
      number_of(s.substr(6, 2)) > 60)
    return false;
  size_t i = 8;
  if (i < s.size() && s[i] == '.') {
    const size_t from = ++i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == from) return false;
  }
  const std::string_view zone = s.substr(i);
  if (zone == "Z" || zone == "z") return true;
  return zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && valid_hh_mm(zone.substr(1));
}

bool valid_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !is_hex(s[i])) return false;
  }
  return true;
}

bool is_atext(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+/=?^_`{|}~-").find(c) != std::string_view::npos;
}
bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// local@domain: local a dot-atom (atext runs joined by single dots); domain two
// or more labels of letters, digits and inner hyphens.
bool valid_email(std::string_view s) {
  const size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0) return false;
  const std::string_view local = s.substr(0, at), domain = s.substr(at + 1);
  size_t run = 0;
  for (char c : local) {
    if (c == '.') {
      if (run == 0) return false;
      run = 0;
    } else if (is_atext(c)) {
      ++run;
    } else {
      return false;
    }
  }
  if (run == 0) return false;
  int labels = 0;
  size_t from = 0;
  while (true) {
    const size_t dot = domain.find('.', from);
    const std::string_view label = domain.substr(from, dot == std::string_view::npos ? dot : dot - from);
    if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-') return false;
    ++labels;
    if (dot == std::string_view::npos) break;
    from = dot + 1;
  }
  return labels >= 2;
}

}  // namespace

bool json_equal(const JsonValue& a, const JsonValue& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_int() && b.is_int()) return a.as_int() == b.as_int();
    return a.as_float() == b.as_float();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kNone: return true;
    case ValueKind::kBool: return a.as_bool() == b.as_bool();
    case ValueKind::kString: return a.as_string() == b.as_string();
    case ValueKind::kList: {
      const List &x = a.as_list(), &y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i)
        if (!json_equal(x[i], y[i])) return false;
      return true;
    }
    case ValueKind::kDict: {
      const Dict &x = a.as_dict(), &y = b.as_dict();
      if (x.items.size() != y.items.size()) return false;
      for (const auto& [k, v] : x.items) {
        const JsonValue* w = y.find(k);
        if (w == nullptr || !json_equal(v, *w)) return false;
      }
      return true;
    }
    default: return false;
  }
}

namespace {

bool has_type(const JsonValue& v, std::string_view type) {
  if (type == "null") return v.is_none();
  if (type == "boolean") return v.kind() == ValueKind::kBool;
  if (type == "string") return v.is_string();
  if (type == "array") return v.is_list();
  if (type == "object") return v.is_dict();
  if (type == "number") return v.is_number();
  if (type == "integer") return v.is_int() || (v.kind() == ValueKind::kFloat && std::floor(v.as_float()) == v.as_float());
  return false;
}

std::string short_json(const JsonValue& v) {
  auto s = jinja::to_json(v);
  std::string t = s.ok() ? *s : "?";
  return t.size() > 60 ? t.substr(0, 57) + "..." : t;
}

class Checker {
 public:
  explicit Checker(const JsonValue& root) : root_(root) {}

  Status check(const JsonValue& schema, const JsonValue& v, const std::string& at, int depth) {
    if (depth > kMaxDepth) return fail(at, "schema references nested deeper than " + std::to_string(kMaxDepth));
    if (schema.kind() == ValueKind::kBool) return schema.as_bool() ? ok_status() : fail(at, "the schema is false");
    if (!schema.is_dict()) return fail(at, "the schema is not an object");
    const Dict& s = schema.as_dict();
    if (const JsonValue* n = s.find("nullable"); n && n->kind() == ValueKind::kBool && n->as_bool() && v.is_none())
      return ok_status();
    if (const JsonValue* ref = s.find("$ref")) {
      SB_ASSIGN_OR_RETURN(const JsonValue* target, resolve(*ref, at));
      SB_RETURN_IF_ERROR(check(*target, v, at, depth + 1));
    }
    SB_RETURN_IF_ERROR(check_generic(s, v, at, depth));
    if (v.is_string()) SB_RETURN_IF_ERROR(check_string(s, v.as_string(), at));
    if (v.is_number()) SB_RETURN_IF_ERROR(check_number(s, v, at));
    if (v.is_dict()) SB_RETURN_IF_ERROR(check_object(s, v.as_dict(), at, depth));
    if (v.is_list()) SB_RETURN_IF_ERROR(check_array(s, v.as_list(), at, depth));
    return ok_status();
  }

 private:
  static Status fail(const std::string& at, const std::string& what) {
    return invalid_argument("at " + (at.empty() ? std::string("/") : at) + ": " + what);
  }

  StatusOr<const JsonValue*> resolve(const JsonValue& ref, const std::string& at) {
    const JsonValue* target = ref.is_string() ? resolve_json_pointer(root_, ref.as_string()) : nullptr;
    if (target == nullptr) return fail(at, "$ref " + short_json(ref) + " points nowhere in the schema");
    return target;
  }

  Status check_generic(const Dict& s, const JsonValue& v, const std::string& at, int depth) {
    if (const JsonValue* t = s.find("type")) {
      bool ok = false;
      if (t->is_string()) ok = has_type(v, t->as_string());
      if (t->is_list())
        for (const JsonValue& x : t->as_list()) ok = ok || (x.is_string() && has_type(v, x.as_string()));
      if (!ok) return fail(at, short_json(v) + " is not of type " + short_json(*t));
    }
    if (const JsonValue* e = s.find("enum"); e && e->is_list()) {
      bool ok = false;
      for (const JsonValue& x : e->as_list()) ok = ok || json_equal(x, v);
      if (!ok) return fail(at, short_json(v) + " is not one of the enum values");
    }
    if (const JsonValue* c = s.find("const"); c && !json_equal(*c, v))
      return fail(at, short_json(v) + " is not the const " + short_json(*c));
    if (const JsonValue* all = s.find("allOf"); all && all->is_list())
      for (const JsonValue& sub : all->as_list()) SB_RETURN_IF_ERROR(check(sub, v, at, depth + 1));
    if (const JsonValue* any = s.find("anyOf"); any && any->is_list()) {
      bool ok = false;
      for (const JsonValue& sub : any->as_list()) ok = ok || check(sub, v, at, depth + 1).ok();
      if (!ok) return fail(at, short_json(v) + " matches no anyOf branch");
    }
    if (const JsonValue* one = s.find("oneOf"); one && one->is_list()) {
      int n = 0;
      for (const JsonValue& sub : one->as_list()) n += check(sub, v, at, depth + 1).ok() ? 1 : 0;
      if (n != 1) return fail(at, short_json(v) + " matches " + std::to_string(n) + " oneOf branches, not 1");
    }
    return ok_status();
  }

  Status check_string(const Dict& s, const std::string& str, const std::string& at) {
    const size_t len = jinja::utf8_chars(str).size();
    if (const JsonValue* m = s.find("minLength"); m && m->is_number() && static_cast<double>(len) < m->as_float())
      return fail(at, "string shorter than minLength " + short_json(*m));
    if (const JsonValue* m = s.find("maxLength"); m && m->is_number() && static_cast<double>(len) > m->as_float())
      return fail(at, "string longer than maxLength " + short_json(*m));
    if (const JsonValue* p = s.find("pattern"); p && p->is_string()) {
      SB_ASSIGN_OR_RETURN(bool found, search(p->as_string(), str));
      if (!found) return fail(at, short_json(JsonValue::string(str)) + " does not match pattern " + p->as_string());
    }
    if (const JsonValue* f = s.find("format"); f && f->is_string() && !json_format_valid(f->as_string(), str))
      return fail(at, short_json(JsonValue::string(str)) + " is not a valid " + f->as_string());
    return ok_status();
  }

  Status check_number(const Dict& s, const JsonValue& v, const std::string& at) {
    const double x = v.as_float();
    auto bound = [&](const char* key) -> const JsonValue* {
      const JsonValue* b = s.find(key);
      return b && b->is_number() ? b : nullptr;
    };
    auto excl_flag = [&](const char* key) {  // draft 4's boolean form
      const JsonValue* b = s.find(key);
      return b && b->kind() == ValueKind::kBool && b->as_bool();
    };
    if (const JsonValue* b = bound("minimum")) {
      if (excl_flag("exclusiveMinimum") ? x <= b->as_float() : x < b->as_float())
        return fail(at, short_json(v) + " is below minimum " + short_json(*b));
    }
    if (const JsonValue* b = bound("maximum")) {
      if (excl_flag("exclusiveMaximum") ? x >= b->as_float() : x > b->as_float())
        return fail(at, short_json(v) + " is above maximum " + short_json(*b));
    }
    if (const JsonValue* b = bound("exclusiveMinimum"); b && x <= b->as_float())
      return fail(at, short_json(v) + " is not above exclusiveMinimum " + short_json(*b));
    if (const JsonValue* b = bound("exclusiveMaximum"); b && x >= b->as_float())
      return fail(at, short_json(v) + " is not below exclusiveMaximum " + short_json(*b));
    return ok_status();
  }

  Status check_object(const Dict& s, const Dict& obj, const std::string& at, int depth) {
    const JsonValue* props = s.find("properties");
    if (const JsonValue* req = s.find("required"); req && req->is_list())
      for (const JsonValue& k : req->as_list())
        if (k.is_string() && obj.find(k.as_string()) == nullptr)
          return fail(at, "required property '" + k.as_string() + "' is missing");
    const JsonValue* extra = s.find("additionalProperties");
    for (const auto& [key, value] : obj.items) {
      const JsonValue* sub = props && props->is_dict() ? props->as_dict().find(key) : nullptr;
      if (sub != nullptr) {
        SB_RETURN_IF_ERROR(check(*sub, value, at + "/" + key, depth + 1));
      } else if (extra != nullptr) {
        if (extra->kind() == ValueKind::kBool && !extra->as_bool())
          return fail(at, "property '" + key + "' is not allowed (additionalProperties false)");
        SB_RETURN_IF_ERROR(check(*extra, value, at + "/" + key, depth + 1));
      }
    }
    return ok_status();
  }

  Status check_array(const Dict& s, const List& arr, const std::string& at, int depth) {
    const double n = static_cast<double>(arr.size());
    if (const JsonValue* m = s.find("minItems"); m && m->is_number() && n < m->as_float())
      return fail(at, "fewer items than minItems " + short_json(*m));
    if (const JsonValue* m = s.find("maxItems"); m && m->is_number() && n > m->as_float())
      return fail(at, "more items than maxItems " + short_json(*m));
    // prefixItems (or draft 4's items array) for the first items, then items
    // (or additionalItems) for the rest.
    const JsonValue* prefix = s.find("prefixItems");
    const JsonValue* rest = s.find("items");
    if (prefix == nullptr && rest != nullptr && rest->is_list()) {
      prefix = rest;
      rest = s.find("additionalItems");
    }
    for (size_t i = 0; i < arr.size(); ++i) {
      const std::string item_at = at + "/" + std::to_string(i);
      if (prefix != nullptr && prefix->is_list() && i < prefix->as_list().size()) {
        SB_RETURN_IF_ERROR(check(prefix->as_list()[i], arr[i], item_at, depth + 1));
      } else if (rest != nullptr) {
        SB_RETURN_IF_ERROR(check(*rest, arr[i], item_at, depth + 1));
      }
    }
    if (const JsonValue* u = s.find("uniqueItems"); u && u->kind() == ValueKind::kBool && u->as_bool())
      for (size_t i = 0; i < arr.size(); ++i)
        for (size_t j = i + 1; j < arr.size(); ++j)
          if (json_equal(arr[i], arr[j])) return fail(at, "items are not unique");
    return ok_status();
  }

  StatusOr<bool> search(const std::string& pattern, const std::string& str) {
    auto it = patterns_.find(pattern);
    if (it == patterns_.end()) {
      int err = 0;
      PCRE2_SIZE off = 0;
      pcre2_compile_context* ctx = pcre2_compile_context_create(nullptr);
      pcre2_set_compile_extra_options(ctx, PCRE2_EXTRA_ALT_BSUX);
      pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                       PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &err, &off, ctx);
      pcre2_compile_context_free(ctx);
      if (code == nullptr) return invalid_argument("pattern " + pattern + " does not compile in PCRE2");
      it = patterns_.emplace(pattern, std::unique_ptr<pcre2_code, void (*)(pcre2_code*)>(code, pcre2_code_free)).first;
    }
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(it->second.get(), nullptr);
    const int rc = pcre2_match(it->second.get(), reinterpret_cast<PCRE2_SPTR>(str.data()), str.size(), 0, 0, md,
                               nullptr);
    pcre2_match_data_free(md);
    return rc >= 0;
  }

  const JsonValue& root_;
  std::map<std::string, std::unique_ptr<pcre2_code, void (*)(pcre2_code*)>> patterns_;
};

}  // namespace

const JsonValue* resolve_json_pointer(const JsonValue& document, std::string_view p) {
  if (p.empty() || p[0] != '#') return nullptr;
  const JsonValue* cur = &document;
  size_t i = 1;
  while (i < p.size()) {
    if (p[i] != '/') return nullptr;
    size_t j = p.find('/', i + 1);
    if (j == std::string_view::npos) j = p.size();
    std::string key;
    for (size_t k = i + 1; k < j; ++k) {
      if (p[k] == '~' && k + 1 < j && (p[k + 1] == '0' || p[k + 1] == '1')) {
        key.push_back(p[++k] == '0' ? '~' : '/');
      } else {
        key.push_back(p[k]);
      }
    }
    if (cur->is_dict()) {
      cur = cur->as_dict().find(key);
    } else if (cur->is_list() && is_digits(key) && key.size() < 9 &&
               static_cast<size_t>(std::stoi(key)) < cur->as_list().size()) {
      cur = &cur->as_list()[static_cast<size_t>(std::stoi(key))];
    } else {
      cur = nullptr;
    }
    if (cur == nullptr) return nullptr;
    i = j;
  }
  return cur;
}

bool json_format_valid(std::string_view format, std::string_view s) {
  if (format == "date") return valid_date(s);
  if (format == "time") return valid_time(s);
  if (format == "date-time")
    return s.size() > 11 && (s[10] == 'T' || s[10] == 't') && valid_date(s.substr(0, 10)) && valid_time(s.substr(11));
  if (format == "uuid") return valid_uuid(s);
  if (format == "email") return valid_email(s);
  return false;
}

Status check_json_schema(const JsonValue& schema, const JsonValue& instance, const JsonValue* document) {
  return Checker(document ? *document : schema).check(schema, instance, "", 0);
}

Status check_json_text(const JsonValue& schema, std::string_view text) {
  auto v = jinja::parse_json(text, kMaxDepth);
  if (!v.ok()) return invalid_argument("not valid JSON: " + v.status().message());
  return check_json_schema(schema, *v);
}

}  // namespace sb::constrain
