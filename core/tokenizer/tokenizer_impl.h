// Internals of sb::Tokenizer shared by tokenizer.cpp (loading, special tokens,
// decoding), tokenizer_bpe.cpp (pre-tokenizers, merge-rank BPE) and
// tokenizer_spm.cpp (score BPE). Private to core/: include only from those files.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "formats/tokenizer_data.h"

struct pcre2_real_code_8;

namespace sb {

// Per-call matching state (match data, JIT stack); one per encode() call, so a
// shared Tokenizer can encode from several threads at once.
class MatchScratch {
 public:
  MatchScratch();
  ~MatchScratch();
  MatchScratch(const MatchScratch&) = delete;
  MatchScratch& operator=(const MatchScratch&) = delete;

 private:
  friend class Regex;
  void* match_data_ = nullptr;
  void* jit_stack_ = nullptr;
  void* match_context_ = nullptr;
};

// A compiled PCRE2 pattern (UTF, Unicode properties, JIT when available); bytes
// that are not valid UTF-8 never match. Immutable after compile.
class Regex {
 public:
  // `literal`: the pattern is a plain string, not a regex.
  static StatusOr<Regex> compile(const std::string& pattern, bool literal = false);
  // Appends the [begin, end) byte ranges of all non-empty, non-overlapping matches in `s`.
  void find_all(std::string_view s, MatchScratch& scratch, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  struct Deleter {
    void operator()(pcre2_real_code_8* code) const;
  };
  std::unique_ptr<pcre2_real_code_8, Deleter> code_;
};

struct MergeInfo {
  int32_t rank;
  int32_t id;  // the merged token
};

// One span of input text: either a special/added token or raw text to encode.
struct Fragment {
  int32_t token = -1;      // >= 0: emit this id
  std::string_view text;   // token < 0: text to normalise, pre-tokenize and encode
};

struct Tokenizer::Impl {
  TokenizerData d;
  std::unordered_map<std::string, int32_t> piece_to_id;  // ordinary vocabulary entries
  std::unordered_map<uint64_t, MergeInfo> merges;        // (left << 32 | right) -> merge
  std::array<int32_t, 256> byte_token{};                 // byte -> token id, -1 when none
  ByteUnicodeMap byte_map;
  std::vector<std::string> decoded;                      // [n_vocab] token_bytes()
  // Special/added tokens by first byte, longest first: ids into d.tokens.
  std::array<std::vector<int32_t>, 256> specials_by_byte;
  std::vector<Regex> pre_regexes;                        // one per PreTokenizerStep (may be unused)
  std::vector<Regex> normalizer_regexes;                 // one per NormalizerStep kReplace

  Status build();
  Status build_specials();
  Status build_merges();
  void build_decoded();

  std::vector<Fragment> split_specials(std::string_view text, bool parse_special) const;
  std::string normalize(std::string_view text, MatchScratch& scratch) const;
  // Splits normalised text into pieces ready for the model.
  void pre_tokenize(std::string_view text, bool first_fragment, MatchScratch& scratch,
                    std::vector<std::string>& pieces) const;
  void bpe_encode(std::string_view piece, std::vector<int32_t>& out) const;
  void spm_encode(std::string_view text, std::vector<int32_t>& out) const;
  void encode_fragment(std::string_view text, bool prev_special, bool first_fragment, MatchScratch& scratch,
                       std::vector<int32_t>& out) const;
  // Byte fallback / unknown for one character or raw bytes.
  void emit_unknown(std::string_view bytes, std::vector<int32_t>& out) const;

  bool strip_first_space() const { return d.strip_leading_space; }
  TokenType type(int32_t id) const { return d.token_types[static_cast<size_t>(id)]; }
};

}  // namespace sb
