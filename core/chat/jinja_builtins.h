// The built-in operations of the chat-template language: operators, filters,
// tests, methods of strings and dicts (startswith, items, get, ...), global
// functions (range, namespace, dict), slicing and iteration, all with Python /
// Jinja2 semantics, plus the sandbox budget every one of them charges. Errors
// carry no line number; the evaluator adds it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/chat/jinja_value.h"

namespace sb::jinja {

// Bounds of one render. Exceeding any is an error, never a crash or a hang.
struct RenderLimits {
  size_t max_output_bytes = size_t{16} << 20;  // the output and any one string value
  size_t max_items = 1'000'000;                // elements of any one list
  int64_t max_work = 1'000'000;                // statements, loop iterations, calls, built bytes / 64
  int max_depth = 256;                         // nested evaluation: expressions, blocks, macro calls
  int max_value_depth = 64;                    // nesting of lists and dicts
};

// Work accounting shared by the evaluator and the builtins.
class Budget {
 public:
  explicit Budget(const RenderLimits& limits) : limits_(limits) {}
  const RenderLimits& limits() const { return limits_; }
  // One step plus `bytes` / 64 for data built; an error once over max_work.
  Status charge(size_t bytes = 0);
  // An error when a string of `bytes` or a list of `items` would be too large.
  Status check_size(size_t bytes, size_t items = 0) const;

 private:
  const RenderLimits& limits_;
  int64_t work_ = 0;
};

struct CallArgs {
  std::vector<Value> args;
  std::vector<std::pair<std::string, Value>> kwargs;
};

// Binary operators: + - * / // % ** ~ == != < <= > >= in "not in".
StatusOr<Value> binary_op(std::string_view op, const Value& a, const Value& b, Budget& budget);
// `needle in haystack`: substring, list element, dict key; undefined holds nothing.
StatusOr<bool> contains(const Value& haystack, const Value& needle);
// What `for x in v` visits: list items, string characters, dict keys; undefined: nothing.
StatusOr<List> iterate(const Value& v);
// v[i] for lists and strings (negative from the end) and v[key] for mappings;
// undefined when absent, as Jinja's subscript is.
Value subscript(const Value& v, const Value& key);
// Python slicing v[start:stop:step] of lists and strings.
StatusOr<Value> slice(const Value& v, std::optional<int64_t> start, std::optional<int64_t> stop,
                      std::optional<int64_t> step);

StatusOr<Value> apply_filter(std::string_view name, const Value& input, const CallArgs& args, Budget& budget);
StatusOr<bool> apply_test(std::string_view name, const Value& input, const CallArgs& args);
// True when `name` is a method of v's type (strings and dicts).
bool has_method(const Value& v, std::string_view name);
StatusOr<Value> call_method(const Value& v, std::string_view name, const CallArgs& args, Budget& budget);
// range, namespace, dict; false when `name` is not a global function.
bool is_global_function(std::string_view name);
StatusOr<Value> call_global(std::string_view name, const CallArgs& args, Budget& budget);

}  // namespace sb::jinja
