// Tokenizer tests: the published llama.cpp vocab vectors (qwen2, llama-spm,
// gpt-2; no BOS) through GGUF metadata, Qwen3's tokenizer.json against the qwen2
// vectors, round trips, streaming decode, stories260K, malformed inputs.
#include <doctest/doctest.h>

#include <chrono>
#include <random>
#include <sstream>

#include "core/modelgen/gguf_writer.h"
#include "core/tokenizer/tokenizer.h"
#include "core/tokenizer/unicode.h"
#include "formats/json_writer.h"
#include "formats/tokenizer_data.h"
#include "formats/tokenizer_json.h"
#include "test_util.h"

namespace {

struct Vector {
  std::string text;
  std::vector<int32_t> ids;
};

// .inp: each input is followed by "\n__ggml_vocab_test__\n"; .out: one line of
// space-separated ids per input.
std::vector<Vector> read_vectors(const std::string& base) {
  const std::string inp = sb::test::read_file(base + ".inp");
  const std::string out = sb::test::read_file(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<Vector> v;
  size_t pos = 0;
  while (pos < inp.size()) {
    const size_t hit = inp.find(sep, pos);
    if (hit == std::string::npos) break;
    v.push_back({inp.substr(pos, hit - pos), {}});
    pos = hit + sep.size();
  }
  std::istringstream lines(out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line) && i < v.size()) {
    std::istringstream nums(line);
    int32_t id;
    while (nums >> id) v[i].ids.push_back(id);
    ++i;
  }
  REQUIRE(i == v.size());
  return v;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

// Runs every vector; returns the number that pass and reports the failures.
int run_vectors(const sb::Tokenizer& tok, const std::vector<Vector>& vectors, const std::string& name,
                bool round_trip) {
  int pass = 0;
  for (const Vector& v : vectors) {
    const std::vector<int32_t> got = tok.encode(v.text, /*add_bos=*/false);
    if (got == v.ids) {
      ++pass;
    } else {
      MESSAGE(name << ": '" << v.text << "': got [" << show(got) << "] want [" << show(v.ids) << "]");
    }
    if (round_trip) CHECK_MESSAGE(tok.decode(got) == v.text, name << " round trip: '" << v.text << "'");
  }
  MESSAGE(name << " " << pass << "/" << vectors.size());
  return pass;
}

std::unique_ptr<sb::Tokenizer> load(const std::string& rel) {
  auto t = sb::Tokenizer::load(sb::test::shared_path(rel));
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return std::move(t).value();
}

}  // namespace

TEST_CASE("tokenizer: qwen2 vectors from GGUF") {
  auto tok = load("vectors/ggml-vocab-qwen2.gguf");
  auto v = read_vectors(sb::test::shared_path("vectors/ggml-vocab-qwen2.gguf"));
  CHECK(run_vectors(*tok, v, "qwen2", true) == static_cast<int>(v.size()));
  CHECK(tok->n_vocab() == 151936);
  MESSAGE(tok->summary());
}

TEST_CASE("tokenizer: gpt-2 vectors from GGUF") {
  auto tok = load("vectors/ggml-vocab-gpt-2.gguf");
  auto v = read_vectors(sb::test::shared_path("vectors/ggml-vocab-gpt-2.gguf"));
  CHECK(run_vectors(*tok, v, "gpt-2", true) == static_cast<int>(v.size()));
  CHECK(tok->eos_ids().front() == 50256);
}

TEST_CASE("tokenizer: llama-spm vectors from GGUF") {
  auto tok = load("vectors/ggml-vocab-llama-spm.gguf");
  auto v = read_vectors(sb::test::shared_path("vectors/ggml-vocab-llama-spm.gguf"));
  CHECK(run_vectors(*tok, v, "llama-spm", false) == static_cast<int>(v.size()));
  CHECK(tok->bos_id() == 1);
  CHECK(tok->add_bos_default());
  // SentencePiece decode drops the dummy prefix; whitespace otherwise survives.
  for (const Vector& x : v) {
    if (x.text.empty() || x.text[0] == ' ') continue;
    CHECK_MESSAGE(tok->decode(tok->encode(x.text, true)) == x.text, "spm round trip: '" << x.text << "'");
  }
}

TEST_CASE("tokenizer: qwen3 tokenizer.json gives the qwen2 vectors") {
  auto tok = load("tokenizers/qwen3/tokenizer.json");
  auto v = read_vectors(sb::test::shared_path("vectors/ggml-vocab-qwen2.gguf"));
  CHECK(run_vectors(*tok, v, "qwen3-json", true) == static_cast<int>(v.size()));
  CHECK(tok->bos_id() == -1);
  CHECK_FALSE(tok->add_bos_default());
  REQUIRE(tok->eos_ids().size() >= 2);
  CHECK(tok->eos_ids()[0] == 151645);
  CHECK(tok->is_eos(151643));
  MESSAGE(tok->summary());
  // Special tokens: matched with parse_special, plain text otherwise; control decodes to "".
  const auto with = tok->encode("<|im_start|>user\nhi<|im_end|>", false, true);
  CHECK(with.front() == 151644);
  CHECK(with.back() == 151645);
  const auto without = tok->encode("<|im_start|>", false, false);
  CHECK(without.size() > 1);
  CHECK(tok->decode(with) == "user\nhi");
  CHECK(tok->decode(without) == "<|im_start|>");
  // The directory form finds tokenizer.json too.
  auto dir = sb::Tokenizer::load(sb::test::shared_path("tokenizers/qwen3"));
  REQUIRE(dir.ok());
  CHECK((*dir)->encode("Hello world", false) == tok->encode("Hello world", false));
}

TEST_CASE("tokenizer: qwen35 pre-tokenizer (llama.cpp's split) on the qwen2 vocabulary") {
  // No Qwen3.5 vocabulary is at hand: the qwen2 vocab GGUF rewritten with
  // tokenizer.ggml.pre = qwen35. llama.cpp's own inputs hold no split where the
  // two regexes differ and must give its published qwen2 ids; the mark-heavy
  // inputs come from tests/tools/make_bpe_vectors.py (a reference BPE that
  // reproduces llama.cpp's qwen2 file), and the Thai one splits differently.
  auto src = sb::gguf::File::open(sb::test::shared_path("vectors/ggml-vocab-qwen2.gguf"));
  REQUIRE(src.ok());
  sb::gguf::Writer w;
  for (const auto& [key, value] : src->metadata())
    w.add_kv(key, key == "tokenizer.ggml.pre" ? sb::gguf::value_string("qwen35") : value);
  const std::string path = sb::test::scratch_dir("qwen35") + "/vocab.gguf";
  REQUIRE(w.write(path).ok());
  auto tok = sb::Tokenizer::load(path);
  REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
  auto llama_cpp = read_vectors(sb::test::shared_path("vectors/ggml-vocab-qwen2.gguf"));
  CHECK(run_vectors(**tok, llama_cpp, "qwen35", true) == static_cast<int>(llama_cpp.size()));
  auto marks = read_vectors(std::string(SPECBATCH_SOURCE_DIR) + "/tests/vectors/qwen35-marks");
  // No round trip there: NFC composes some of those marks into their letters.
  CHECK(run_vectors(**tok, marks, "qwen35-marks", false) == static_cast<int>(marks.size()));
  auto qwen2 = load("vectors/ggml-vocab-qwen2.gguf");
  CHECK(qwen2->encode(marks[1].text, false) != marks[1].ids);
}

TEST_CASE("tokenizer: a Llama-3 tokenizer.json directory as Meta ships it") {
  // No Llama-3 vocabulary is at hand: Meta's file layout (Split with Llama 3's
  // regex then ByteLevel without regex, ignore_merges, BOS by TemplateProcessing,
  // 256 added specials after the BPE vocabulary, tokenizer_config.json with its
  // 101-bit model_max_length and chat template) around the qwen2 vocabulary
  // (151936 tokens, larger than Llama 3's 128k). On llama.cpp's inputs Llama 3's
  // split gives the qwen2 ids on this vocabulary (tests/tools/make_bpe_vectors.py
  // PRE=llama-bpe: Qwen's vocabulary has no multi-digit tokens).
  auto src = sb::gguf::File::open(sb::test::shared_path("vectors/ggml-vocab-qwen2.gguf"));
  REQUIRE(src.ok());
  auto pieces = src->get_string_array("tokenizer.ggml.tokens");
  auto merges = src->get_string_array("tokenizer.ggml.merges");
  auto types = src->get_int_array("tokenizer.ggml.token_type");
  REQUIRE((pieces.ok() && merges.ok() && types.ok()));
  const int n_bpe = static_cast<int>(pieces->size());
  sb::JsonWriter j;
  j.begin_object().key("version").value("1.0").key("truncation").null().key("padding").null();
  j.key("added_tokens").begin_array();
  std::vector<std::string> specials = {"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                                       "<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
                                       "<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
                                       "<|eom_id|>", "<|eot_id|>", "<|python_tag|>"};
  while (specials.size() < 256) specials.push_back("<|reserved_special_token_" + std::to_string(specials.size() - 8) + "|>");
  for (size_t i = 0; i < specials.size(); ++i)
    j.begin_object().key("id").value(static_cast<int64_t>(n_bpe + static_cast<int>(i))).key("content").value(specials[i])
        .key("single_word").value(false).key("lstrip").value(false).key("rstrip").value(false)
        .key("normalized").value(false).key("special").value(true).end_object();
  j.end_array().key("normalizer").null();
  j.key("pre_tokenizer").begin_object().key("type").value("Sequence").key("pretokenizers").begin_array();
  j.begin_object().key("type").value("Split").key("pattern").begin_object().key("Regex")
      .value(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)")
      .end_object().key("behavior").value("Isolated").key("invert").value(false).end_object();
  j.begin_object().key("type").value("ByteLevel").key("add_prefix_space").value(false).key("trim_offsets").value(true)
      .key("use_regex").value(false).end_object();
  j.end_array().end_object();
  j.key("post_processor").begin_object().key("type").value("Sequence").key("processors").begin_array();
  j.begin_object().key("type").value("ByteLevel").key("add_prefix_space").value(true).key("trim_offsets").value(false)
      .key("use_regex").value(true).end_object();
  j.begin_object().key("type").value("TemplateProcessing").key("single").begin_array();
  j.begin_object().key("SpecialToken").begin_object().key("id").value("<|begin_of_text|>").key("type_id").value(0)
      .end_object().end_object();
  j.begin_object().key("Sequence").begin_object().key("id").value("A").key("type_id").value(0).end_object().end_object();
  j.end_array().end_object().end_array().end_object();
  j.key("decoder").begin_object().key("type").value("ByteLevel").key("add_prefix_space").value(true)
      .key("trim_offsets").value(true).key("use_regex").value(true).end_object();
  j.key("model").begin_object().key("type").value("BPE").key("dropout").null().key("unk_token").null()
      .key("continuing_subword_prefix").null().key("end_of_word_suffix").null().key("fuse_unk").value(false)
      .key("byte_fallback").value(false).key("ignore_merges").value(true).key("vocab").begin_object();
  for (int i = 0; i < n_bpe; ++i)
    if ((*types)[static_cast<size_t>(i)] == 1) j.key((*pieces)[static_cast<size_t>(i)]).value(static_cast<int64_t>(i));
  j.end_object().key("merges").begin_array();
  for (const std::string& m : *merges) j.value(m);
  j.end_array().end_object().end_object();
  const std::string dir = sb::test::scratch_dir("llama3_tokenizer");
  sb::test::write_file(dir + "/tokenizer.json", j.str());
  sb::test::write_file(dir + "/tokenizer_config.json", R"({
  "added_tokens_decoder": {"128000": {"content": "<|begin_of_text|>", "lstrip": false, "normalized": false,
                                      "rstrip": false, "single_word": false, "special": true}},
  "bos_token": "<|begin_of_text|>",
  "chat_template": "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}",
  "clean_up_tokenization_spaces": true,
  "eos_token": "<|eot_id|>",
  "model_input_names": ["input_ids", "attention_mask"],
  "model_max_length": 1000000000000000019884624838656,
  "tokenizer_class": "PreTrainedTokenizerFast"
})");
  auto tok = sb::Tokenizer::load(dir);
  REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
  CHECK((*tok)->n_vocab() == n_bpe + 256);
  CHECK((*tok)->bos_id() == n_bpe);
  CHECK((*tok)->add_bos_default());
  CHECK((*tok)->eos_ids().front() == n_bpe + 9);
  CHECK((*tok)->is_eos(n_bpe + 1));  // <|end_of_text|>
  CHECK((*tok)->is_eos(n_bpe + 8));  // <|eom_id|>
  CHECK_FALSE((*tok)->chat_template().empty());
  auto v = read_vectors(sb::test::shared_path("vectors/ggml-vocab-qwen2.gguf"));
  CHECK(run_vectors(**tok, v, "llama3-layout", true) == static_cast<int>(v.size()));
  const auto ids = (*tok)->encode("<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", true, true);
  REQUIRE(ids.size() >= 5);
  CHECK(ids[0] == n_bpe);
  CHECK(ids[1] == n_bpe + 6);
  CHECK(ids.back() == n_bpe + 9);
}

