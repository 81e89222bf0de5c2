// JSON output: string escaping and a small streaming writer that builds one
// whole JSON text in a std::string (callers write each output line with one write).
// Strings are emitted as valid UTF-8: invalid byte sequences become U+FFFD.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sb {

// Which characters a JSON string escapes besides ", \ and C0 controls:
// kControl also escapes DEL (0x7F), as specbatch's own lines do; kPython escapes
// exactly what Python's json.dumps(ensure_ascii=False) escapes (Hugging Face's
// `tojson` in chat templates), so DEL stays as it is.
enum class JsonEscapes { kControl, kPython };

// Appends `s` as a quoted JSON string: ", \ and control characters escaped
// (\n, \t, ... or \u00XX), other characters kept as UTF-8, invalid UTF-8 bytes
// replaced by U+FFFD.
void json_append_string(std::string& out, std::string_view s, JsonEscapes escapes = JsonEscapes::kControl);
std::string json_quote(std::string_view s);

// Builds nested objects/arrays with commas handled:
//   JsonWriter w; w.begin_object().key("a").value(1).end_object(); w.str() == {"a":1}
// Misuse (value without key inside an object, unbalanced end) is an SB_CHECK failure.
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(std::string_view k);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(int64_t v);
  JsonWriter& value(int v) { return value(static_cast<int64_t>(v)); }
  JsonWriter& value(uint64_t v);
  JsonWriter& value(double v);  // non-finite values are written as null
  JsonWriter& value(float v);   // the shortest text that reads back as the same float
  JsonWriter& value(bool v);
  JsonWriter& null();
  // Inserts already-valid JSON text (e.g. a number exactly as the input wrote it).
  JsonWriter& raw(std::string_view json);

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  // True once every opened object/array is closed and something was written.
  bool complete() const { return depth_.empty() && !out_.empty(); }

 private:
  void before_value();
  std::string out_;
  // Per open container: true for objects; `first_` tracks whether a comma is due.
  std::vector<bool> depth_;
  std::vector<bool> first_;
  bool after_key_ = false;
};

}  // namespace sb
