#include "core/constrain/json_schema.h"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <set>

#include "core/constrain/json_numbers.h"
#include "core/constrain/json_schema_merge.h"
#include "core/constrain/regex.h"
#include "formats/json_writer.h"

namespace sb::constrain {

namespace {

using jinja::Dict;
using jinja::List;
using jinja::ValueKind;

constexpr int kMaxDepth = 64;              // schemas nested inline
constexpr double kMaxIntBound = 9007199254740992.0;  // 2^53: integer bounds exact as doubles

const std::set<std::string_view> kKeywords = {
    "type",      "enum",         "const",    "properties", "required",    "additionalProperties",
    "items",     "prefixItems",  "additionalItems", "minItems", "maxItems", "uniqueItems",
    "minLength", "maxLength",    "pattern",  "format",     "minimum",     "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "anyOf", "oneOf", "allOf",   "$ref", "nullable"};

// Format texts as regexes over ASCII (nothing a JSON string must escape).
const std::map<std::string_view, std::string_view> kFormats = {
    {"date",
     "([0-9]{4}-((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)|02-(0[1-9]|1[0-9]|2[0-8]))"
     "|([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[048]|[2468][048]|[13579][26])00)-02-29)"},
    {"time", "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"},
    {"uuid", "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"},
    {"email",
     "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
     "@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+"},
};

std::string pointer_token(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return out;
}

// Compact JSON text of a value (what an enum / const value is written as).
std::string compact_json(const JsonValue& v) {
  switch (v.kind()) {
    case ValueKind::kNone: return "null";
    case ValueKind::kBool: return v.as_bool() ? "true" : "false";
    case ValueKind::kInt: return std::to_string(v.as_int());
    case ValueKind::kFloat: {
      char buf[64];
      const auto r = std::to_chars(buf, buf + sizeof(buf), v.as_float());
      return std::string(buf, r.ptr);
    }
    case ValueKind::kString: return json_quote(v.as_string());
    case ValueKind::kList: {
      std::string out = "[";
      for (const JsonValue& x : v.as_list()) out += (out.size() > 1 ? "," : "") + compact_json(x);
      return out + "]";
    }
    default: {
      std::string out = "{";
      for (const auto& [k, x] : v.as_dict().items) out += (out.size() > 1 ? "," : "") + json_quote(k) + ":" + compact_json(x);
      return out + "}";
    }
  }
}

bool is_false(const JsonValue* v) { return v != nullptr && v->kind() == ValueKind::kBool && !v->as_bool(); }
bool is_true(const JsonValue* v) { return v != nullptr && v->kind() == ValueKind::kBool && v->as_bool(); }

JsonValue without(const Dict& d, std::initializer_list<std::string_view> keys) {
  Dict out;
  for (const auto& [k, v] : d.items)
    if (std::find(keys.begin(), keys.end(), k) == keys.end()) out.set(k, v);
  return JsonValue::dict(std::move(out));
}

bool only_annotations(const JsonValue& s) {
  if (!s.is_dict()) return false;
  for (const auto& [k, v] : s.as_dict().items)
    if (!is_annotation(k)) return false;
  return true;
}

// One JSON string character: raw UTF-8 but for '"', '\' and controls, or an escape.
ExprId json_char(GrammarBuilder& b) {
  CharSet specials = CharSet::range(0, 0x1F);
  specials.add('"', '"');
  specials.add('\\', '\\');
  const ExprId hex = b.alt({b.byte_range('0', '9'), b.byte_range('a', 'f'), b.byte_range('A', 'F')});
  const ExprId not_d = b.alt({b.byte_range('0', '9'), b.byte_range('a', 'c'), b.byte_range('e', 'f'),
                              b.byte_range('A', 'C'), b.byte_range('E', 'F')});
  // \uXXXX but the surrogates D800-DFFF (a lone one is not a character).
  const ExprId u4 = b.alt({b.seq({not_d, hex, hex, hex}),
                           b.seq({b.alt({b.literal("d"), b.literal("D")}), b.byte_range('0', '7'), hex, hex})});
  std::vector<ExprId> escapes;
  for (char c : std::string_view("\"\\/bfnrt")) escapes.push_back(b.literal(std::string(1, c)));
  escapes.push_back(b.seq({b.literal("u"), u4}));
  return b.alt({b.chars(specials.complement()), b.seq({b.literal("\\"), b.alt(std::move(escapes))})});
}

ExprId quoted(GrammarBuilder& b, ExprId content) { return b.seq({b.literal("\""), content, b.literal("\"")}); }

}  // namespace

ExprId json_string_chars(GrammarBuilder& b, const CharSet& set) {
  CharSet specials = CharSet::range(0, 0x1F);
  specials.add('"', '"');
  specials.add('\\', '\\');
  CharSet outside = set.complement();
  outside.add(specials);
  std::vector<ExprId> alts;
  if (const CharSet raw = outside.complement(); !raw.empty()) alts.push_back(b.chars(raw));
  for (const auto& [lo, hi] : specials.ranges())
    for (uint32_t c = lo; c <= hi; ++c)
      if (set.contains(c)) {
        const std::string q = json_quote(std::string(1, static_cast<char>(c)));
        alts.push_back(b.literal(q.substr(1, q.size() - 2)));
      }
  return b.alt(std::move(alts));
}

namespace {

class SchemaCompiler {
 public:
  explicit SchemaCompiler(const JsonValue& document) : doc_(document) {}