TEST_CASE("tokenizer: NFC normalisation for Qwen") {
  auto tok = load("tokenizers/qwen3/tokenizer.json");
  // "e" + COMBINING ACUTE normalises to U+00E9 before splitting.
  CHECK(tok->encode("caf\x65\xcc\x81", false) == tok->encode("caf\xc3\xa9", false));
}

TEST_CASE("tokenizer: stories260K encode/decode") {
  auto tok = load("models/stories260K.gguf");
  CHECK(tok->n_vocab() == 512);
  CHECK(tok->bos_id() == 1);
  CHECK(tok->eos_ids().front() == 2);
  const std::string text = sb::test::read_file(sb::test::shared_path("models/stories260K.greedy.txt"));
  const auto ids = tok->encode(text, true);
  REQUIRE(ids.size() > 10);
  CHECK(ids[0] == 1);
  CHECK(tok->decode(ids) == text);
  // Streaming gives the same text, starting without the dummy-prefix space.
  sb::StreamDecoder dec(*tok);
  std::string streamed;
  for (int32_t id : ids) streamed += dec.push(id);
  streamed += dec.finish();
  CHECK(streamed == text);
  CHECK(streamed.rfind("Once upon a time", 0) == 0);
  // Characters outside the 512-piece vocabulary go through byte fallback.
  const std::string odd = "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x81 ok";
  CHECK(tok->decode(tok->encode(odd, false)) == odd);
  MESSAGE(tok->summary());
}

