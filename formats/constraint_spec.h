// The output constraint a record asks for, as stated in its line: OpenAI's
// response_format, or vLLM's guided_json / guided_regex / guided_choice /
// guided_grammar. core/constrain/constraint.h compiles it.
#pragma once

#include <string>
#include <vector>

namespace sb {

enum class ConstraintKind {
  kNone,        // plain text: response_format {"type": "text"} (overrides a default constraint)
  kJsonObject,  // any JSON object
  kJsonSchema,  // text: the schema as JSON text
  kRegex,       // text: a pattern the whole output matches
  kChoice,      // choices: the output is one of them
  kGrammar,     // text: a GBNF grammar
};

struct ConstraintSpec {
  ConstraintKind kind = ConstraintKind::kJsonObject;
  std::string text;
  std::vector<std::string> choices;
  // The record field it came from, for messages: "response_format", "guided_json", ...
  std::string field;
};

// "text", "json_object", "json_schema", "regex", "choice", "grammar".
const char* constraint_kind_name(ConstraintKind kind);

}  // namespace sb
