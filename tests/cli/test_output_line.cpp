// cli/output_line.h in-process, byte for byte: specbatch lines (n = 1 and n > 1 with
// "choices" and "spec"), OpenAI Batch text and chat completions, error records of
// both shapes, numeric and absent ids, token ids, the logprobs shapes, and the
// prompt lines of `tokenize --messages`. tests/cli/test_run.cpp checks the same
// shapes coming out of real runs.
#include <doctest/doctest.h>

#include <memory>

#include "cli/output_line.h"
#include "test_util.h"

using sb::GenerationResult;
using sb::Record;
using sb::cli::OutputFormat;
using sb::cli::OutputLineFormat;
using sb::cli::OutputLineOptions;

namespace {

const sb::Tokenizer& stories_tokenizer() {
  static const std::unique_ptr<sb::Tokenizer> tok = [] {
    auto t = sb::Tokenizer::load(sb::test::shared_path("models/stories260K.gguf"));
    REQUIRE(t.ok());
    return std::move(t).value();
  }();
  return *tok;
}

Record record(uint64_t index, const std::string& id = "", bool numeric = false) {
  Record r;
  r.index = index;
  r.has_id = !id.empty();
  r.id_is_number = numeric;
  r.id = id;
  return r;
}

GenerationResult sample(const std::string& text, int prompt_tokens, int completion_tokens) {
  GenerationResult g;
  g.text = text;
  g.finish_reason = sb::FinishReason::kLength;
  g.prompt_tokens = prompt_tokens;
  g.completion_tokens = completion_tokens;
  return g;
}

OutputLineOptions openai(std::string model = "stories260K.gguf", int64_t created = 1700000000) {
  OutputLineOptions o;
  o.format = OutputFormat::kOpenAi;
  o.model = std::move(model);
  o.created = created;
  return o;
}

}  // namespace

TEST_CASE("a specbatch line: index, id, text, finish_reason, usage; spec last; n > 1 as choices") {
  OutputLineOptions o;
  const OutputLineFormat plain(o, stories_tokenizer());
  const GenerationResult g = sample("Once", 5, 3);
  CHECK(plain.result(record(12, "req-a"), {&g, 1}, {}) ==
        R"({"index":12,"id":"req-a","text":"Once","finish_reason":"length","usage":{"prompt_tokens":5,"completion_tokens":3}})");
  CHECK(plain.result(record(0, "17", true), {&g, 1}, {}).starts_with(R"({"index":0,"id":17,"text")"));
  CHECK(plain.result(record(0), {&g, 1}, {}).starts_with(R"({"index":0,"id":null,"text")"));

  o.spec = true;
  const OutputLineFormat spec(o, stories_tokenizer());
  GenerationResult two[2] = {sample("a", 5, 2), sample("b", 5, 4)};
  two[0].spec = {3, 1, 2};
  CHECK(spec.result(record(1), {two, 1}, {}) ==
        R"({"index":1,"id":null,"text":"a","finish_reason":"length","usage":{"prompt_tokens":5,"completion_tokens":2},)"
        R"("spec":{"drafted":3,"accepted":1,"steps":2}})");
  CHECK(spec.result(record(1), two, {}) ==
        R"({"index":1,"id":null,"choices":[{"index":0,"text":"a","finish_reason":"length","spec":{"drafted":3,)"
        R"("accepted":1,"steps":2}},{"index":1,"text":"b","finish_reason":"length","spec":{"drafted":0,"accepted":0,)"
        R"("steps":0}}],"usage":{"prompt_tokens":5,"completion_tokens":6}})");
}

TEST_CASE("token ids: prompt_token_ids before the sample, token_ids after finish_reason; the record decides") {
  OutputLineOptions o;
  o.return_token_ids = true;
  const OutputLineFormat lines(o, stories_tokenizer());
  GenerationResult g = sample("x", 2, 1);
  g.tokens = {7};
  const int32_t prompt[] = {1, 403};
  Record r = record(4);
  CHECK(lines.result(r, {&g, 1}, prompt) ==
        R"({"index":4,"id":null,"prompt_token_ids":[1,403],"text":"x","finish_reason":"length","token_ids":[7],)"
        R"("usage":{"prompt_tokens":2,"completion_tokens":1}})");
  r.params.return_token_ids = false;
  CHECK_FALSE(lines.wants_token_ids(r));
  CHECK(lines.result(r, {&g, 1}, {}).find("token_ids") == std::string::npos);
}

