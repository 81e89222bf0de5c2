// JSON string escaping and the object writer: exact bytes, invalid UTF-8 replaced.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <limits>

#include "formats/json_writer.h"

using sb::json_quote;
using sb::JsonWriter;

TEST_CASE("json_quote escapes quotes, backslashes and control characters") {
  CHECK(json_quote("") == "\"\"");
  CHECK(json_quote("plain text") == "\"plain text\"");
  CHECK(json_quote("say \"hi\"\\") == "\"say \\\"hi\\\"\\\\\"");
  CHECK(json_quote("a\nb\tc\rd\be\ff") == "\"a\\nb\\tc\\rd\\be\\ff\"");
  CHECK(json_quote(std::string("nul\0x", 5)) == "\"nul\\u0000x\"");
  CHECK(json_quote("\x01\x1f\x7f") == "\"\\u0001\\u001f\\u007f\"");
  CHECK(json_quote("/") == "\"/\"");  // no need to escape the solidus
  std::string python;  // json.dumps(ensure_ascii=False) keeps DEL as it is
  sb::json_append_string(python, "\x01\x7f", sb::JsonEscapes::kPython);
  CHECK(python == "\"\\u0001\x7f\"");
}

TEST_CASE("json_quote keeps valid UTF-8 and replaces invalid bytes with U+FFFD") {
  CHECK(json_quote("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"");
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(json_quote("a\xFF" "b") == "\"a" + fffd + "b\"");
  CHECK(json_quote("\xC3") == "\"" + fffd + "\"");                   // truncated sequence
  CHECK(json_quote("\xC0\xAF") == "\"" + fffd + fffd + "\"");        // overlong '/'
  CHECK(json_quote("\xED\xA0\x80") == "\"" + fffd + fffd + fffd + "\"");  // UTF-16 surrogate
  CHECK(json_quote("\xF4\x90\x80\x80") == "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
  CHECK(json_quote("\xE2\x82") == "\"" + fffd + fffd + "\"");        // cut at the end
}

TEST_CASE("JsonWriter builds nested objects and arrays with commas") {
  JsonWriter w;
  w.begin_object();
  w.key("index").value(uint64_t{3});
  w.key("id").null();
  w.key("text").value("x\"y");
  w.key("ok").value(true);
  w.key("usage").begin_object().key("prompt_tokens").value(5).key("completion_tokens").value(int64_t{-1}).end_object();
  w.key("list").begin_array().value(1).value("two").begin_object().end_object().begin_array().end_array().end_array();
  w.key("raw").raw("12.50");
  w.end_object();
  CHECK(w.complete());
  CHECK(w.str() ==
        "{\"index\":3,\"id\":null,\"text\":\"x\\\"y\",\"ok\":true,"
        "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":-1},"
        "\"list\":[1,\"two\",{},[]],\"raw\":12.50}");
}

TEST_CASE("JsonWriter writes doubles that round-trip and non-finite ones as null") {
  auto one = [](double v) {
    JsonWriter w;
    w.begin_array().value(v).end_array();
    return w.take();
  };
  CHECK(one(0.5) == "[0.5]");
  CHECK(one(1.0) == "[1]");
  CHECK(one(0.1) == "[0.1]");
  CHECK(one(1.0 / 3.0) == "[0.3333333333333333]");
  CHECK(one(std::numeric_limits<double>::infinity()) == "[null]");
  CHECK(one(std::numeric_limits<double>::quiet_NaN()) == "[null]");
  JsonWriter w;
  w.begin_array().value(std::numeric_limits<uint64_t>::max()).value(std::numeric_limits<int64_t>::min()).end_array();
  CHECK(w.str() == "[18446744073709551615,-9223372036854775808]");
}

TEST_CASE("JsonWriter writes floats in their shortest round-trip text") {
  auto one = [](float v) {
    JsonWriter w;
    w.begin_array().value(v).end_array();
    return w.take();
  };
  CHECK(one(0.1f) == "[0.1]");  // not the double 0.100000001490116
  CHECK(one(-2.5f) == "[-2.5]");
  CHECK(one(std::numeric_limits<float>::infinity()) == "[null]");
  for (float v : {1.0f / 3.0f, -12.345678f, 1e-30f, std::numeric_limits<float>::denorm_min(),
                  std::numeric_limits<float>::max()}) {
    const std::string text = one(v);
    CAPTURE(text);
    CHECK(text.size() <= 2 + 15);
    CHECK(std::strtof(text.c_str() + 1, nullptr) == v);
  }
}

TEST_CASE("JsonWriter: a top-level scalar and an unfinished object") {
  JsonWriter w;
  w.value("only");
  CHECK(w.complete());
  CHECK(w.str() == "\"only\"");
  JsonWriter open;
  open.begin_object().key("a").value(1);
  CHECK_FALSE(open.complete());
}
