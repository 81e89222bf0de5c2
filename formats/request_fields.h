// The field policy of input records: every request field that OpenAI's
// completions and chat bodies or vLLM's SamplingParams (and its OpenAI server)
// define is either honoured or refused, never silently dropped. This table is
// the one place that says which; man/specbatch.1 (FIELD POLICY) prints the same
// table, and a test keeps the two equal. Fields nobody defines (user metadata)
// are not in it and pass through untouched.
#pragma once

#include <span>
#include <string_view>

namespace sb {

enum class FieldPolicy {
  kHonoured,  // parsed and applied (or, for provider bookkeeping, accepted with no effect on output)
  kRefused,   // an unsupported_param error record, unless given its neutral value
};
const char* field_policy_name(FieldPolicy policy);  // "honoured", "refused"

struct RequestField {
  std::string_view name;
  FieldPolicy policy;
  // Refused fields: the JSON value that asks for nothing (numbers compare by
  // value), accepted like an absent field; empty when every value is refused.
  std::string_view neutral;
  std::string_view note;
};

// Sorted by name.
std::span<const RequestField> request_fields();
// Null for a field nobody defines.
const RequestField* find_request_field(std::string_view name);

}  // namespace sb