TEST_CASE("tokenizer: a continuation keeps its SentencePiece space; the start of text drops it") {
  auto tok = load("models/stories260K.gguf");
  const auto prompt = tok->encode("Lily was happy.", true);
  const auto cont = tok->encode("She smiled", false);  // "▁She▁smiled": dummy prefix included
  REQUIRE(!cont.empty());
  // The whole text decodes as prompt + " " + continuation: the generated part keeps the space.
  std::vector<int32_t> all = prompt;
  all.insert(all.end(), cont.begin(), cont.end());
  CHECK(tok->decode(all) == "Lily was happy. She smiled");
  sb::StreamDecoder after_prompt(*tok, prompt);
  std::string text;
  for (int32_t id : cont) text += after_prompt.push(id);
  CHECK(text + after_prompt.finish() == " She smiled");
  // After BOS alone (only control tokens before it) the continuation is the start of the text.
  const int32_t bos[] = {tok->bos_id()};
  sb::StreamDecoder after_bos(*tok, bos);
  text.clear();
  for (int32_t id : cont) text += after_bos.push(id);
  CHECK(text + after_bos.finish() == "She smiled");
}

TEST_CASE("tokenizer: StreamDecoder never splits a UTF-8 character") {
  auto tok = load("vectors/ggml-vocab-gpt-2.gguf");
  // A 4-byte emoji in GPT-2 is several byte-level tokens.
  const std::string text = "a\xf0\x9f\x98\x81 b\xc3\xa9";
  const auto ids = tok->encode(text, false);
  sb::StreamDecoder dec(*tok);
  std::string all;
  for (int32_t id : ids) {
    const std::string piece = dec.push(id);
    CHECK(sb::utf8_valid(piece));
    CHECK(sb::utf8_incomplete_tail(piece) == 0);
    all += piece;
  }
  all += dec.finish();
  CHECK(all == text);
  // Byte by byte, through the byte tokens.
  auto byte_id = [&](uint8_t b) { return tok->encode(std::string(1, static_cast<char>(b)), false).at(0); };
  sb::StreamDecoder d2(*tok);
  CHECK(d2.push(byte_id(0xf0)).empty());
  CHECK(d2.push(byte_id(0x9f)).empty());
  CHECK(d2.push(byte_id(0x98)).empty());
  CHECK(d2.push(byte_id(0x81)) == "\xf0\x9f\x98\x81");
  // A truncated sequence becomes U+FFFD at finish, or when a non-continuation follows.
  sb::StreamDecoder d3(*tok);
  CHECK(d3.push(byte_id(0xe2)).empty());
  CHECK(d3.finish() == "\xef\xbf\xbd");
  sb::StreamDecoder d4(*tok);
  CHECK(d4.push(byte_id(0xe2)).empty());
  CHECK(d4.push(byte_id('x')) == "\xef\xbf\xbdx");
}

