// TokenizerData: the plain description of a tokenizer, as read from GGUF metadata
// (gguf_tokenizer.h) or tokenizer.json (tokenizer_json.h); sb::Tokenizer builds its
// lookup tables from it. Readers fill it completely and validate ids and lengths;
// Tokenizer::from_data checks it again, since callers may build one by hand.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sb {

// How words become tokens.
enum class TokenizerModel {
  kSentencePiece,  // merge adjacent pieces by highest score (GGUF "llama"), byte fallback
  kBpe,            // merge adjacent symbols by lowest merge rank (GGUF "gpt2", tokenizer.json BPE)
};

// Per-token kind; the values are GGUF's tokenizer.ggml.token_type codes.
enum class TokenType : int32_t {
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,      // BOS/EOS/<|im_end|>...: matched only with parse_special, decodes to ""
  kUserDefined = 4,  // added tokens: always matched in text, decode to their text
  kUnused = 5,
  kByte = 6,         // <0xNN> byte-fallback tokens
};

// Text normalisation steps run before pre-tokenization, in order.
struct NormalizerStep {
  enum class Kind { kNfc, kNfd, kNfkc, kNfkd, kLowercase, kPrepend, kReplace, kStripLeft, kStripRight };
  Kind kind = Kind::kNfc;
  std::string pattern;      // kReplace: what to replace (literal unless pattern_is_regex)
  bool pattern_is_regex = false;
  std::string content;      // kPrepend: the prefix; kReplace: the replacement
};

// Pre-tokenizer steps: each splits every current piece further, in order.
struct PreTokenizerStep {
  enum class Kind {
    kSplit,      // split by `regex` (PCRE2 syntax, UTF + Unicode properties)
    kByteLevel,  // GPT-2 regex split when use_regex, then bytes -> GPT-2 unicode chars
    kMetaspace,  // ' ' -> replacement; prefix per prepend_scheme; split before it when split
    kDigits,     // digits isolated (one per piece when individual_digits)
  };
  // How the matches of a kSplit regex become pieces (tokenizer.json "behavior").
  enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };
  enum class Prepend { kAlways, kFirst, kNever };
  Kind kind = Kind::kSplit;
  std::string regex;
  Behavior behavior = Behavior::kIsolated;
  bool add_prefix_space = false;  // kByteLevel
  bool use_regex = true;          // kByteLevel
  std::string replacement = "\xe2\x96\x81";  // kMetaspace: U+2581
  Prepend prepend = Prepend::kAlways;        // kMetaspace
  bool split = false;                        // kMetaspace
  bool individual_digits = false;            // kDigits
};

// Whitespace an added token swallows where it is matched in text (tokenizer.json's
// lstrip / rstrip; llama.cpp's LSTRIP / RSTRIP attributes).
enum TokenStrip : uint8_t { kStripNone = 0, kStripLeft = 1, kStripRight = 2 };

struct TokenizerData {
  std::string source;  // file the data came from, for error messages
  TokenizerModel model = TokenizerModel::kBpe;
  std::string pre_name;  // GGUF tokenizer.ggml.pre, or "tokenizer.json"; for summary()

  std::vector<std::string> tokens;     // [n_vocab] piece text as stored
  std::vector<float> scores;           // [n_vocab] SentencePiece scores (empty: all 0)
  std::vector<TokenType> token_types;  // [n_vocab] (empty: kNormal except byte/specials)
  std::vector<std::pair<std::string, std::string>> merges;  // [n_merges] rank order
  std::vector<uint8_t> token_strip;    // [n_vocab] TokenStrip bits of added tokens (empty: none)

  // Encoding switches.
  bool byte_level = false;        // symbols are GPT-2-mapped bytes (byte-level BPE)
  bool byte_fallback = false;     // unknown characters become <0xNN> tokens
  bool ignore_merges = false;     // a whole pre-token found in the vocab is used as is
  bool add_space_prefix = false;  // SentencePiece: prepend ' ' to each text fragment
  bool escape_whitespace = false; // SentencePiece: ' ' -> U+2581 before merging
  std::vector<NormalizerStep> normalizer;
  std::vector<PreTokenizerStep> pre_tokenizer;

  // Decoding switches.
  bool strip_leading_space = false;  // drop the first decoded piece's leading ' '
  bool unescape_whitespace = false;  // U+2581 in normal pieces decodes to ' '

  // Special ids (-1 = none) and what the model asks for by default.
  int32_t bos_id = -1;
  std::vector<int32_t> eos_ids;  // first is the primary EOS; more end-of-generation ids after
  int32_t unk_id = -1;
  int32_t pad_id = -1;
  bool add_bos = false;
  bool add_eos = false;

  // The model's Jinja2 chat template (tokenizer_config.json `chat_template` or
  // chat_template.jinja beside it; GGUF tokenizer.chat_template); "" when none.
  std::string chat_template;
};

}  // namespace sb
