// GGUF tokenizer metadata -> TokenizerData (see gguf_tokenizer.h).
#include "formats/gguf_tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "formats/tokenizer_presets.h"

namespace sb {
namespace {

constexpr const char* kPrefix = "tokenizer.ggml.";

std::string key(const char* name) { return std::string(kPrefix) + name; }

// Reads an optional token id. Missing, -1 and 0xFFFFFFFF (llama.cpp's "none")
// keep `*id`'s default; any other value outside the vocabulary is an error.
Status read_id(const gguf::File& f, const char* name, size_t n_vocab, int32_t* id) {
  auto v = f.get_int(key(name));
  if (!v.ok()) return v.status().code() == StatusCode::kNotFound ? ok_status() : v.status();
  const int64_t x = *v;
  if (x == -1 || x == 0xFFFFFFFFll) {
    *id = -1;
    return ok_status();
  }
  if (x < 0 || static_cast<uint64_t>(x) >= n_vocab) {
    return corrupt(f.path() + ": " + key(name) + " = " + std::to_string(x) + " is outside the vocabulary of " +
                   std::to_string(n_vocab) + " tokens");
  }
  *id = static_cast<int32_t>(x);
  return ok_status();
}

Status read_bool(const gguf::File& f, const char* name, bool* out) {
  auto v = f.get_bool(key(name));
  if (!v.ok()) return v.status().code() == StatusCode::kNotFound ? ok_status() : v.status();
  *out = *v;
  return ok_status();
}

// GGUF has no per-token strip flags; llama.cpp sets them for Phi-3 by the model
// name (general.name containing "phi-3" or "phi3", any case): every special token
// (control, user-defined, unknown) and </s> swallow the whitespace after them,
// except <unk>, <s> and <|endoftext|>.
Status phi3_strips(const gguf::File& f, TokenizerData* d) {
  if (f.find("general.name") == nullptr) return ok_status();
  SB_ASSIGN_OR_RETURN(std::string name, f.get_string("general.name"));
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.find("phi-3") == std::string::npos && name.find("phi3") == std::string::npos) return ok_status();
  d->token_strip.assign(d->tokens.size(), kStripNone);
  for (size_t i = 0; i < d->tokens.size(); ++i) {
    const TokenType t = d->token_types.empty() ? TokenType::kNormal : d->token_types[i];
    const std::string& s = d->tokens[i];
    const bool special = t == TokenType::kControl || t == TokenType::kUserDefined || t == TokenType::kUnknown;
    if ((special || s == "</s>") && s != "<unk>" && s != "<s>" && s != "<|endoftext|>") d->token_strip[i] = kStripRight;
  }
  return ok_status();
}

// tokens, and scores and token types when present (one per token).
Status read_vocabulary(const gguf::File& f, TokenizerData* out) {
  TokenizerData& d = *out;
  SB_ASSIGN_OR_RETURN(d.tokens, f.get_string_array(key("tokens")));
  const size_t n = d.tokens.size();
  if (n == 0) return corrupt(f.path() + ": " + key("tokens") + " is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return corrupt(f.path() + ": " + key("tokens") + " is too long");

  auto scores = f.get_float_array(key("scores"));
  if (scores.ok()) {
    if (scores->size() != n) {
      return corrupt(f.path() + ": " + key("scores") + " has " + std::to_string(scores->size()) + " entries for " +
                     std::to_string(n) + " tokens");
    }
    d.scores.assign(scores->begin(), scores->end());
  } else if (scores.status().code() != StatusCode::kNotFound) {
    return scores.status();
  }

  auto types = f.get_int_array(key("token_type"));
  if (types.ok()) {
    if (types->size() != n) {
      return corrupt(f.path() + ": " + key("token_type") + " has " + std::to_string(types->size()) +
                     " entries for " + std::to_string(n) + " tokens");
    }
    d.token_types.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      if (t < 0 || t > 6) {
        return corrupt(f.path() + ": " + key("token_type") + "[" + std::to_string(i) + "] = " + std::to_string(t) +
                       " is not a token type (0..6)");
      }
      d.token_types[i] = t == 0 ? TokenType::kNormal : static_cast<TokenType>(t);
    }
  } else if (types.status().code() != StatusCode::kNotFound) {
    return types.status();
  }
  return ok_status();
}

// Byte-level BPE: merges, the pre-tokenizer named by tokenizer.ggml.pre and the
// normaliser its model family uses.
Status read_bpe(const gguf::File& f, TokenizerData* out) {
  TokenizerData& d = *out;
  SB_ASSIGN_OR_RETURN(std::vector<std::string> merges, f.get_string_array(key("merges")));
  d.merges.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
    if (sp == std::string::npos || sp + 1 >= m.size()) {
      return corrupt(f.path() + ": " + key("merges") + "[" + std::to_string(i) + "] = '" + m +
                     "' is not two tokens separated by a space");
    }
    d.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
  }
  std::string pre = "default";
  auto pre_v = f.get_string(key("pre"));
  if (pre_v.ok()) {
    pre = *pre_v;
  } else if (pre_v.status().code() != StatusCode::kNotFound) {
    return pre_v.status();
  }
  auto regexes = pre_tokenizer_regexes(pre);
  if (!regexes.ok()) return regexes.status().with_context(f.path() + ": " + key("pre"));
  d.pre_name = pre;
  d.byte_level = true;
  for (const std::string& re : *regexes) {
    PreTokenizerStep step;
    step.kind = PreTokenizerStep::Kind::kSplit;
    step.regex = re;
    d.pre_tokenizer.push_back(std::move(step));
  }
  d.ignore_merges = pre == "llama-bpe" || pre == "llama3" || pre == "llama-v3";
  // Qwen2's own tokenizer normalises to NFC before splitting.
  if (pre == "qwen2" || pre == "qwen2.5" || pre == "qwen-2.5" || pre == "qwen3" || pre == "qwen35" ||
      pre == "deepseek-r1-qwen") {
    d.normalizer.push_back({NormalizerStep::Kind::kNfc, {}, false, {}});
  }
  return ok_status();
}

