// Values of the chat-template interpreter (core/chat/chat_template.h): undefined, none,
// bool, int, float, string, list, ordered dict, namespace and macro, with Python /
// Jinja2 semantics for truthiness, equality, ordering and printing. Immutable
// except namespaces (shared, mutable via `set ns.x = ...`); copies are cheap.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "core/base/status.h"

namespace sb::jinja {

class Value;
using List = std::vector<Value>;

// An ordered mapping with string keys (JSON objects, dict literals, namespaces).
struct Dict {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(std::string_view key) const;
  void set(std::string key, Value value);  // replaces in place or appends
};

struct Macro;  // defined by the evaluator (core/chat/jinja_eval.h)

enum class ValueKind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kNamespace, kMacro };

class Value {
 public:
  Value() = default;  // undefined
  static Value none();
  static Value boolean(bool b);
  static Value integer(int64_t i);
  static Value number(double f);
  static Value string(std::string s);
  static Value list(List items);
  static Value dict(Dict d);
  static Value ns(Dict d);
  static Value macro(std::shared_ptr<const Macro> m);

  ValueKind kind() const { return static_cast<ValueKind>(v_.index()); }
  bool is_undefined() const { return kind() == ValueKind::kUndefined; }
  bool is_none() const { return kind() == ValueKind::kNone; }
  bool is_string() const { return kind() == ValueKind::kString; }
  bool is_list() const { return kind() == ValueKind::kList; }
  bool is_dict() const { return kind() == ValueKind::kDict; }
  bool is_int() const { return kind() == ValueKind::kInt; }
  bool is_number() const { return kind() == ValueKind::kInt || kind() == ValueKind::kFloat; }
  bool is_mapping() const { return kind() == ValueKind::kDict || kind() == ValueKind::kNamespace; }

  // Accessors; SB_CHECK the kind.
  bool as_bool() const;
  int64_t as_int() const;
  double as_float() const;  // ints widen
  const std::string& as_string() const;
  const List& as_list() const;
  const Dict& as_dict() const;  // dicts and namespaces
  Dict& namespace_dict() const;  // namespaces only: the shared mutable dict
  const std::shared_ptr<const Macro>& as_macro() const;

  // Nesting depth of lists/dicts (0 for scalars; namespaces count as leaves, so
  // a namespace holding itself cannot make printing recurse).
  int depth() const { return depth_; }
  // True for a namespace and for lists/dicts holding one at any depth; storing
  // such a value into a namespace is refused, so namespaces never form cycles.
  bool holds_namespace() const { return holds_ns_; }
  // Python truthiness: undefined, None, False, 0, 0.0, "", [] and {} are false.
  bool truthy() const;
  // Python str(): None -> "None", True -> "True", lists/dicts as their repr;
  // undefined prints as "".
  std::string str() const;
  // Python repr() (strings quoted), used inside printed lists and dicts.
  std::string repr() const;
  // Python ==: 1 == 1.0 == True; lists and dicts element-wise; namespaces by identity.
  bool equals(const Value& o) const;
  const char* type_name() const;  // "string", "list", ... for messages

 private:
  using Storage = std::variant<std::monostate, std::nullptr_t, bool, int64_t, double, std::shared_ptr<const std::string>,
                               std::shared_ptr<const List>, std::shared_ptr<const Dict>, std::shared_ptr<Dict>,
                               std::shared_ptr<const Macro>>;
  explicit Value(Storage v, int depth = 0, bool holds_ns = false)
      : v_(std::move(v)), depth_(depth), holds_ns_(holds_ns) {}
  Storage v_;
  int depth_ = 0;
  bool holds_ns_ = false;
};

// Python ordering (<) of numbers, strings (by code point) and lists; other
// pairs are an error, as in Python.
StatusOr<bool> less_than(const Value& a, const Value& b);

// JSON text as HF's `tojson` filter writes it (json.dumps, ensure_ascii=False):
// ", " and ": " separators, or newlines and `indent` spaces when indent >= 0.
// Undefined values, namespaces and macros are an error.
StatusOr<std::string> to_json(const Value& v, int indent = -1, bool sort_keys = false);

// Parses JSON text (objects keep key order; integers that fit int64 stay ints).
// Nesting deeper than max_depth is an error.
StatusOr<Value> parse_json(std::string_view json, int max_depth = 64);

// Code-point helpers for strings (Python indexes and measures strings in code
// points); invalid UTF-8 bytes count as one character each.
std::vector<std::string_view> utf8_chars(std::string_view s);

}  // namespace sb::jinja
