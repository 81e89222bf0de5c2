// Reads a GGUF file's tokenizer metadata (tokenizer.ggml.model / tokens / scores /
// token_type / merges / pre / *_token_id / add_*) into a TokenizerData. Lengths,
// ids and type codes are validated; errors name the file and the key.
#pragma once

#include "core/base/status.h"
#include "formats/gguf.h"
#include "formats/tokenizer_data.h"

namespace sb {

// "llama" -> SentencePiece BPE, "gpt2" -> byte-level BPE with the split regexes of
// tokenizer.ggml.pre (missing: "default"); other models are kUnsupported.
StatusOr<TokenizerData> tokenizer_data_from_gguf(const gguf::File& file);

}  // namespace sb
