#include "core/constrain/json_schema_merge.h"

#include <algorithm>
#include <set>
#include <string_view>

namespace sb::constrain {

namespace {

using jinja::Dict;
using jinja::List;
using jinja::ValueKind;

constexpr int kMaxRefChain = 64;

const std::set<std::string_view> kAnnotations = {"title",    "description", "$schema",  "$id",     "$comment",
                                                 "examples", "default",     "deprecated", "readOnly", "writeOnly",
                                                 "$defs",    "definitions", "$anchor",  "discriminator",
                                                 "contentEncoding", "contentMediaType"};
const std::set<std::string_view> kLowerBounds = {"minimum", "exclusiveMinimum", "minLength", "minItems"};
const std::set<std::string_view> kUpperBounds = {"maximum", "exclusiveMaximum", "maxLength", "maxItems"};

JsonValue all_of(const JsonValue& x, const JsonValue& y) {
  Dict d;
  d.set("allOf", JsonValue::list({x, y}));
  return JsonValue::dict(std::move(d));
}

bool is_false(const JsonValue* v) { return v != nullptr && v->kind() == ValueKind::kBool && !v->as_bool(); }

std::vector<std::string> string_list(const JsonValue* v) {
  std::vector<std::string> out;
  if (v != nullptr && v->is_list())
    for (const JsonValue& x : v->as_list())
      if (x.is_string()) out.push_back(x.as_string());
  return out;
}

// The finite set of values a schema allows ("enum" or "const"), or null.
const List* finite_values(const JsonValue& schema, List* scratch) {
  if (!schema.is_dict()) return nullptr;
  if (const JsonValue* c = schema.as_dict().find("const")) {
    *scratch = {*c};
    return scratch;
  }
  const JsonValue* e = schema.as_dict().find("enum");
  return e != nullptr && e->is_list() ? &e->as_list() : nullptr;
}

// Combines one keyword both sides have.
Status combine(const std::string& key, const JsonValue& va, const JsonValue& vb, const std::string& at, Dict* out) {
  if (is_annotation(key)) return ok_status();
  if (key == "type") {
    const std::vector<std::string> ta = va.is_string() ? std::vector<std::string>{va.as_string()} : string_list(&va);
    std::vector<std::string> tb = vb.is_string() ? std::vector<std::string>{vb.as_string()} : string_list(&vb);
    List both;
    for (const std::string& t : ta)
      for (const std::string& u : tb) {
        const std::string common = t == u ? t : (t == "integer" && u == "number") || (t == "number" && u == "integer")
                                                    ? "integer" : "";
        if (!common.empty()) both.push_back(JsonValue::string(common));
      }
    if (both.empty()) return schema_error(at, "allOf branches allow no common type");
    out->set(key, JsonValue::list(std::move(both)));
  } else if (key == "enum") {
    if (!va.is_list() || !vb.is_list()) return schema_error(at, "'enum' must be a list");
    List both;
    for (const JsonValue& x : va.as_list())
      for (const JsonValue& y : vb.as_list())
        if (json_equal(x, y)) both.push_back(x);
    out->set(key, JsonValue::list(std::move(both)));
  } else if (key == "const" || key == "pattern" || key == "format") {
    if (!json_equal(va, vb)) return schema_error(at, "allOf branches with different '" + key + "' cannot be combined");
  } else if (key == "properties") {
    if (!va.is_dict() || !vb.is_dict()) return schema_error(at, "'properties' must be an object");
    Dict props = va.as_dict();
    for (const auto& [name, sb] : vb.as_dict().items) {
      const JsonValue* sa = props.find(name);
      props.set(name, sa ? all_of(*sa, sb) : sb);
    }
    out->set(key, JsonValue::dict(std::move(props)));
  } else if (key == "required") {
    List req = va.is_list() ? va.as_list() : List{};
    for (const std::string& name : string_list(&vb))
      if (std::none_of(req.begin(), req.end(), [&](const JsonValue& r) { return r.is_string() && r.as_string() == name; }))
        req.push_back(JsonValue::string(name));
    out->set(key, JsonValue::list(std::move(req)));
  } else if (key == "additionalProperties" || key == "items") {
    if (va.is_list() || vb.is_list()) return schema_error(at, "allOf branches with list-form 'items' cannot be combined");
    if (is_false(&va) || is_false(&vb)) {
      out->set(key, JsonValue::boolean(false));
    } else if (va.kind() == ValueKind::kBool) {
      out->set(key, vb);
    } else if (vb.kind() != ValueKind::kBool) {
      out->set(key, all_of(va, vb));
    }
  } else if (kLowerBounds.count(key) || kUpperBounds.count(key)) {
    if (!va.is_number() || !vb.is_number())
      return schema_error(at, "allOf branches with draft 4 boolean '" + key + "' cannot be combined");
    const bool lower = kLowerBounds.count(key) > 0;
    out->set(key, (va.as_float() < vb.as_float()) == lower ? vb : va);
  } else if (key == "allOf") {
    if (!va.is_list() || !vb.is_list()) return schema_error(at, "'allOf' must be a list");
    List both = va.as_list();
    both.insert(both.end(), vb.as_list().begin(), vb.as_list().end());
    out->set(key, JsonValue::list(std::move(both)));
  } else if (key == "nullable" || key == "uniqueItems") {
    const bool a = va.kind() == ValueKind::kBool && va.as_bool(), b = vb.kind() == ValueKind::kBool && vb.as_bool();
    out->set(key, JsonValue::boolean(key == "nullable" ? a && b : a || b));
  } else if (!json_equal(va, vb)) {
    return schema_error(at, "allOf branches that both have '" + key + "' cannot be combined");
  }
  return ok_status();
}

// A side with additionalProperties false admits no property it does not declare.
Status close_properties(const Dict& side, const std::string& at, Dict* out) {
  if (!is_false(side.find("additionalProperties"))) return ok_status();
  const JsonValue* declared = side.find("properties");
  auto allowed = [&](const std::string& name) {
    return declared != nullptr && declared->is_dict() && declared->as_dict().find(name) != nullptr;
  };
  for (const std::string& name : string_list(out->find("required")))
    if (!allowed(name))
      return schema_error(at, "allOf: property '" + name + "' is required by one branch and not allowed by another");
  if (const JsonValue* props = out->find("properties"); props && props->is_dict()) {
    Dict kept;
    for (const auto& [name, s] : props->as_dict().items)
      if (allowed(name)) kept.set(name, s);
    out->set("properties", JsonValue::dict(std::move(kept)));
  }
  return ok_status();
}

bool types_overlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  for (const std::string& t : a)
    for (const std::string& u : b)
      if (t == u || (t == "integer" && u == "number") || (t == "number" && u == "integer")) return true;
  return false;
}

// Whether a finite value set of one side has no value the other schema accepts.
bool none_accepted(const JsonValue& document, const List& values, const JsonValue& other) {
  return std::none_of(values.begin(), values.end(),
                      [&](const JsonValue& v) { return check_json_schema(other, v, &document).ok(); });
}

}  // namespace