// SentencePiece as llama.cpp reads it: byte fallback, escaped whitespace, a
// space prefix, BOS, and <unk>=0, <s>=1, </s>=2 unless the file says otherwise.
void set_sentencepiece_defaults(TokenizerData* out) {
  TokenizerData& d = *out;
  const size_t n = d.tokens.size();
  d.pre_name = "";
  d.byte_fallback = true;
  d.escape_whitespace = true;
  d.unescape_whitespace = true;
  d.add_space_prefix = true;
  d.add_bos = true;
  d.unk_id = n > 0 ? 0 : -1;
  d.bos_id = n > 1 ? 1 : -1;
  d.eos_ids = {n > 2 ? 2 : -1};
}

}  // namespace

StatusOr<TokenizerData> tokenizer_data_from_gguf(const gguf::File& f) {
  TokenizerData d;
  d.source = f.path();
  auto model = f.get_string(key("model"));
  if (!model.ok()) {
    if (model.status().code() == StatusCode::kNotFound) {
      return not_found(f.path() + ": the file has no tokenizer (" + key("model") + " is missing)");
    }
    return model.status();
  }
  if (*model == "llama") {
    d.model = TokenizerModel::kSentencePiece;
  } else if (*model == "gpt2") {
    d.model = TokenizerModel::kBpe;
  } else {
    return unsupported(f.path() + ": " + key("model") + " '" + *model +
                       "' is not supported (specbatch reads 'llama' SentencePiece and 'gpt2' byte-level BPE)");
  }

  SB_RETURN_IF_ERROR(read_vocabulary(f, &d));
  const size_t n = d.tokens.size();
  if (d.model == TokenizerModel::kBpe) {
    SB_RETURN_IF_ERROR(read_bpe(f, &d));
  } else {
    set_sentencepiece_defaults(&d);
  }

  int32_t eos = d.eos_ids.empty() ? -1 : d.eos_ids.front();
  int32_t eot = -1, eom = -1;
  SB_RETURN_IF_ERROR(read_id(f, "bos_token_id", n, &d.bos_id));
  SB_RETURN_IF_ERROR(read_id(f, "eos_token_id", n, &eos));
  SB_RETURN_IF_ERROR(read_id(f, "eot_token_id", n, &eot));
  SB_RETURN_IF_ERROR(read_id(f, "eom_token_id", n, &eom));
  SB_RETURN_IF_ERROR(read_id(f, "unknown_token_id", n, &d.unk_id));
  SB_RETURN_IF_ERROR(read_id(f, "padding_token_id", n, &d.pad_id));
  SB_RETURN_IF_ERROR(read_bool(f, "add_bos_token", &d.add_bos));
  SB_RETURN_IF_ERROR(read_bool(f, "add_eos_token", &d.add_eos));
  SB_RETURN_IF_ERROR(read_bool(f, "add_space_prefix", &d.add_space_prefix));
  d.strip_leading_space = d.model == TokenizerModel::kSentencePiece && d.add_space_prefix;
  d.eos_ids.clear();
  for (int32_t id : {eos, eot, eom}) {
    if (id >= 0 && std::find(d.eos_ids.begin(), d.eos_ids.end(), id) == d.eos_ids.end()) d.eos_ids.push_back(id);
  }
  auto chat_template = f.get_string("tokenizer.chat_template");
  if (chat_template.ok()) {
    d.chat_template = std::move(chat_template).value();
  } else if (chat_template.status().code() != StatusCode::kNotFound) {
    return chat_template.status();
  }
  add_end_of_generation_ids(d);
  SB_RETURN_IF_ERROR(phi3_strips(f, &d));
  return d;
}

}  // namespace sb
