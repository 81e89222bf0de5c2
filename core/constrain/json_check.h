// A JSON Schema validator for the keywords compile_json_schema() supports,
// written from the keywords' definitions and sharing no code with the automaton:
// the check every json_schema output passes before it is written, and the
// tests' oracle. Patterns run on PCRE2 (ECMA-262 semantics where our regex
// subset has them: unanchored search, '$' only at the very end, ASCII classes);
// formats: date, time, date-time (RFC 3339, real calendar dates), uuid, email
// (dot-atom local part, a domain of two or more DNS labels).
#pragma once

#include <string_view>

#include "core/base/status.h"
#include "core/chat/jinja_value.h"

namespace sb::constrain {

using JsonValue = jinja::Value;  // the JSON DOM of core/chat (ordered objects, int64 kept exact)

// ok, or the first violation: "at /items/2: 5 is above maximum 4". $ref
// pointers resolve in `document` (default: the schema itself).
Status check_json_schema(const JsonValue& schema, const JsonValue& instance, const JsonValue* document = nullptr);
// The same on JSON text: invalid JSON text is a violation.
Status check_json_text(const JsonValue& schema, std::string_view text);

// The value a local "$ref" ("#", "#/$defs/x", JSON pointer escapes ~0 ~1)
// points to in document; null when it points nowhere or is not local.
const JsonValue* resolve_json_pointer(const JsonValue& document, std::string_view ref);

// JSON equality: numbers by value (1 == 1.0), booleans never equal to numbers,
// objects whatever their key order.
bool json_equal(const JsonValue& a, const JsonValue& b);

// Whether a string is a valid instance of a supported "format".
bool json_format_valid(std::string_view format, std::string_view s);

}  // namespace sb::constrain
