// core/chat/jinja_value.h's JSON: to_json writes what Hugging Face's `tojson`
// writes, Python's json.dumps(ensure_ascii=False), byte for byte: the expected
// texts below were produced by Python 3's json.dumps on json.loads of the same
// source (escapes, DEL and U+2028 kept raw, non-ASCII kept, floats as repr,
// "-0" an int, key order kept or sorted, indent).
#include <doctest/doctest.h>

#include <limits>
#include <string>

#include "core/chat/jinja_value.h"

namespace {

const char* kSource =
    "{\"b\": \"q\\\"\\\\/\\n\\t\\r\\b\\f\\u0001\\u001f\\u007f é € 😀 \\u2028 <&>\", \"a\": [1, -0, 2.5, 1e20, 1.0, 0.1, 123456789012, true, false, null, {}, []], \"c\": {\"y\": [], \"x\": {\"k\": \"v\"}}}";

std::string dumps(int indent, bool sort_keys) {
  auto v = sb::jinja::parse_json(kSource);
  REQUIRE(v.ok());
  auto json = sb::jinja::to_json(*v, indent, sort_keys);
  REQUIRE(json.ok());
  return *json;
}

}  // namespace

TEST_CASE("to_json equals Python's json.dumps(ensure_ascii=False): escapes, numbers, key order, indent") {
  CHECK(dumps(-1, false) ==
        "{\"b\": \"q\\\"\\\\/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f é € 😀 \u2028 <&>\", \"a\": [1, 0, 2.5, 1e+20, 1.0, 0.1, 123456789012, true, false, null, {}, []], \"c\": {\"y\": [], \"x\": {\"k\": \"v\"}}}");
  CHECK(dumps(2, false) ==
        "{\n  \"b\": \"q\\\"\\\\/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f é € 😀 \u2028 <&>\",\n  \"a\": [\n    1,\n    0,\n    2.5,\n    1e+20,\n    1.0,\n    0.1,\n    123456789012,\n    true,\n    false,\n    null,\n    {},\n    []\n  ],\n  \"c\": {\n    \"y\": [],\n    \"x\": {\n      \"k\": \"v\"\n    }\n  }\n}");
  CHECK(dumps(-1, true) ==
        "{\"a\": [1, 0, 2.5, 1e+20, 1.0, 0.1, 123456789012, true, false, null, {}, []], \"b\": \"q\\\"\\\\/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f é € 😀 \u2028 <&>\", \"c\": {\"x\": {\"k\": \"v\"}, \"y\": []}}");
  CHECK(dumps(0, true) ==
        "{\n\"a\": [\n1,\n0,\n2.5,\n1e+20,\n1.0,\n0.1,\n123456789012,\ntrue,\nfalse,\nnull,\n{},\n[]\n],\n\"b\": \"q\\\"\\\\/\\n\\t\\r\\b\\f\\u0001\\u001f\x7f é € 😀 \u2028 <&>\",\n\"c\": {\n\"x\": {\n\"k\": \"v\"\n},\n\"y\": []\n}\n}");
}

TEST_CASE("to_json: NaN and Infinity as Python writes them; values JSON has no text for are errors") {
  using sb::jinja::Value;
  const double inf = std::numeric_limits<double>::infinity();
  CHECK(*sb::jinja::to_json(Value::number(std::numeric_limits<double>::quiet_NaN())) == "NaN");
  CHECK(*sb::jinja::to_json(Value::list({Value::number(inf), Value::number(-inf)})) == "[Infinity, -Infinity]");
  CHECK_FALSE(sb::jinja::to_json(Value()).ok());  // undefined
}

TEST_CASE("parse_json (simdjson): key order, a repeated key as json.loads keeps it, number kinds, refusals") {
  auto round = [](const char* json) {
    auto v = sb::jinja::parse_json(json);
    REQUIRE_MESSAGE(v.ok(), v.status().message());
    return *sb::jinja::to_json(*v);
  };
  // Python: json.dumps(json.loads(...)) gives the same texts.
  CHECK(round(R"({"b":1,"a":2,"b":3})") == R"({"b": 3, "a": 2})");
  CHECK(round("[-0, 0.0, 1E2, 9223372036854775807, 1.5e-7]") == "[0, 0.0, 100.0, 9223372036854775807, 1.5e-07]");
  CHECK(round(R"(["\ud83d\ude00", "\u00e9"])") == "[\"\xF0\x9F\x98\x80\", \"\xC3\xA9\"]");
  // Floats as repr: fixed for decimal exponents in [-4, 16), else d.ddde+XX.
  CHECK(round("[0.0001, 1e-05, 1e16, 1e15, 123456789.123, 0.1, 0.3333333333333333, -2.5e-300, 5e-324, "
              "1.7976931348623157e308, -0.0, 100.0, 1e22, 12345678901234567.0, 2.5]") ==
        "[0.0001, 1e-05, 1e+16, 1000000000000000.0, 123456789.123, 0.1, 0.3333333333333333, -2.5e-300, 5e-324, "
        "1.7976931348623157e+308, -0.0, 100.0, 1e+22, 1.2345678901234568e+16, 2.5]");
  // Past int64 an integer becomes a float (Python would keep it exact); past uint64 it is refused.
  CHECK(round("[9223372036854775808]") == "[9.223372036854776e+18]");
  CHECK_FALSE(sb::jinja::parse_json("[18446744073709551616]").ok());
  CHECK_FALSE(sb::jinja::parse_json("{\"a\": 1,}").ok());
  CHECK_FALSE(sb::jinja::parse_json("[1] [2]").ok());
  const auto deep = sb::jinja::parse_json("[[[[1]]]]", 3);
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().message() == "JSON nested deeper than 3 levels");
  CHECK(sb::jinja::parse_json("[[1]]", 3).ok());
}
