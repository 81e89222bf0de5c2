// Schema algebra for the JSON Schema compiler (core/constrain/json_schema.h):
// the types a schema admits, allOf branches merged into one schema, and
// whether two oneOf branches provably never match the same value. `document`
// is the whole schema, where "$ref" pointers resolve.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/constrain/json_check.h"

namespace sb::constrain {

// "<at>: <what>" as an unsupported-status error, `at` a JSON pointer ("/" for the root).
Status schema_error(const std::string& at, const std::string& what);
// Keywords that only annotate (title, description, $defs, ...): they constrain nothing.
bool is_annotation(std::string_view keyword);

// The JSON types a schema object can produce: its "type" (one or a list), else
// the types its keywords constrain ("properties" -> object, "items" -> array,
// ...), else every type. "integer" stands apart from "number" here.
std::vector<std::string> schema_types(const JsonValue& schema);

// A schema whose instances are instances of both a and b: keywords of one side
// kept, shared ones combined (types intersected, bounds tightened, properties
// united with common ones as allOf, required united, a closed side's
// additionalProperties false removing the other side's extra properties).
// Refused, naming `at`: two different patterns or formats, anyOf/oneOf on both
// sides, and keywords that cannot be combined.
StatusOr<JsonValue> merge_schemas(const JsonValue& document, const JsonValue& a, const JsonValue& b,
                                  const std::string& at);

// A schema object with its top-level "$ref" replaced by the merge of its target
// and its other keywords (repeatedly, for a target that is a reference too).
StatusOr<JsonValue> inline_ref(const JsonValue& document, const JsonValue& schema, const std::string& at);

// True only when no value matches both: disjoint types, a finite enum/const
// side the other rejects, an object property both require whose enum/const
// sets are disjoint, or a closed object missing a property the other requires.
bool provably_exclusive(const JsonValue& document, const JsonValue& a, const JsonValue& b);

}  // namespace sb::constrain
