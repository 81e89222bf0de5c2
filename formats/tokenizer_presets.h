// Named pre-tokenizer regex sets: the values GGUF files store in tokenizer.ggml.pre
// ("qwen2", "llama-bpe", "gpt-2", ...) mapped to the split regexes the original
// tokenizers use (PCRE2 syntax). An unknown name is a kUnsupported Status listing
// the known ones; there is no silent fallback.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace sb {

// The GPT-2 split regex (also what a tokenizer.json ByteLevel pre-tokenizer with
// use_regex=true applies).
const char* gpt2_split_regex();

// The split regexes for a GGUF tokenizer.ggml.pre value, applied in order, each
// splitting every piece further (matches and the gaps between them both kept).
StatusOr<std::vector<std::string>> pre_tokenizer_regexes(std::string_view pre_name);

// Appends to data.eos_ids the end-of-generation tokens a vocabulary has by name
// (<|im_end|>, <|eot_id|>, <|endoftext|>, <end_of_turn>, ...) when they are
// control or added tokens; ids already present are skipped.
struct TokenizerData;
void add_end_of_generation_ids(TokenizerData& data);

// Comma-separated list of the names pre_tokenizer_regexes() knows, for messages.
std::string known_pre_tokenizer_names();

}  // namespace sb
