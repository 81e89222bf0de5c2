// JSON Schema to automaton: texts drawn from each compiled schema must pass the
// independent validator (json_check.h) — over hand-written schemas of the shapes
// datasets use and a few hundred generated ones — number ranges must match
// exactly the in-range values, and what is not supported is refused by path.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <sstream>
#include <string>

#include "core/constrain/json_check.h"
#include "core/constrain/json_schema.h"
#include "core/constrain/constrain_test_util.h"

namespace {

using sb::constrain::ConstraintKind;
using sb::constrain::ConstraintSpec;

ConstraintSpec schema_spec(const std::string& schema) {
  ConstraintSpec s;
  s.kind = ConstraintKind::kJsonSchema;
  s.text = schema;
  return s;
}

sb::constrain::JsonValue parsed(const std::string& json) {
  auto v = sb::jinja::parse_json(json);
  REQUIRE_MESSAGE(v.ok(), v.status().to_string());
  return std::move(v).value();
}

// Draws texts from the schema's grammar and checks each against the validator;
// returns how many were drawn.
int check_generated(const std::string& schema, std::mt19937_64& rng, int n) {
  CAPTURE(schema);
  const auto t = sb::test::compiled(schema_spec(schema), sb::test::byte_vocabulary());
  const auto s = parsed(schema);
  int drawn = 0;
  for (int i = 0; i < n; ++i) {
    const auto text = sb::test::random_text(t, rng, 60);
    if (!text) continue;
    ++drawn;
    CAPTURE(*text);
    const sb::Status ok = sb::constrain::check_json_text(s, *text);
    CHECK_MESSAGE(ok.ok(), ok.to_string());
  }
  return drawn;
}

const char* const kSchemas[] = {
    R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0,"maximum":130},
        "email":{"type":"string","format":"email"}},"required":["name","age"],"additionalProperties":false})",
    R"({"type":"object","properties":{"sentiment":{"enum":["positive","negative","neutral"]},
        "confidence":{"type":"number","minimum":0,"maximum":1}},"required":["sentiment","confidence"]})",
    R"({"type":"array","items":{"type":"object","properties":{"q":{"type":"string","maxLength":12},
        "a":{"type":"string","minLength":1,"maxLength":8}},"required":["q","a"]},"minItems":1,"maxItems":3})",
    R"({"$defs":{"node":{"type":"object","properties":{"v":{"type":"integer"},
        "kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},"required":["v"]}},"$ref":"#/$defs/node"})",
    R"({"type":"object","properties":{"id":{"type":"string","format":"uuid"},"when":{"type":"string","format":"date-time"},
        "day":{"type":"string","format":"date"},"at":{"type":"string","format":"time"}},
        "required":["id","when","day","at"]})",
    R"({"anyOf":[{"type":"string","pattern":"^[A-Z]{2}-[0-9]{3}$"},{"type":"integer","exclusiveMinimum":-5,
        "exclusiveMaximum":5},{"type":"null"}]})",
    R"({"oneOf":[{"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number","minimum":0}},
        "required":["kind","r"]},{"type":"object","properties":{"kind":{"const":"square"},"side":{"type":"number"}},
        "required":["kind","side"]}]})",
    R"({"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
        {"properties":{"b":{"type":"boolean"}},"required":["b"]}]})",
    R"({"type":"object","additionalProperties":{"type":"array","items":{"type":"number","minimum":-1.5,
        "maximum":2.25}}})",
    R"({"type":["string","null"],"enum":["a","b",null,3]})",
    R"({"type":"array","prefixItems":[{"type":"boolean"},{"const":{"x":[1,"\u00e9\n"]}}],"items":false,"minItems":1})",
    R"({"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","pattern":"^#[a-z]+$"},
        "minItems":2,"maxItems":4},"note":{"type":["string","null"]},"score":{"type":"integer","minimum":-1000,
        "maximum":-7}},"required":["tags"]})",
    R"({"type":"object","properties":{"x":{"type":"number","exclusiveMinimum":0.05,"maximum":0.5},
        "y":{"type":"number","minimum":-0.001,"exclusiveMaximum":0}},"required":["x","y"]})",
    R"({"type":"object","properties":{"p":{"type":"string","pattern":"^(a\"b|\\\\|\n)+$"}},"required":["p"]})",
    R"({"properties":{"a":{"type":"integer","minimum":3,"exclusiveMinimum":true}},"required":["a"],
        "title":"draft 4 bounds"})",
    R"({})",
    R"({"type":"object"})",
    R"({"nullable":true,"type":"object","properties":{"k":{"type":"string","nullable":true}},"required":["k"]})",
};

}  // namespace

TEST_CASE("json schema: generated texts validate, hand-written shapes") {
  std::mt19937_64 rng(3);
  for (const std::string schema : kSchemas) {
    CAPTURE(schema);
    CHECK(check_generated(schema, rng, 12) >= 8);
  }
}

TEST_CASE("json schema: generated texts validate, 300 generated schemas") {
  std::mt19937_64 rng(11);
  int drawn = 0;
  for (int i = 0; i < 300; ++i) drawn += check_generated(sb::test::random_schema(rng, 0), rng, 3);
  CHECK(drawn > 800);
}

