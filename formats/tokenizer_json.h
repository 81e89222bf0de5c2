// Reads a Hugging Face tokenizer.json (BPE model: vocab + merges, normalizer,
// pre_tokenizer, decoder, added_tokens, post_processor) and the optional
// tokenizer_config.json beside it (add_bos_token, bos_token, eos_token, ...) into
// a TokenizerData. Unsupported components are a kUnsupported Status naming them;
// malformed ones a kCorrupt Status naming the file and the field.
#pragma once

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "formats/tokenizer_data.h"

namespace sb {

// Reads `path` and, when present, tokenizer_config.json (and chat_template.jinja)
// in the same directory.
StatusOr<TokenizerData> load_tokenizer_json(const std::string& path);

// The same from bytes; `config_json` may be empty. `source` names the file in messages.
StatusOr<TokenizerData> parse_tokenizer_json(std::string_view json, std::string_view config_json,
                                             const std::string& source);

}  // namespace sb