TEST_CASE("tokenizer: any bytes encode without crashing") {
  auto qwen = load("vectors/ggml-vocab-qwen2.gguf");
  auto gpt2 = load("vectors/ggml-vocab-gpt-2.gguf");
  auto spm = load("vectors/ggml-vocab-llama-spm.gguf");
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string s(rng() % 40, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xFF);
    const auto a = qwen->encode(s, true);
    // Qwen normalises to NFC; GPT-2 has no normaliser, so byte-level keeps every byte.
    CHECK(qwen->decode(a) == sb::utf8_sanitize(sb::unicode_normalize(s, sb::NormalForm::kNfc)));
    CHECK(gpt2->decode(gpt2->encode(s, false)) == sb::utf8_sanitize(s));
    const auto b = spm->encode(s, true);
    CHECK(sb::utf8_valid(spm->decode(b)));
    for (int32_t id : a) CHECK((id >= 0 && id < qwen->n_vocab()));
    for (int32_t id : b) CHECK((id >= 0 && id < spm->n_vocab()));
  }
  CHECK(qwen->token_bytes(-5).empty());
  CHECK(qwen->token_bytes(1 << 30).empty());
}

TEST_CASE("tokenizer: 100 KB encodes quickly (no quadratic merges)") {
  auto tok = load("vectors/ggml-vocab-qwen2.gguf");
  auto spm = load("vectors/ggml-vocab-llama-spm.gguf");
  std::string text;
  while (text.size() < 100 * 1024) text += "The quick brown fox jumps over the lazy dog; 12345 \xc3\xa9t\xc3\xa9\n";
  const std::string letters(100 * 1024, 'a');  // one pre-token, 100K symbols
  const auto t0 = std::chrono::steady_clock::now();
  const auto a = tok->encode(text, false);
  const auto b = tok->encode(letters, false);
  const auto c = spm->encode(text, false);
  const auto d = spm->encode(letters, false);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MESSAGE("4 x 100 KB encoded in " << s << " s");
  CHECK(tok->decode(a) == text);
  CHECK(tok->decode(b) == letters);
  CHECK(spm->decode(c) == text);
  CHECK(spm->decode(d) == letters);
}