TEST_CASE("json schema: number ranges accept exactly the values within the bounds") {
  std::mt19937_64 rng(5);
  // Candidate texts: integers and decimals from -30 to 30 with up to two fraction digits.
  std::vector<std::string> texts;
  for (int i = -30; i <= 30; ++i) {
    texts.push_back(std::to_string(i));
    for (int f = 0; f < 100; f += 7) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%s%d.%02d", i < 0 ? "-" : "", std::abs(i), f);
      texts.push_back(buf);
      if (i == 0) {
        std::snprintf(buf, sizeof(buf), "-0.%02d", f);
        texts.push_back(buf);
      }
    }
  }
  for (int round = 0; round < 40; ++round) {
    const bool integer = round % 3 == 0;
    // Whole cents, so the schema text (std::to_string) reads back as the same double.
    const int lo_c = static_cast<int>(rng() % 4000) - 2000, hi_c = lo_c + static_cast<int>(rng() % 2500);
    const double lo = lo_c / 100.0, hi = hi_c / 100.0;
    const bool lo_ex = rng() % 2, hi_ex = rng() % 2, has_lo = rng() % 5 != 0, has_hi = rng() % 5 != 0;
    std::string schema = std::string(R"({"type":")") + (integer ? "integer" : "number") + "\"";
    if (has_lo) schema += std::string(",\"") + (lo_ex ? "exclusiveMinimum" : "minimum") + "\":" + std::to_string(lo);
    if (has_hi) schema += std::string(",\"") + (hi_ex ? "exclusiveMaximum" : "maximum") + "\":" + std::to_string(hi);
    schema += "}";
    CAPTURE(schema);
    auto g = sb::constrain::compile_constraint(schema_spec(schema));
    if (!g.ok()) {  // an empty range
      CHECK(((has_lo && has_hi && (lo > hi || (lo == hi && (lo_ex || hi_ex)))) || integer));
      continue;
    }
    const auto t = sb::test::tables_of(std::move(g).value(), sb::test::byte_vocabulary());
    for (const std::string& text : texts) {
      const double v = std::stod(text);
      bool in = (!has_lo || (lo_ex ? v > lo : v >= lo)) && (!has_hi || (hi_ex ? v < hi : v <= hi));
      if (integer && text.find('.') != std::string::npos) in = false;
      // Bounded, the grammar writes no negative zero ("-0.00").
      if ((has_lo || has_hi) && text.rfind("-0.", 0) == 0 && v == 0) in = false;
      CAPTURE(text);
      CHECK(sb::test::matches(t, text) == in);
    }
  }
}

TEST_CASE("json schema: dates follow the calendar, formats agree with the validator") {
  const auto t = sb::test::compiled(schema_spec(R"({"type":"string","format":"date"})"), sb::test::byte_vocabulary());
  for (const char* d : {"2024-02-29", "2000-02-29", "2023-12-31", "0000-02-29", "1999-04-30"}) {
    CAPTURE(d);
    CHECK(sb::test::matches(t, std::string("\"") + d + "\""));
    CHECK(sb::constrain::json_format_valid("date", d));
  }
  for (const char* d : {"2023-02-29", "1900-02-29", "2023-04-31", "2023-13-01", "2023-00-10", "2023-1-01"}) {
    CAPTURE(d);
    CHECK_FALSE(sb::test::matches(t, std::string("\"") + d + "\""));
    CHECK_FALSE(sb::constrain::json_format_valid("date", d));
  }
}

TEST_CASE("json schema: unsupported keywords and unsatisfiable schemas are refused by path") {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type":"object","properties":{"age":{"type":"integer","multipleOf":5}}})",
       "/properties/age: keyword 'multipleOf' is not supported"},
      {R"({"type":"array","items":{"type":"string","format":"hostname"}})", "/items: format \"hostname\" is not supported"},
      {R"({"type":"array","uniqueItems":true})", "/: uniqueItems true is not supported"},
      {R"({"properties":{"a":{"not":{"type":"null"}}}})", "/properties/a: keyword 'not' is not supported"},
      {R"({"$ref":"https://example.com/s.json"})", "$ref must be a JSON pointer"},
      {R"({"$ref":"#/$defs/missing"})", "$ref must be a JSON pointer"},
      {R"({"oneOf":[{"type":"string"},{"type":"string","maxLength":3}]})", "/oneOf: branches 0 and 1 may both match"},
      {R"({"type":"integer","minimum":5,"maximum":4})", "no integer lies within the bounds"},
      {R"({"type":"string","enum":[1,2]})", "no enum/const value satisfies"},
      {R"({"type":"object","required":["x"],"additionalProperties":false})", "required property 'x' is not in properties"},
      {R"({"type":"string","pattern":"(a)\\1"})", "/pattern: regex at offset"},
      {R"({"type":"string","minLength":5,"maxLength":2})", "maxLength is below minLength"},
      {R"({"allOf":[{"type":"string"},{"type":"integer"}]})", "allow no common type"},
      {R"({"$defs":{"a":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"})", "matches no text"},
      {R"({"type":"string","pattern":"x","maxLength":3})", "pattern together with minLength or maxLength"},
      {"false", "the schema false allows no value"},
  };
  for (const auto& [schema, want] : cases) {
    CAPTURE(schema);
    auto g = sb::constrain::compile_constraint(schema_spec(schema));
    REQUIRE_FALSE(g.ok());
    CHECK_MESSAGE(g.status().message().find(want) != std::string::npos, g.status().message());
  }
}

TEST_CASE("json schema: json_object allows any object, compact") {
  ConstraintSpec s;
  s.kind = ConstraintKind::kJsonObject;
  const auto t = sb::test::compiled(s, sb::test::byte_vocabulary());
  CHECK(sb::test::matches(t, R"({"a":[1,{"b":null}],"c":"\u00e9\"","d":-0.5e+3})"));
  CHECK(sb::test::matches(t, "{}"));
  CHECK_FALSE(sb::test::matches(t, "[]"));
  CHECK_FALSE(sb::test::matches(t, "{ }"));  // compact: no whitespace
  CHECK_FALSE(sb::test::matches(t, R"({"a":"\ud800"})"));  // a lone surrogate escape
}