  StatusOr<Grammar> compile(const GrammarLimits& limits) {
    const int32_t root = b_.add_rule("root");
    SB_ASSIGN_OR_RETURN(ExprId e, expr(doc_, "", 0));
    b_.define(root, e);
    auto g = b_.build(root, limits);
    if (!g.ok()) return Status(g.status().code(), "schema: " + g.status().message());
    return g;
  }

  // Any JSON object, the root of json_object_grammar().
  Grammar object_grammar() {
    const int32_t root = b_.add_rule("root");
    any_value();
    b_.define(root, b_.ref(object_rule_));
    auto g = b_.build(root);
    SB_CHECK_MSG(g.ok(), g.status().to_string());
    return std::move(g).value();
  }

 private:
  StatusOr<ExprId> expr(const JsonValue& s, const std::string& at, int depth) {
    if (depth > kMaxDepth) return schema_error(at, "schemas nested deeper than " + std::to_string(kMaxDepth));
    if (s.kind() == ValueKind::kBool) {
      if (s.as_bool()) return any_value();
      return schema_error(at, "the schema false allows no value");
    }
    if (!s.is_dict()) return schema_error(at, "a schema must be an object or a boolean");
    const Dict& d = s.as_dict();
    for (const auto& [k, v] : d.items) {
      if (!kKeywords.count(k) && !is_annotation(k)) return schema_error(at, "keyword '" + k + "' is not supported");
      if (k == "uniqueItems" && !is_false(&v)) return schema_error(at, "uniqueItems true is not supported");
    }
    if (const JsonValue* ref = d.find("$ref")) {
      if (only_annotations(without(d, {"$ref"}))) return ref_rule(*ref, at, depth);
      SB_ASSIGN_OR_RETURN(JsonValue merged, inline_ref(doc_, s, at));
      return expr(merged, at, depth + 1);
    }
    if (const JsonValue* all = d.find("allOf")) {
      if (!all->is_list() || all->as_list().empty()) return schema_error(at, "allOf must be a non-empty list");
      JsonValue merged = without(d, {"allOf"});
      for (size_t i = 0; i < all->as_list().size(); ++i) {
        SB_ASSIGN_OR_RETURN(merged, merge_schemas(doc_, merged, all->as_list()[i], at + "/allOf/" + std::to_string(i)));
      }
      return expr(merged, at, depth + 1);
    }
    const JsonValue *any = d.find("anyOf"), *one = d.find("oneOf");
    if (any && one) return schema_error(at, "anyOf together with oneOf is not supported");
    if (any || one) return branches(d, any ? "anyOf" : "oneOf", at, depth);
    if (is_true(d.find("nullable"))) {
      SB_ASSIGN_OR_RETURN(ExprId e, expr(without(d, {"nullable"}), at, depth + 1));
      return b_.alt({b_.literal("null"), e});
    }
    if (d.find("enum") || d.find("const")) return finite(d, at);
    std::vector<std::string> types = schema_types(s);
    const bool has_number = std::find(types.begin(), types.end(), "number") != types.end();
    std::vector<ExprId> alts;
    for (const std::string& t : types) {
      if (t == "integer" && has_number) continue;  // number writes integers too
      SB_ASSIGN_OR_RETURN(ExprId e, typed(t, d, at, depth));
      alts.push_back(e);
    }
    return b_.alt(std::move(alts));
  }

