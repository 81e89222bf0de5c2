// Text <-> token ids. Two algorithms behind one type: SentencePiece-style BPE by
// scores with byte fallback (Llama-2, TinyStories, Mistral) and byte-level BPE by
// merge ranks after a pre-tokenizer split regex (GPT-2, Llama-3, Qwen2/3).
// Special/added tokens are matched before BPE. Loaded from GGUF tokenizer
// metadata, a tokenizer.json, or a Hugging Face directory. Encoding never fails:
// any bytes (invalid UTF-8 included) encode via byte fallback / byte-level tokens.
// Decoded text is always valid UTF-8 (ill-formed bytes become U+FFFD).
// A Tokenizer is immutable after loading (but add_eos_ids) and safe to share
// between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"

namespace sb {

struct TokenizerData;  // vocabulary, scores/merges, special tokens; see formats/tokenizer_data.h

class Tokenizer {
 public:
  // `path`: a .gguf file (tokenizer.ggml.*), a tokenizer.json, or a directory
  // holding tokenizer.json (+ tokenizer_config.json for BOS/EOS settings).
  static StatusOr<std::unique_ptr<Tokenizer>> load(const std::string& path);
  static StatusOr<std::unique_ptr<Tokenizer>> from_data(TokenizerData data);
  ~Tokenizer();

  int n_vocab() const;
  int bos_id() const;                  // -1 when the vocabulary has none
  // End-of-generation ids: the vocabulary's EOS first, then EOT/EOM and other
  // end-of-turn control tokens the vocabulary has (<|im_end|>, <|eot_id|>, ...).
  const std::vector<int>& eos_ids() const;
  bool is_eos(int32_t id) const;
  // Adds end-of-generation ids (e.g. from generation_config.json); ids outside
  // the vocabulary and duplicates are ignored.
  void add_eos_ids(std::span<const int32_t> ids);
  bool add_bos_default() const;        // what the model's settings ask for
  // The model's chat template source ("" when it has none), and the BOS / EOS
  // token text a template sees as bos_token / eos_token ("" when none).
  const std::string& chat_template() const;
  const std::string& bos_token() const;
  const std::string& eos_token() const;
  // One line for `specbatch inspect`, e.g.
  // "byte-level BPE, 151669 tokens, pre=qwen2, bos=none, eos=151645,151643".
  std::string summary() const;

  // Encodes text. With add_bos the BOS id is prepended (when the vocabulary has one),
  // and the EOS appended when the model's settings ask for it (add_eos_token).
  // With parse_special, special (control) tokens written in the text become their
  // ids; non-special added tokens always do. Empty text gives no tokens but BOS.
  std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special = true) const;

  // The bytes a token stands for (byte-fallback and byte-level tokens decoded);
  // may be an incomplete UTF-8 sequence. Control tokens (BOS/EOS...) give "".
  std::string token_bytes(int32_t id) const;
  // The vocabulary entry as stored (for inspect / logprobs display).
  const std::string& token_piece(int32_t id) const;
  // A control token's text as stored ("<s>", "<|im_end|>"); "" for any other token.
  std::string control_text(int32_t id) const;
  // Whether StreamDecoder drops a leading space from the first token that
  // follows `context` (SentencePiece, a context with no text).
  bool drops_leading_space(std::span<const int32_t> context) const;
  // Whole-sequence decode, same rules as StreamDecoder (valid UTF-8 out).
  std::string decode(std::span<const int32_t> ids) const;

 private:
  friend class StreamDecoder;
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenizer for generated tokens: push() returns only complete
// UTF-8 characters, holding back a partial sequence until it completes.
// For SentencePiece vocabularies the leading space of the first piece is
// dropped when that piece starts the text, as SentencePiece's decoder does:
// `context` holds the tokens before the first pushed one (the prompt), and a
// continuation of a prompt that has text keeps its space (" She" after "Lily.").
// Control tokens decode to nothing, or with keep_control to their text.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, std::span<const int32_t> context = {}, bool keep_control = false);
  std::string push(int32_t id);
  // Whatever is held back at the end (invalid bytes become U+FFFD).
  std::string finish();

 private:
  const Tokenizer& tok_;
  std::string pending_;
  bool strip_space_;  // until the first non-empty piece
  bool keep_control_;
};

}  // namespace sb