TEST_CASE("logprobs: the specbatch list and both OpenAI shapes") {
  const sb::Tokenizer& tok = stories_tokenizer();
  GenerationResult g = sample("", 1, 1);
  g.tokens = {403};
  g.n_top_logprobs = 1;
  g.logprobs = {-0.5f};
  g.top_logprobs = {{403, -0.5f}};
  const std::string t = tok.token_bytes(403);
  REQUIRE(t.find_first_of("\"\\$") == std::string::npos);
  std::string bytes;
  for (char c : t) {
    if (!bytes.empty()) bytes += ',';
    bytes += std::to_string(static_cast<unsigned char>(c));
  }
  // The pattern with $T replaced by the token's text and $B by its bytes.
  auto expect = [&](std::string pattern) {
    for (size_t at; (at = pattern.find('$')) != std::string::npos;)
      pattern.replace(at, 2, pattern[at + 1] == 'T' ? t : bytes);
    return pattern;
  };
  CHECK(OutputLineFormat(OutputLineOptions{}, tok).result(record(0), {&g, 1}, {}).find(expect(
            R"("logprobs":[{"token":403,"text":"$T","logprob":-0.5,"top":[{"token":403,"text":"$T","logprob":-0.5}]}])")) !=
        std::string::npos);
  CHECK(OutputLineFormat(openai(), tok).result(record(0), {&g, 1}, {}).find(expect(
            R"("logprobs":{"tokens":["$T"],"token_logprobs":[-0.5],"top_logprobs":[{"$T":-0.5}]})")) != std::string::npos);
  Record chat = record(0);
  chat.chat = true;
  CHECK(OutputLineFormat(openai(), tok).result(chat, {&g, 1}, {}).find(expect(
            R"("logprobs":{"content":[{"token":"$T","logprob":-0.5,"bytes":[$B],"top_logprobs":[{"token":"$T",)"
            R"("logprob":-0.5,"bytes":[$B]}]}],"refusal":null})")) != std::string::npos);
}

TEST_CASE("an OpenAI completion line has the OpenAI Batch output shape plus index") {
  const GenerationResult g = sample("Once", 5, 3);
  CHECK(OutputLineFormat(openai(), stories_tokenizer()).result(record(12, "req-a"), {&g, 1}, {}) ==
        "{\"index\":12,\"id\":\"batch_req_12\",\"custom_id\":\"req-a\",\"response\":{\"status_code\":200,"
        "\"request_id\":\"req_12\",\"body\":{\"id\":\"cmpl-12\",\"object\":\"text_completion\",\"created\":1700000000,"
        "\"model\":\"stories260K.gguf\",\"choices\":[{\"index\":0,\"text\":\"Once\",\"logprobs\":null,"
        "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}},"
        "\"error\":null}");
}

TEST_CASE("an OpenAI chat completion body; prompt_token_ids before the choices when asked") {
  OutputLineOptions o = openai("m", 1);
  o.return_token_ids = true;
  Record r = record(0, "17", true);
  r.chat = true;
  const GenerationResult g = sample("hi", 9, 1);
  const int32_t prompt[] = {1, 2};
  const std::string line = OutputLineFormat(o, stories_tokenizer()).result(r, {&g, 1}, prompt);
  CHECK(line.find("\"custom_id\":\"17\"") != std::string::npos);  // custom_id is always a string
  CHECK(line.find("\"object\":\"chat.completion\"") != std::string::npos);
  CHECK(line.find("\"id\":\"chatcmpl-0\"") != std::string::npos);
  CHECK(line.find("\"model\":\"m\",\"prompt_token_ids\":[1,2],\"choices\":[{\"index\":0,\"message\":{\"role\":"
                  "\"assistant\",\"content\":\"hi\"},\"logprobs\":null,\"finish_reason\":\"length\",\"token_ids\":[]}],") !=
        std::string::npos);
}

TEST_CASE("error records: {code, message} in both shapes; tokenize --messages prompt lines") {
  const sb::RecordErrorCode code = sb::RecordErrorCode::kInvalidJson;
  CHECK(OutputLineFormat(openai(), stories_tokenizer()).error(record(3), code, "the line is not valid JSON") ==
        "{\"index\":3,\"id\":\"batch_req_3\",\"custom_id\":null,\"response\":null,"
        "\"error\":{\"code\":\"invalid_json\",\"message\":\"the line is not valid JSON\"}}");
  const OutputLineFormat plain(OutputLineOptions{}, stories_tokenizer());
  CHECK(plain.error(record(3, "x"), code, "bad \"line\"") ==
        R"({"index":3,"id":"x","error":{"code":"invalid_json","message":"bad \"line\""}})");
  const int32_t ids[] = {1, 403};
  CHECK(plain.prompt(record(2, "7", true), "a\nb", ids) == R"({"index":2,"id":7,"prompt":"a\nb","token_ids":[1,403]})");
}