  StatusOr<ExprId> typed(const std::string& type, const Dict& d, const std::string& at, int depth) {
    if (type == "null") return b_.literal("null");
    if (type == "boolean") return b_.alt({b_.literal("true"), b_.literal("false")});
    if (type == "string") return string_expr(d, at);
    if (type == "number" || type == "integer") return number_expr(d, at, type == "integer");
    if (type == "object") return object_expr(d, at, depth);
    if (type == "array") return array_expr(d, at, depth);
    return schema_error(at, "unknown type '" + type + "'");
  }

  StatusOr<ExprId> ref_rule(const JsonValue& ref, const std::string& at, int depth) {
    const JsonValue* target = ref.is_string() ? resolve_json_pointer(doc_, ref.as_string()) : nullptr;
    if (target == nullptr) return schema_error(at, "$ref must be a JSON pointer into this schema (\"#/$defs/name\")");
    const std::string& name = ref.as_string();
    if (auto it = ref_rules_.find(name); it != ref_rules_.end()) return b_.ref(it->second);
    const int32_t rule = b_.add_rule(name);
    ref_rules_[name] = rule;
    SB_ASSIGN_OR_RETURN(ExprId body, expr(*target, name.substr(1), depth + 1));
    b_.define(rule, body);
    return b_.ref(rule);
  }

  // A rule for e, so that a copied or repeated use is a call, not a copy.
  ExprId wrap(ExprId e, const std::string& name) {
    const int32_t rule = b_.add_rule(name);
    b_.define(rule, e);
    return b_.ref(rule);
  }

  StatusOr<ExprId> branches(const Dict& d, const char* key, const std::string& at, int depth) {
    const JsonValue& list = *d.find(key);
    if (!list.is_list() || list.as_list().empty()) return schema_error(at, std::string(key) + " must be a non-empty list");
    const JsonValue base = without(d, {key});
    std::vector<JsonValue> merged;
    for (size_t i = 0; i < list.as_list().size(); ++i) {
      const std::string bat = at + "/" + key + "/" + std::to_string(i);
      if (only_annotations(base)) {
        merged.push_back(list.as_list()[i]);
      } else {
        SB_ASSIGN_OR_RETURN(JsonValue m, merge_schemas(doc_, base, list.as_list()[i], bat));
        merged.push_back(std::move(m));
      }
    }
    if (std::string_view(key) == "oneOf")
      for (size_t i = 0; i < merged.size(); ++i)
        for (size_t j = i + 1; j < merged.size(); ++j)
          if (!provably_exclusive(doc_, merged[i], merged[j]))
            return schema_error(at + "/oneOf", "branches " + std::to_string(i) + " and " + std::to_string(j) +
                                                   " may both match a value; oneOf is supported when the branches "
                                                   "have distinct types, distinct const/enum values (of a required "
                                                   "property) or closed objects with distinct required properties");
    std::vector<ExprId> alts;
    for (size_t i = 0; i < merged.size(); ++i) {
      SB_ASSIGN_OR_RETURN(ExprId e, expr(merged[i], at + "/" + key + "/" + std::to_string(i), depth + 1));
      alts.push_back(e);
    }
    return b_.alt(std::move(alts));
  }

  StatusOr<ExprId> finite(const Dict& d, const std::string& at) {
    const JsonValue* e = d.find("enum");
    if (e && (!e->is_list() || e->as_list().empty())) return schema_error(at, "enum must be a non-empty list");
    const List values = e ? e->as_list() : List{*d.find("const")};
    const JsonValue rest = e ? without(d, {"enum"}) : without(d, {"const"});
    std::vector<ExprId> alts;
    for (const JsonValue& v : values)
      if (check_json_schema(rest, v, &doc_).ok()) alts.push_back(b_.literal(compact_json(v)));
    if (alts.empty()) return schema_error(at, "no enum/const value satisfies the schema's other keywords");
    return b_.alt(std::move(alts));
  }

