// JSON Schema compiled to the automaton form of core/constrain/grammar.h.
//
// Output is compact JSON: no whitespace outside strings; object properties in
// the order `properties` lists them; strings as raw UTF-8 with the escapes JSON
// requires (any escape in free strings). Every text the grammar matches is
// valid against the schema (json_check.h verifies it); where the schema allows
// more than the grammar writes, the grammar writes a subset (no properties
// beyond those declared, bounded numbers without exponents).
//
// Keywords: type (one or a list), enum, const, properties, required,
// additionalProperties (false; a schema or true generates a map only when no
// properties are declared), items (a schema, or draft 4's list), prefixItems,
// additionalItems, minItems, maxItems, uniqueItems false, minLength, maxLength,
// pattern, format (date, time, date-time, uuid, email), minimum, maximum,
// exclusiveMinimum, exclusiveMaximum (numbers, or draft 4's booleans), anyOf,
// oneOf (when its branches provably exclude each other), allOf (merged),
// $ref to "#..." JSON pointers ($defs, definitions; recursion allowed), nullable
// (OpenAPI), and annotations (title, description, default, examples, ...).
// Anything else is refused with the JSON pointer of where it stands:
// "/properties/age: keyword 'multipleOf' is not supported".
#pragma once

#include "core/base/status.h"
#include "core/constrain/grammar.h"
#include "core/constrain/json_check.h"

namespace sb::constrain {

StatusOr<Grammar> compile_json_schema(const JsonValue& schema, const GrammarLimits& limits = {});
// Any JSON object (response_format {"type": "json_object"}).
Grammar json_object_grammar();

// The JSON string escape encoding of a character set (a CharEncoder for regex_expr).
ExprId json_string_chars(GrammarBuilder& b, const CharSet& set);

}  // namespace sb::constrain