TEST_CASE("tokenizer: malformed data gives a clear Status") {
  sb::TokenizerData d;
  d.source = "bad.json";
  d.tokens = {"a", "b"};
  d.token_types = {sb::TokenType::kNormal};
  auto r = sb::Tokenizer::from_data(d);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("bad.json") != std::string::npos);
  CHECK(r.status().message().find("token types") != std::string::npos);

  d.token_types.clear();
  d.merges = {{"a", "c"}};
  r = sb::Tokenizer::from_data(d);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("merge 0") != std::string::npos);

  d.merges = {{"a", "b"}};  // "ab" is not a token
  r = sb::Tokenizer::from_data(d);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("'ab'") != std::string::npos);

  d.merges.clear();
  d.bos_id = 7;
  r = sb::Tokenizer::from_data(d);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("bos id 7") != std::string::npos);

  d.bos_id = -1;
  d.pre_tokenizer.push_back({});
  d.pre_tokenizer.back().regex = "(unclosed";
  r = sb::Tokenizer::from_data(d);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("does not compile") != std::string::npos);
}

TEST_CASE("tokenizer: broken GGUF tokenizer metadata") {
  namespace g = sb::gguf;
  const std::string dir = sb::test::scratch_dir("tokenizer_gguf");
  auto try_load = [&](const std::vector<std::pair<std::string, g::Value>>& kvs) {
    g::Writer w;
    for (const auto& [k, v] : kvs) w.add_kv(k, v);
    const std::string path = dir + "/t.gguf";
    REQUIRE(w.write(path).ok());
    return sb::Tokenizer::load(path);
  };
  const auto model = std::make_pair(std::string("tokenizer.ggml.model"), g::value_string("gpt2"));
  const auto tokens = std::make_pair(std::string("tokenizer.ggml.tokens"), g::value_string_array({"a", "b", "ab"}));
  const auto merges = std::make_pair(std::string("tokenizer.ggml.merges"), g::value_string_array({"a b"}));
  const auto pre = std::make_pair(std::string("tokenizer.ggml.pre"), g::value_string("gpt-2"));

  auto ok = try_load({model, tokens, merges, pre});
  REQUIRE_MESSAGE(ok.ok(), ok.status().to_string());
  CHECK((*ok)->encode("abab", false) == std::vector<int32_t>{2, 2});

  auto r = try_load({model, tokens, merges, pre, {"tokenizer.ggml.token_type", g::value_i32_array({1, 1})}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("t.gguf") != std::string::npos);
  CHECK(r.status().message().find("tokenizer.ggml.token_type") != std::string::npos);

  r = try_load({model, tokens, merges, pre, {"tokenizer.ggml.eos_token_id", g::value_u32(77)}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("tokenizer.ggml.eos_token_id") != std::string::npos);

  r = try_load({model, tokens, {"tokenizer.ggml.merges", g::value_string_array({"a c"})}, pre});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("'c'") != std::string::npos);

  r = try_load({model, tokens, merges, {"tokenizer.ggml.pre", g::value_string("no-such-pre")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == sb::StatusCode::kUnsupported);
  CHECK(r.status().message().find("no-such-pre") != std::string::npos);

  r = try_load({{"tokenizer.ggml.model", g::value_string("bert")}, tokens});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == sb::StatusCode::kUnsupported);

  r = try_load({{"general.name", g::value_string("x")}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("no tokenizer") != std::string::npos);
}

TEST_CASE("tokenizer: Llama-style tokenizer.json (normalizer or Metaspace)") {
  const std::string model = R"("model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>",
      "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "\u2581": 3, "a": 4, "b": 5, "ab": 6, "\u2581ab": 7, "<0x21>": 8},
      "merges": ["a b", "\u2581 ab"]})";
  const std::string common = R"("added_tokens": [{"id": 1, "content": "<s>", "special": true},
      {"id": 2, "content": "</s>", "special": true}],
    "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
      {"Sequence": {"id": "A", "type_id": 0}}]},)";
  const std::string legacy = "{" + common + R"(
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
      {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
      {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},)" +
                             model + "}";
  const std::string metaspace = "{" + common + R"(
    "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false},
    "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": false},)" +
                                model + "}";
  for (const std::string& json : {legacy, metaspace}) {
    auto data = sb::parse_tokenizer_json(json, "", "llama.json");
    REQUIRE_MESSAGE(data.ok(), data.status().to_string());
    auto tok = sb::Tokenizer::from_data(std::move(data).value());
    REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
    CHECK((*tok)->add_bos_default());
    const auto ids = (*tok)->encode("ab ab!", (*tok)->add_bos_default());
    CHECK(ids == std::vector<int32_t>{1, 7, 7, 8});
    CHECK((*tok)->decode(ids) == "ab ab!");
  }
}
