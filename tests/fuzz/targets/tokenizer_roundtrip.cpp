// The tokenizers' round trip on any valid UTF-8 text: decode(encode(x)) gives x
// back, for Qwen3's byte-level BPE (tokenizer.json; it normalises to NFC first, so
// NFC(x)) and Llama-2's SentencePiece vocabulary (GGUF). Special tokens written in
// the text stay text (parse_special off); added tokens are matched and decode back.
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {
namespace {

std::unique_ptr<Tokenizer> load(const std::string& rel) {
  auto tok = Tokenizer::load(std::string(SPECBATCH_SHARED_DIR) + "/" + rel);
  FUZZ_CHECK(tok.ok(), tok.status().message());
  return std::move(tok).value();
}

}  // namespace

int tokenizer_roundtrip(const uint8_t* data, size_t size) {
  static const std::unique_ptr<Tokenizer> qwen3 = load("tokenizers/qwen3/tokenizer.json");
  static const std::unique_ptr<Tokenizer> llama2 = load("vectors/ggml-vocab-llama-spm.gguf");
  const std::string_view text = as_text(data, size);
  if (!utf8_valid(text)) return 0;
  const std::string nfc = unicode_normalize(text, NormalForm::kNfc);
  const std::string q = qwen3->decode(qwen3->encode(text, false, false));
  FUZZ_CHECK(q == nfc, "Qwen3: decode(encode(x)) is NFC(x); got '" + q + "' for '" + std::string(text) + "'");
  const std::string l = llama2->decode(llama2->encode(text, false, false));
  FUZZ_CHECK(l == text, "Llama-2 SPM: decode(encode(x)) is x; got '" + l + "' for '" + std::string(text) + "'");
  return 0;
}

}  // namespace sb::fuzz