Status schema_error(const std::string& at, const std::string& what) {
  return unsupported((at.empty() ? std::string("/") : at) + ": " + what);
}

bool is_annotation(std::string_view keyword) { return kAnnotations.count(keyword) > 0; }

std::vector<std::string> schema_types(const JsonValue& schema) {
  static const std::vector<std::string> kAll = {"null", "boolean", "object", "array", "string", "number"};
  if (!schema.is_dict()) return kAll;
  const Dict& d = schema.as_dict();
  std::vector<std::string> out;
  if (const JsonValue* t = d.find("type")) {
    out = t->is_string() ? std::vector<std::string>{t->as_string()} : string_list(t);
  } else {
    auto any_of = [&](std::initializer_list<const char*> keys) {
      return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return d.find(k) != nullptr; });
    };
    if (any_of({"properties", "required", "additionalProperties"})) out.push_back("object");
    if (any_of({"items", "prefixItems", "additionalItems", "minItems", "maxItems"})) out.push_back("array");
    if (any_of({"minLength", "maxLength", "pattern", "format"})) out.push_back("string");
    if (any_of({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) out.push_back("number");
    if (out.empty()) return kAll;
  }
  if (const JsonValue* n = d.find("nullable"); n && n->kind() == ValueKind::kBool && n->as_bool()) out.push_back("null");
  return out;
}

