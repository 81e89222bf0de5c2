// tokenizer.json parsing: components, merges in both spellings, errors naming
// the file and the field.
#include <doctest/doctest.h>

#include "formats/tokenizer_json.h"

namespace {

sb::StatusOr<sb::TokenizerData> parse(const std::string& json, const std::string& cfg = "") {
  return sb::parse_tokenizer_json(json, cfg, "t.json");
}

}  // namespace

TEST_CASE("tokenizer_json: Llama-style SentencePiece BPE") {
  const std::string json = R"({
    "added_tokens": [{"id": 1, "content": "<s>", "special": true}, {"id": 2, "content": "</s>", "special": true}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "pre_tokenizer": null,
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}]},
    "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
              "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x41>": 3, "a": 4, "b": 5, "ab": 6},
              "merges": ["a b", ["ab", "ab"]]}
  })";
  auto d = parse(json);
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  CHECK(d->tokens.size() == 7);
  CHECK(d->merges.size() == 2);
  CHECK(d->merges[1].first == "ab");
  CHECK(d->byte_fallback);
  CHECK_FALSE(d->byte_level);
  CHECK(d->unescape_whitespace);
  CHECK(d->strip_leading_space);
  CHECK(d->add_bos);
  CHECK(d->bos_id == 1);
  CHECK(d->unk_id == 0);
  CHECK(d->normalizer.size() == 2);
  CHECK(d->token_types[1] == sb::TokenType::kControl);
}

TEST_CASE("tokenizer_json: tokenizer_config.json settings") {
  const std::string json = R"({"added_tokens": [{"id": 3, "content": "<|end|>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";
  auto d = parse(json, R"({"add_bos_token": false, "bos_token": null, "eos_token": {"content": "<|end|>"}})");
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  CHECK(d->byte_level);
  CHECK(d->eos_ids.at(0) == 3);
  CHECK(d->bos_id == -1);
  CHECK(d->pre_tokenizer.size() == 1);
}

TEST_CASE("tokenizer_json: tokenizer_config.json as Meta ships it (an integer beyond 64 bits)") {
  const std::string json = R"({"added_tokens": [{"id": 3, "content": "<|begin_of_text|>", "special": true}],
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}})";
  auto d = sb::parse_tokenizer_json(json, R"({"bos_token": "<|begin_of_text|>", "clean_up_tokenization_spaces": true,
    "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 1000000000000000019884624838656,
    "tokenizer_class": "PreTrainedTokenizerFast"})", "dir/tokenizer.json");
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  CHECK(d->bos_id == 3);
  // Broken JSON there is blamed on tokenizer_config.json, with the parser's reason.
  auto bad = sb::parse_tokenizer_json(json, R"({"bos_token": )", "dir/tokenizer.json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("dir/tokenizer_config.json: not valid JSON (") == 0);
}

TEST_CASE("tokenizer_json: errors name the file and field") {
  auto bad = parse("{not json");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("t.json") != std::string::npos);

  bad = parse(R"({"model": {"type": "BPE", "vocab": {"a": -3}, "merges": []}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("model.vocab") != std::string::npos);

  bad = parse(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("model.merges[0]") != std::string::npos);

  bad = parse(R"({"model": {"type": "Unigram", "vocab": []}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == sb::StatusCode::kUnsupported);

  bad = parse(R"({"pre_tokenizer": {"type": "Whatever"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("pre_tokenizer") != std::string::npos);

  bad = parse(R"({"added_tokens": [{"id": 99999999, "content": "x"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("added_tokens[0].id") != std::string::npos);
}
