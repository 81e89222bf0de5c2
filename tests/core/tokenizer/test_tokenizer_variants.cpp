// Gemma's and Phi-3's SentencePiece variants on the Llama-2 vocabulary (no Gemma
// or Phi-3 vocabulary is in ../shared): GGUFs derived here from
// ggml-vocab-llama-spm.gguf as llama.cpp's converters would write them, against
// vectors from Google's sentencepiece plus the added-token rules
// (tests/tools/make_spm_vectors.py); and tokenizer.json's lstrip / rstrip.
#include <doctest/doctest.h>

#include <cctype>
#include <sstream>
#include <string>
#include <vector>

#include "core/modelgen/gguf_writer.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/gguf.h"
#include "formats/tokenizer_json.h"
#include "test_util.h"

namespace {

namespace gguf = sb::gguf;

// ggml-vocab-llama-spm.gguf with `added` appended as control tokens and some keys replaced.
std::string variant(const std::vector<std::string>& added, const std::vector<std::pair<std::string, gguf::Value>>& set,
                    const std::string& name) {
  auto f = gguf::File::open(sb::test::shared_path("vectors/ggml-vocab-llama-spm.gguf"));
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  gguf::Writer w;
  for (const auto& [key, value] : f->metadata()) {
    gguf::Value v = value;
    if (key == "tokenizer.ggml.tokens" || key == "tokenizer.ggml.scores" || key == "tokenizer.ggml.token_type") {
      std::vector<gguf::Value> elems;
      for (uint64_t i = 0; i < std::get<gguf::Array>(value.v).n; ++i) elems.push_back(gguf::array_element(value, i));
      for (const std::string& t : added) {
        if (key == "tokenizer.ggml.tokens") elems.push_back(gguf::value_string(t));
        if (key == "tokenizer.ggml.scores") elems.push_back(gguf::value_f32(0.0f));
        if (key == "tokenizer.ggml.token_type") elems.push_back(gguf::value_i32(3));  // control
      }
      v = gguf::value_array(value.elem_type, std::move(elems));
    }
    bool replaced = false;
    for (const auto& [k, nv] : set) replaced = replaced || k == key;
    if (!replaced) w.add_kv(key, std::move(v));
  }
  for (const auto& [k, nv] : set) w.add_kv(k, nv);
  const std::string path = sb::test::scratch_dir("spm_variants_" + name) + "/vocab.gguf";
  REQUIRE(w.write(path).ok());
  return path;
}

// Runs tests/vectors/<name>-spm.{inp,out}; returns the failures.
int run(const sb::Tokenizer& tok, const std::string& name) {
  const std::string base = std::string(SPECBATCH_SOURCE_DIR) + "/tests/vectors/" + name + "-spm";
  const std::string inp = sb::test::read_file(base + ".inp");
  std::istringstream out(sb::test::read_file(base + ".out"));
  const std::string sep = "\n__ggml_vocab_test__\n";
  int failures = 0, n = 0;
  for (size_t pos = 0, hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size(), ++n) {
    const std::string text = inp.substr(pos, hit - pos);
    std::string line;
    REQUIRE(std::getline(out, line));
    std::vector<int32_t> want;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) want.push_back(id);
    if (tok.encode(text, /*add_bos=*/false) != want) {
      ++failures;
      MESSAGE(name << ": '" << text << "' differs");
    }
  }
  CHECK(n > 50);
  return failures;
}

std::unique_ptr<sb::Tokenizer> load(const std::string& path) {
  auto t = sb::Tokenizer::load(path);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return std::move(t).value();
}

}  // namespace

TEST_CASE("tokenizer: Gemma's SentencePiece variant (no dummy prefix) matches sentencepiece") {
  const std::string path = variant({"<start_of_turn>", "<end_of_turn>"},
                                   {{"tokenizer.ggml.add_space_prefix", gguf::value_bool(false)},
                                    {"general.name", gguf::value_string("gemma-variant")}},
                                   "gemma");
  auto tok = load(path);
  CHECK(run(*tok, "gemma") == 0);
  // Nothing to strip on decode: the text comes back as it went in.
  const std::string text = "Hello world\n  two";
  CHECK(tok->decode(tok->encode(text, false)) == text);
}

TEST_CASE("tokenizer: Phi-3's variant (its added tokens swallow the whitespace after them) matches the rule") {
  const std::vector<std::string> added = {"<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
                                          "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>",
                                          "<|placeholder5|>", "<|placeholder6|>", "<|user|>"};
  auto tok = load(variant(added, {{"general.name", gguf::value_string("Phi-3 mini 4k instruct (variant)")}}, "phi3"));
  CHECK(run(*tok, "phi3") == 0);
  // The rule keys on the model name, as llama.cpp's does: another name keeps the whitespace.
  auto plain = load(variant(added, {{"general.name", gguf::value_string("other")}}, "phi3_other"));
  CHECK(plain->encode("<|user|>\nHi", false) != tok->encode("<|user|>\nHi", false));
}

TEST_CASE("tokenizer_json: lstrip and rstrip added tokens drop the whitespace beside them") {
  const std::string json = R"({
    "added_tokens": [{"id": 3, "content": "<|end|>", "special": true, "rstrip": true},
                     {"id": 4, "content": "<mask>", "special": true, "lstrip": true}],
    "model": {"type": "BPE", "vocab": {"a": 0, " ": 1, "\n": 2}, "merges": []}})";
  auto d = sb::parse_tokenizer_json(json, "", "t.json");
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  auto tok = sb::Tokenizer::from_data(*d);
  REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
  CHECK((*tok)->encode("a<|end|> \n a", false) == std::vector<int32_t>{0, 3, 0});
  CHECK((*tok)->encode("a \n<mask> a", false) == std::vector<int32_t>{0, 4, 1, 0});
  CHECK((*tok)->encode("<|end|>   ", false) == std::vector<int32_t>{3});
}
