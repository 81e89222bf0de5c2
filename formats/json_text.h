// Model-side JSON files as they ship (config.json, tokenizer.json,
// tokenizer_config.json). Integers beyond 64 bits are valid JSON (Meta's
// tokenizer_config.json: "model_max_length": 1000000000000000019884624838656)
// but simdjson's DOM refuses the whole document for one; padded_json() hands it
// a copy with such literals written as floats, so they read as numbers and only
// a field that is needed (and then out of range) is an error naming that field.
#pragma once

#include <simdjson.h>

#include <string_view>

namespace sb {

simdjson::padded_string padded_json(std::string_view text);

}  // namespace sb