StatusOr<JsonValue> inline_ref(const JsonValue& document, const JsonValue& schema, const std::string& at) {
  JsonValue s = schema;
  for (int i = 0; s.is_dict() && s.as_dict().find("$ref"); ++i) {
    if (i == kMaxRefChain) return schema_error(at, "a chain of more than " + std::to_string(kMaxRefChain) + " $refs");
    const JsonValue& ref = *s.as_dict().find("$ref");
    const JsonValue* target = ref.is_string() ? resolve_json_pointer(document, ref.as_string()) : nullptr;
    if (target == nullptr) return schema_error(at, "$ref must be a JSON pointer into this schema (\"#/$defs/name\")");
    Dict rest;
    for (const auto& [k, v] : s.as_dict().items)
      if (k != "$ref") rest.set(k, v);
    if (std::all_of(rest.items.begin(), rest.items.end(), [](const auto& kv) { return is_annotation(kv.first); })) {
      s = *target;
    } else {
      SB_ASSIGN_OR_RETURN(s, merge_schemas(document, *target, JsonValue::dict(std::move(rest)), at));
    }
  }
  return s;
}

StatusOr<JsonValue> merge_schemas(const JsonValue& document, const JsonValue& a_in, const JsonValue& b_in,
                                  const std::string& at) {
  SB_ASSIGN_OR_RETURN(JsonValue a, inline_ref(document, a_in, at));
  SB_ASSIGN_OR_RETURN(JsonValue b, inline_ref(document, b_in, at));
  for (const JsonValue* s : {&a, &b})
    if (s->kind() == ValueKind::kBool && !s->as_bool()) return schema_error(at, "allOf with a false branch allows nothing");
  if (a.kind() == ValueKind::kBool) return b;
  if (b.kind() == ValueKind::kBool) return a;
  if (!a.is_dict() || !b.is_dict()) return schema_error(at, "a schema must be an object or a boolean");
  Dict out = a.as_dict();
  for (const auto& [key, vb] : b.as_dict().items) {
    const JsonValue* va = a.as_dict().find(key);
    if (va == nullptr) {
      out.set(key, vb);
    } else if ((key == "anyOf" || key == "oneOf") && !json_equal(*va, vb)) {
      return schema_error(at, "allOf branches that both have '" + key + "' cannot be combined");
    } else {
      SB_RETURN_IF_ERROR(combine(key, *va, vb, at, &out));
    }
  }
  if ((a.as_dict().find("anyOf") && b.as_dict().find("oneOf")) || (a.as_dict().find("oneOf") && b.as_dict().find("anyOf")))
    return schema_error(at, "allOf branches with anyOf and oneOf cannot be combined");
  SB_RETURN_IF_ERROR(close_properties(a.as_dict(), at, &out));
  SB_RETURN_IF_ERROR(close_properties(b.as_dict(), at, &out));
  return JsonValue::dict(std::move(out));
}

bool provably_exclusive(const JsonValue& document, const JsonValue& a_in, const JsonValue& b_in) {
  auto a = inline_ref(document, a_in, ""), b = inline_ref(document, b_in, "");
  if (!a.ok() || !b.ok()) return false;
  if (!types_overlap(schema_types(*a), schema_types(*b))) return true;
  List scratch;
  if (const List* va = finite_values(*a, &scratch); va && none_accepted(document, *va, *b)) return true;
  if (const List* vb = finite_values(*b, &scratch); vb && none_accepted(document, *vb, *a)) return true;
  if (!a->is_dict() || !b->is_dict()) return false;
  const Dict &da = a->as_dict(), &db = b->as_dict();
  const std::vector<std::string> ra = string_list(da.find("required")), rb = string_list(db.find("required"));
  const JsonValue *pa = da.find("properties"), *pb = db.find("properties");
  // A property both require whose allowed values are a finite set the other side rejects.
  for (const std::string& name : ra) {
    if (std::find(rb.begin(), rb.end(), name) == rb.end() || !pa || !pb || !pa->is_dict() || !pb->is_dict()) continue;
    const JsonValue *sa = pa->as_dict().find(name), *sb = pb->as_dict().find(name);
    if (sa == nullptr || sb == nullptr) continue;
    auto xa = inline_ref(document, *sa, ""), xb = inline_ref(document, *sb, "");
    if (!xa.ok() || !xb.ok()) continue;
    if (const List* v = finite_values(*xa, &scratch); v && none_accepted(document, *v, *xb)) return true;
  }
  // A closed object missing a property the other requires.
  auto closed_without = [&](const Dict& closed, const JsonValue* props, const std::vector<std::string>& required) {
    if (!is_false(closed.find("additionalProperties"))) return false;
    return std::any_of(required.begin(), required.end(), [&](const std::string& name) {
      return props == nullptr || !props->is_dict() || props->as_dict().find(name) == nullptr;
    });
  };
  return closed_without(da, pa, rb) || closed_without(db, pb, ra);
}

}  // namespace sb::constrain