  // A non-negative integer keyword (minLength, maxItems, ...) or `absent`.
  StatusOr<int> count(const Dict& d, const char* key, int absent, const std::string& at) {
    const JsonValue* v = d.find(key);
    if (v == nullptr) return absent;
    if (!v->is_number() || v->as_float() < 0 || std::floor(v->as_float()) != v->as_float())
      return schema_error(at, std::string(key) + " must be a non-negative integer");
    if (v->as_float() > 100'000) return schema_error(at, std::string(key) + " over 100000 is not supported");
    return static_cast<int>(v->as_float());
  }

  StatusOr<ExprId> string_expr(const Dict& d, const std::string& at) {
    SB_ASSIGN_OR_RETURN(const int min, count(d, "minLength", 0, at));
    SB_ASSIGN_OR_RETURN(const int max, count(d, "maxLength", kUnbounded, at));
    const JsonValue *pattern = d.find("pattern"), *format = d.find("format");
    const bool lengths = d.find("minLength") || d.find("maxLength");
    if (format) {
      if (pattern || lengths) return schema_error(at, "format together with pattern, minLength or maxLength is not supported");
      const auto it = format->is_string() ? kFormats.find(format->as_string()) : kFormats.end();
      const bool date_time = format->is_string() && format->as_string() == "date-time";
      if (it == kFormats.end() && !date_time)
        return schema_error(at, "format " + compact_json(*format) +
                                    " is not supported (date, time, date-time, uuid, email)");
      const std::string text = date_time ? "(" + std::string(kFormats.at("date")) + ")T(" +
                                               std::string(kFormats.at("time")) + ")"
                                         : std::string(it->second);
      auto e = regex_expr(text, RegexMatch::kFull, b_, json_string_chars);
      SB_CHECK_MSG(e.ok(), e.status().to_string());
      return quoted(b_, *e);
    }
    if (pattern) {
      if (lengths) return schema_error(at, "pattern together with minLength or maxLength is not supported");
      if (!pattern->is_string()) return schema_error(at, "pattern must be a string");
      auto e = regex_expr(pattern->as_string(), RegexMatch::kSearch, b_, json_string_chars);
      if (!e.ok()) return schema_error(at + "/pattern", e.status().message());
      return quoted(b_, *e);
    }
    if (max != kUnbounded && max < min) return schema_error(at, "maxLength is below minLength");
    return quoted(b_, b_.repeat(json_char(b_), min, max));
  }

  // The stricter of a schema's inclusive and exclusive bounds on one side.
  StatusOr<std::optional<NumberBound>> bound(const Dict& d, const char* inclusive, const char* exclusive, bool lower,
                                            const std::string& at) {
    std::optional<NumberBound> out;
    const JsonValue *inc = d.find(inclusive), *exc = d.find(exclusive);
    if (inc) {
      if (!inc->is_number()) return schema_error(at, std::string(inclusive) + " must be a number");
      out = NumberBound{inc->as_float(), is_true(exc)};  // draft 4: a boolean exclusive* modifies it
    }
    if (exc && exc->kind() != ValueKind::kBool) {
      if (!exc->is_number()) return schema_error(at, std::string(exclusive) + " must be a number or a boolean");
      const double v = exc->as_float();
      if (!out || (lower ? v >= out->value : v <= out->value)) out = NumberBound{v, true};
    }
    return out;
  }

  StatusOr<ExprId> number_expr(const Dict& d, const std::string& at, bool integer) {
    SB_ASSIGN_OR_RETURN(const std::optional<NumberBound> lo, bound(d, "minimum", "exclusiveMinimum", true, at));
    SB_ASSIGN_OR_RETURN(const std::optional<NumberBound> hi, bound(d, "maximum", "exclusiveMaximum", false, at));
    if (integer) {
      std::optional<int64_t> a, z;
      for (const auto& [b, out, is_lo] : {std::tuple{&lo, &a, true}, std::tuple{&hi, &z, false}}) {
        if (!*b) continue;
        const double v = (*b)->value;
        if (std::abs(v) > kMaxIntBound) return schema_error(at, "integer bounds beyond 2^53 are not supported");
        double i = is_lo ? std::ceil(v) : std::floor(v);
        if ((*b)->exclusive && i == v) i += is_lo ? 1 : -1;
        *out = static_cast<int64_t>(i);
      }
      if (a && z && *a > *z) return schema_error(at, "no integer lies within the bounds");
      return integer_range(b_, a, z);
    }
    if (!lo && !hi) return any_number(b_);
    if (lo && hi && (lo->value > hi->value || (lo->value == hi->value && (lo->exclusive || hi->exclusive))))
      return schema_error(at, "no number lies within the bounds");
    return number_range(b_, lo, hi);
  }

  StatusOr<ExprId> object_expr(const Dict& d, const std::string& at, int depth) {
    const JsonValue *props = d.find("properties"), *req = d.find("required"), *extra = d.find("additionalProperties");
    if (props && !props->is_dict()) return schema_error(at, "properties must be an object");
    if (req && !req->is_list()) return schema_error(at, "required must be a list");
    if (extra && extra->kind() != ValueKind::kBool && !extra->is_dict())
      return schema_error(at, "additionalProperties must be a boolean or a schema");
    std::vector<std::pair<std::string, JsonValue>> fields;  // name, schema
    if (props) fields = props->as_dict().items;
    std::vector<std::string> required;
    for (const JsonValue& r : req ? req->as_list() : List{}) {
      if (!r.is_string()) return schema_error(at, "required must list strings");
      required.push_back(r.as_string());
      if (std::none_of(fields.begin(), fields.end(), [&](const auto& f) { return f.first == r.as_string(); })) {
        if (is_false(extra))
          return schema_error(at, "required property '" + r.as_string() +
                                      "' is not in properties and additionalProperties is false");
        fields.emplace_back(r.as_string(), extra ? *extra : JsonValue::boolean(true));
      }
    }
    if (fields.empty()) {
      if (is_false(extra)) return b_.literal("{}");
      const JsonValue value = extra ? *extra : JsonValue::boolean(true);
      SB_ASSIGN_OR_RETURN(ExprId v, expr(value, at + "/additionalProperties", depth + 1));
      return map_of(wrap(v, at + "/additionalProperties"));
    }
    std::vector<Field> chain;
    for (const auto& [name, schema] : fields) {
      const std::string fat = at + "/properties/" + pointer_token(name);
      SB_ASSIGN_OR_RETURN(ExprId v, expr(schema, fat, depth + 1));
      const bool is_required = std::find(required.begin(), required.end(), name) != required.end();
      chain.push_back({b_.literal(json_quote(name) + ":"), is_required ? v : wrap(v, fat), is_required});
    }
    std::map<std::pair<size_t, bool>, ExprId> memo;
    return b_.seq({b_.literal("{"), fields_from(chain, 0, true, at, &memo)});
  }

  struct Field {
    ExprId key;  // "name":
    ExprId value;
    bool required;
  };

  // The fields from i on and the closing brace; `first` when none was written
  // yet (no comma). A suffix of required fields is inline; a point where an
  // optional field may be skipped is a rule, so both continuations share it.
  ExprId fields_from(const std::vector<Field>& f, size_t i, bool first, const std::string& at,
                     std::map<std::pair<size_t, bool>, ExprId>* memo) {
    if (i == f.size()) return b_.literal("}");
    auto one = [&](size_t j, bool is_first) {
      return is_first ? b_.seq({f[j].key, f[j].value}) : b_.seq({b_.literal(","), f[j].key, f[j].value});
    };
    if (std::all_of(f.begin() + static_cast<long>(i), f.end(), [](const Field& x) { return x.required; })) {
      std::vector<ExprId> items;
      for (size_t j = i; j < f.size(); ++j) items.push_back(one(j, first && j == i));
      items.push_back(b_.literal("}"));
      return b_.seq(std::move(items));
    }
    if (auto it = memo->find({i, first}); it != memo->end()) return b_.ref(it->second);
    const int32_t rule = b_.add_rule(at + "/properties@" + std::to_string(i));
    (*memo)[{i, first}] = rule;
    const ExprId take = b_.seq({one(i, first), fields_from(f, i + 1, false, at, memo)});
    b_.define(rule, f[i].required ? take : b_.alt({take, fields_from(f, i + 1, first, at, memo)}));
    return b_.ref(rule);
  }

  ExprId map_of(ExprId value) {
    const ExprId entry = b_.seq({string_value(), b_.literal(":"), value});
    return b_.seq({b_.literal("{"),
                   b_.optional(b_.seq({entry, b_.repeat(b_.seq({b_.literal(","), entry}), 0, kUnbounded)})),
                   b_.literal("}")});
  }

  ExprId string_value() { return quoted(b_, b_.repeat(json_char(b_), 0, kUnbounded)); }

  StatusOr<ExprId> array_expr(const Dict& d, const std::string& at, int depth) {
    SB_ASSIGN_OR_RETURN(const int min, count(d, "minItems", 0, at));
    SB_ASSIGN_OR_RETURN(int max, count(d, "maxItems", kUnbounded, at));
    const JsonValue *prefix = d.find("prefixItems"), *items = d.find("items");
    const JsonValue* rest = items;
    std::string prefix_key = "prefixItems", rest_key = "items";
    if (prefix == nullptr && items && items->is_list()) {  // draft 4 tuple
      prefix = items;
      rest = d.find("additionalItems");
      prefix_key = "items";
      rest_key = "additionalItems";
    }
    if (prefix && !prefix->is_list()) return schema_error(at, prefix_key + " must be a list");
    if (rest && rest->is_list()) return schema_error(at, rest_key + " must be a schema");
    std::vector<ExprId> firsts;
    for (size_t j = 0; prefix && j < prefix->as_list().size(); ++j) {
      SB_ASSIGN_OR_RETURN(ExprId e, expr(prefix->as_list()[j], at + "/" + prefix_key + "/" + std::to_string(j),
                                         depth + 1));
      firsts.push_back(e);
    }
    const int k = static_cast<int>(firsts.size());
    ExprId item = -1;
    if (!is_false(rest)) {
      SB_ASSIGN_OR_RETURN(ExprId e, expr(rest ? *rest : JsonValue::boolean(true), at + "/" + rest_key, depth + 1));
      item = wrap(e, at + "/" + rest_key);
    } else if (max == kUnbounded || max > k) {
      max = k;
    }
    if (max != kUnbounded && max < min) return schema_error(at, "no array length satisfies minItems and maxItems");
    return b_.seq({b_.literal("["), items_from(firsts, item, 0, min, max), b_.literal("]")});
  }

  // Array elements from index j on (j written so far).
  ExprId items_from(const std::vector<ExprId>& firsts, ExprId item, int j, int min, int max) {
    if (j == max) return b_.empty();
    const ExprId comma = b_.literal(",");
    if (j < static_cast<int>(firsts.size())) {
      const ExprId one = b_.seq({j == 0 ? b_.empty() : comma, firsts[static_cast<size_t>(j)],
                                 items_from(firsts, item, j + 1, min, max)});
      return j < min ? one : b_.optional(one);
    }
    const int more_min = std::max(0, min - j), more_max = max == kUnbounded ? kUnbounded : max - j;
    const ExprId next = b_.seq({comma, item});
    if (j > 0) return b_.repeat(next, more_min, more_max);
    const ExprId body = b_.seq({item, b_.repeat(next, std::max(0, more_min - 1),
                                                more_max == kUnbounded ? kUnbounded : more_max - 1)});
    return more_min == 0 ? b_.optional(body) : body;
  }

  // The generic JSON value rules (for true / {} schemas and json_object).
  ExprId any_value() {
    if (value_rule_ < 0) {
      value_rule_ = b_.add_rule("value");
      object_rule_ = b_.add_rule("object");
      const int32_t array = b_.add_rule("array");
      const ExprId v = b_.ref(value_rule_);
      b_.define(value_rule_, b_.alt({b_.ref(object_rule_), b_.ref(array), string_value(), any_number(b_),
                                     b_.literal("true"), b_.literal("false"), b_.literal("null")}));
      b_.define(object_rule_, map_of(v));
      b_.define(array, b_.seq({b_.literal("["),
                               b_.optional(b_.seq({v, b_.repeat(b_.seq({b_.literal(","), v}), 0, kUnbounded)})),
                               b_.literal("]")}));
    }
    return b_.ref(value_rule_);
  }

  const JsonValue& doc_;
  GrammarBuilder b_;
  std::map<std::string, int32_t> ref_rules_;
  int32_t value_rule_ = -1, object_rule_ = -1;
};

}  // namespace

StatusOr<Grammar> compile_json_schema(const JsonValue& schema, const GrammarLimits& limits) {
  return SchemaCompiler(schema).compile(limits);
}

Grammar json_object_grammar() {
  static const JsonValue kEmpty = JsonValue::dict({});
  return SchemaCompiler(kEmpty).object_grammar();
}

}  // namespace sb::constrain
