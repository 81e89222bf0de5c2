// Record parsing: every field, both id kinds, OpenAI Batch bodies, and one test
// per error code with the index and id still carried.
#include <doctest/doctest.h>

#include "formats/record.h"

using sb::ParsedRecord;
using sb::RecordErrorCode;
using sb::RecordParser;

namespace {

RecordErrorCode code_of(const ParsedRecord& r) {
  REQUIRE(r.error.has_value());
  return r.error->code;
}

}  // namespace

TEST_CASE("a plain record with every parameter") {
  RecordParser p;
  const ParsedRecord r = p.parse(
      R"({"id":"r-1","prompt":"Once upon a time","max_tokens":17,"temperature":0.7,"top_p":0.9,)"
      R"("top_k":40,"min_p":0.05,"seed":12345678901234,"stop":["\n\n","The end"],"ignore_eos":true})",
      7);
  REQUIRE(r.ok());
  CHECK(r.record.index == 7);
  CHECK(r.record.has_id);
  CHECK_FALSE(r.record.id_is_number);
  CHECK(r.record.id == "r-1");
  CHECK(r.record.prompt == "Once upon a time");
  const sb::RecordParams& q = r.record.params;
  CHECK(*q.max_tokens == 17);
  CHECK(*q.temperature == doctest::Approx(0.7));
  CHECK(*q.top_p == doctest::Approx(0.9));
  CHECK(*q.top_k == 40);
  CHECK(*q.min_p == doctest::Approx(0.05));
  CHECK(*q.seed == 12345678901234ull);
  REQUIRE(q.stop.has_value());
  CHECK(*q.stop == std::vector<std::string>{"\n\n", "The end"});
  CHECK(*q.ignore_eos);
}

TEST_CASE("absent and null parameters stay unset; integers may be written as 3.0") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"prompt":"x","temperature":null,"max_tokens":3.0,"temperature":0})", 0);
  REQUIRE(r.ok());
  CHECK_FALSE(r.record.has_id);
  CHECK(*r.record.params.max_tokens == 3);
  CHECK_FALSE(r.record.params.top_p.has_value());
  CHECK_FALSE(r.record.params.stop.has_value());
  r = p.parse(R"({"prompt":"","stop":"END","temperature":1})", 1);
  REQUIRE(r.ok());
  CHECK(r.record.prompt.empty());
  CHECK(*r.record.params.stop == std::vector<std::string>{"END"});
  CHECK(*r.record.params.temperature == 1.0);
}

TEST_CASE("ids: strings, numbers kept as their JSON text, custom_id, other types ignored") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"id":42,"prompt":"x"})", 0);
  CHECK(r.record.id_is_number);
  CHECK(r.record.id == "42");
  r = p.parse(R"({"id":-1.5,"prompt":"x"})", 0);
  CHECK(r.record.id == "-1.5");
  r = p.parse(R"({"custom_id":"req-9","prompt":"x"})", 0);
  CHECK(r.record.id == "req-9");
  CHECK_FALSE(r.record.id_is_number);
  r = p.parse(R"({"id":"a","custom_id":"b","prompt":"x"})", 0);
  CHECK(r.record.id == "a");
  r = p.parse(R"({"id":{"nested":1},"prompt":"x"})", 0);
  CHECK(r.ok());
  CHECK_FALSE(r.record.has_id);
  r = p.parse(R"({"id":"caf\u00e9 \ud83d\ude00","prompt":"x"})", 0);
  CHECK(r.record.id == "caf\xC3\xA9 \xF0\x9F\x98\x80");
}

TEST_CASE("OpenAI Batch lines take prompt and parameters from body") {
  RecordParser p;
  const ParsedRecord r = p.parse(
      R"({"custom_id":"c1","method":"POST","url":"/v1/completions","body":{"model":"m","prompt":"Hi","max_tokens":5}})",
      3);
  REQUIRE(r.ok());
  CHECK(r.record.id == "c1");
  CHECK(r.record.prompt == "Hi");
  CHECK(*r.record.params.max_tokens == 5);
  const ParsedRecord chat = p.parse(
      R"({"custom_id":"c2","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"Hi"}]}})", 4);
  REQUIRE(chat.ok());
  CHECK(chat.record.id == "c2");
  CHECK(chat.record.prompt.empty());
  CHECK(chat.record.messages_json == R"([{"role":"user","content":"Hi"}])");
}

TEST_CASE("invalid_json: broken syntax, trailing garbage, not an object") {
  RecordParser p;
  for (const char* line : {R"({"prompt":"x")", R"({"prompt":"x"} extra)", R"(["prompt"])", R"("just a string")",
                           "42", "{prompt: 'x'}", "{\"prompt\":\"a\nb\"}"}) {
    CAPTURE(line);
    const ParsedRecord r = p.parse(line, 5);
    CHECK(code_of(r) == RecordErrorCode::kInvalidJson);
    CHECK(r.record.index == 5);
    CHECK_FALSE(r.record.has_id);
  }
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kInvalidJson)) == "invalid_json");
}

TEST_CASE("missing_prompt and unsupported, with the id kept") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"id":"x1","text":"not a prompt"})", 2);
  CHECK(code_of(r) == RecordErrorCode::kMissingPrompt);
  CHECK(r.record.id == "x1");
  r = p.parse(R"({"id":"x2","prompt":null})", 2);
  CHECK(code_of(r) == RecordErrorCode::kMissingPrompt);
  r = p.parse(R"({"prompt":["a","b"]})", 2);
  CHECK(code_of(r) == RecordErrorCode::kUnsupported);
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kMissingPrompt)) == "missing_prompt");
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kUnsupported)) == "unsupported");
}

TEST_CASE("invalid_param: out of range values and wrong types") {
  RecordParser p;
  const char* lines[] = {
      R"({"prompt":"x","temperature":-0.1})",
      R"({"prompt":"x","top_p":0})",
      R"({"prompt":"x","top_p":1.5})",
      R"({"prompt":"x","top_k":-1})",
      R"({"prompt":"x","min_p":-0.5})",
      R"({"prompt":"x","min_p":1.01})",
      R"({"prompt":"x","max_tokens":-1})",
      R"({"prompt":"x","max_tokens":2.5})",
      R"({"prompt":"x","max_tokens":"10"})",
      R"({"prompt":"x","max_tokens":99999999999})",
      R"({"prompt":"x","n":0})",
      R"({"prompt":"x","n":129})",
      R"({"prompt":"x","temperature":"hot"})",
      R"({"prompt":"x","seed":-3})",
      R"({"prompt":"x","seed":1.5})",
      R"({"prompt":"x","stop":7})",
      R"({"prompt":"x","stop":["ok",7]})",
      R"({"prompt":"x","stop":[""]})",
      R"({"prompt":"x","ignore_eos":"yes"})",
      R"({"prompt":42})",
      R"({"prompt":"x","body":"not an object"})",
  };
  for (const char* line : lines) {
    CAPTURE(line);
    const ParsedRecord r = p.parse(line, 9);
    CHECK(code_of(r) == RecordErrorCode::kInvalidParam);
    CHECK(!r.error->message.empty());
  }
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kInvalidParam)) == "invalid_param");
  // The boundaries that are allowed.
  const ParsedRecord ok = p.parse(R"({"prompt":"x","temperature":0,"top_p":1,"top_k":0,"min_p":0,"max_tokens":0})", 0);
  CHECK(ok.ok());
  const ParsedRecord ok2 = p.parse(R"({"prompt":"x","min_p":1,"seed":18446744073709551615,"n":128})", 0);
  CHECK(ok2.ok());
  CHECK(*ok2.record.params.n == 128);
  CHECK(*ok2.record.params.seed == 18446744073709551615ull);
}

TEST_CASE("invalid_utf8: raw bytes in the line and escaped lone surrogates") {
  RecordParser p;
  ParsedRecord r = p.parse("{\"prompt\":\"bad \xFF byte\"}", 1);
  CHECK(code_of(r) == RecordErrorCode::kInvalidUtf8);
  r = p.parse("{\"prompt\":\"cut \xE2\x82\"}", 1);
  CHECK(code_of(r) == RecordErrorCode::kInvalidUtf8);
  // A lone surrogate escape is not a character; simdjson may call it invalid JSON.
  r = p.parse(R"({"prompt":"lone \ud800 surrogate"})", 1);
  CHECK((code_of(r) == RecordErrorCode::kInvalidUtf8 || code_of(r) == RecordErrorCode::kInvalidJson));
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kInvalidUtf8)) == "invalid_utf8");
  // Valid multi-byte text passes.
  r = p.parse("{\"prompt\":\"caf\xC3\xA9 \xF0\x9F\x98\x80\"}", 1);
  CHECK(r.ok());
}

TEST_CASE("one parser reused across many lines keeps no state between them") {
  RecordParser p;
  for (int i = 0; i < 100; ++i) {
    const std::string line = i % 3 == 0 ? "{bad" : R"({"prompt":"p)" + std::to_string(i) + R"("})";
    const ParsedRecord r = p.parse(line, static_cast<uint64_t>(i));
    CHECK(r.record.index == static_cast<uint64_t>(i));
    if (i % 3 == 0) {
      CHECK_FALSE(r.ok());
    } else {
      CHECK(r.record.prompt == "p" + std::to_string(i));
    }
  }
}

TEST_CASE("chat records: messages and tools kept as JSON text; bad shapes are invalid_param") {
  RecordParser p;
  ParsedRecord r = p.parse(
      R"({"id":"c","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function"}],"max_tokens":3})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.chat);
  CHECK(r.record.messages_json == R"([{"role":"user","content":"hi"}])");
  CHECK(r.record.tools_json == R"([{"type":"function"}])");
  CHECK(*r.record.params.max_tokens == 3);
  for (const char* line : {R"({"messages":"hi"})", R"({"messages":[],"prompt":"x"})",
                           R"({"messages":[],"tools":{}})", R"({"messages":[],"temperature":-1})"}) {
    CAPTURE(line);
    CHECK(code_of(p.parse(line, 1)) == RecordErrorCode::kInvalidParam);
  }
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kTemplateError)) == "template_error");
}

TEST_CASE("stop_token_ids, logprobs (K, or true with top_logprobs) and return_token_ids") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"prompt":"x","stop_token_ids":[2,0,2147483647],"logprobs":3,"return_token_ids":true})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.stop_token_ids == std::vector<int32_t>{2, 0, 2147483647});
  CHECK(*r.record.params.logprobs == 3);
  CHECK(*r.record.params.return_token_ids);
  r = p.parse(R"({"body":{"messages":[],"logprobs":true,"top_logprobs":20,"stop_token_ids":[]}})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.logprobs == 20);
  CHECK(r.record.params.stop_token_ids->empty());
  r = p.parse(R"({"prompt":"x","logprobs":true})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.logprobs == 0);
  r = p.parse(R"({"prompt":"x","logprobs":false,"return_token_ids":false})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.logprobs == -1);  // none, whatever the CLI default
  CHECK_FALSE(*r.record.params.return_token_ids);
  r = p.parse(R"({"prompt":"x","logprobs":null,"top_logprobs":null})", 0);
  REQUIRE(r.ok());
  CHECK_FALSE(r.record.params.logprobs.has_value());
  CHECK_FALSE(r.record.params.stop_token_ids.has_value());
  CHECK_FALSE(r.record.params.return_token_ids.has_value());

  const std::pair<const char*, const char*> bad[] = {
      {R"({"prompt":"x","stop_token_ids":5})", "stop_token_ids"},
      {R"({"prompt":"x","stop_token_ids":[1,-2]})", "stop_token_ids"},
      {R"({"prompt":"x","stop_token_ids":[1.5]})", "stop_token_ids"},
      {R"({"prompt":"x","stop_token_ids":["2"]})", "stop_token_ids"},
      {R"({"prompt":"x","stop_token_ids":[2147483648]})", "stop_token_ids"},
      {R"({"prompt":"x","logprobs":21})", "logprobs"},
      {R"({"prompt":"x","logprobs":-1})", "logprobs"},
      {R"({"prompt":"x","logprobs":"3"})", "logprobs"},
      {R"({"prompt":"x","logprobs":true,"top_logprobs":21})", "top_logprobs"},
      {R"({"prompt":"x","logprobs":false,"top_logprobs":2})", "top_logprobs"},
      {R"({"prompt":"x","top_logprobs":2})", "top_logprobs"},
      {R"({"prompt":"x","logprobs":2,"top_logprobs":2})", "top_logprobs"},
      {R"({"prompt":"x","return_token_ids":1})", "return_token_ids"},
  };
  for (const auto& [line, field] : bad) {
    CAPTURE(line);
    const ParsedRecord e = p.parse(line, 4);
    CHECK(code_of(e) == RecordErrorCode::kInvalidParam);
    CHECK(e.error->message.find(field) == 0);  // the message starts with the field's name
  }
}

TEST_CASE("output constraints: response_format (also in an OpenAI body), guided_json/regex/choice/grammar") {
  RecordParser p;
  ParsedRecord r = p.parse(
      R"({"custom_id":"a","body":{"messages":[],"response_format":{"type":"json_schema","json_schema":{"name":"n",
      "strict":true,"schema":{"type":"object", "properties":{"x":{"type":"integer"}}}}}}})", 0);
  REQUIRE(r.ok());
  REQUIRE(r.record.params.constraint);
  CHECK(r.record.params.constraint->kind == sb::ConstraintKind::kJsonSchema);
  CHECK(r.record.params.constraint->text == R"({"type":"object","properties":{"x":{"type":"integer"}}})");
  CHECK(r.record.params.constraint->field == "response_format.json_schema.schema");
  r = p.parse(R"({"prompt":"x","response_format":{"type":"json_object"}})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->kind == sb::ConstraintKind::kJsonObject);
  r = p.parse(R"({"prompt":"x","response_format":{"type":"text"},"guided_regex":null})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->kind == sb::ConstraintKind::kNone);  // overrides a default
  r = p.parse(R"({"prompt":"x","guided_regex":null})", 0);
  REQUIRE(r.ok());
  CHECK_FALSE(r.record.params.constraint.has_value());
  r = p.parse(R"({"prompt":"x","guided_json":"{\"type\":\"string\"}"})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->text == R"({"type":"string"})");
  r = p.parse(R"({"prompt":"x","guided_json":{"enum":[1, 2]}})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->text == R"({"enum":[1,2]})");
  r = p.parse(R"({"prompt":"x","guided_regex":"[a-z]+"})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->kind == sb::ConstraintKind::kRegex);
  CHECK(r.record.params.constraint->text == "[a-z]+");
  r = p.parse(R"({"prompt":"x","guided_choice":["yes","no"]})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->choices == std::vector<std::string>{"yes", "no"});
  r = p.parse(R"({"prompt":"x","guided_grammar":"root ::= \"a\""})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.constraint->kind == sb::ConstraintKind::kGrammar);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"prompt":"x","guided_regex":"a","guided_choice":["a"]})", "not both guided_regex and guided_choice"},
      {R"({"prompt":"x","response_format":{"type":"json_object"},"guided_json":{}})", "not both response_format"},
      {R"({"prompt":"x","response_format":{"type":"yaml"}})", "response_format.type must be"},
      {R"({"prompt":"x","response_format":"json"})", "response_format must be an object"},
      {R"({"prompt":"x","response_format":{"type":"json_schema"}})", "response_format.json_schema must be"},
      {R"({"prompt":"x","response_format":{"type":"json_schema","json_schema":{"schema":3}}})", "json_schema.schema"},
      {R"({"prompt":"x","response_format":{"type":"json_schema","json_schema":{"schema":{},"strict":1}}})", "strict"},
      {R"({"prompt":"x","guided_choice":[]})", "guided_choice must be a non-empty list"},
      {R"({"prompt":"x","guided_choice":["a",1]})", "guided_choice must be a list of strings"},
      {R"({"prompt":"x","guided_regex":5})", "guided_regex must be a string"},
      {R"({"prompt":"x","guided_json":[1]})", "guided_json must be a JSON schema"},
  };
  for (const auto& [line, want] : bad) {
    CAPTURE(line);
    r = p.parse(line, 0);
    CHECK(code_of(r) == RecordErrorCode::kInvalidParam);
    CHECK_MESSAGE(r.error->message.find(want) != std::string::npos, r.error->message);
  }
  r = p.parse(R"({"prompt":"x","guided_json":{},"guided_whitespace_pattern":" *"})", 0);
  CHECK(code_of(r) == RecordErrorCode::kUnsupportedParam);
}

TEST_CASE("field policy: refused fields are unsupported_param unless neutral; ignore_unsupported lists them") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"id":"a","prompt":"x","length_penalty":0.5,"meta":{"k":1}})", 1);
  CHECK(code_of(r) == RecordErrorCode::kUnsupportedParam);
  CHECK(r.error->message == "length_penalty: not supported (only 1); beam search");
  CHECK(r.record.id == "a");
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kUnsupportedParam)) == "unsupported_param");
  // In an OpenAI body too, and for fields with no neutral value.
  r = p.parse(R"({"custom_id":"b","url":"/v1/completions","body":{"prompt":"x","prompt_logprobs":1}})", 1);
  CHECK(code_of(r) == RecordErrorCode::kUnsupportedParam);
  CHECK(r.error->message == "prompt_logprobs: not supported");
  // Neutral values (numbers by value), null, metadata and bookkeeping fields pass.
  r = p.parse(R"({"prompt":"x","length_penalty":1.0,"best_of":1,"early_stopping":false,"stream":false,)"
              R"("echo":null,"user":"u","store":true,"meta":{"n":1},"modalities":["text"]})", 1);
  CHECK(r.ok());
  CHECK(r.record.ignored_fields.empty());
  RecordParser lax(sb::RecordParserOptions{true});
  r = lax.parse(R"({"prompt":"x","best_of":2,"use_beam_search":true,"max_tokens":4})", 1);
  REQUIRE(r.ok());
  CHECK(r.record.ignored_fields == std::vector<std::string>{"best_of", "use_beam_search"});
  CHECK(*r.record.params.max_tokens == 4);
}

TEST_CASE("penalties, min_tokens, include_stop_str_in_output, truncate_prompt_tokens parse; bad values name the field") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"prompt":"x","repetition_penalty":1.5,"presence_penalty":-2,"frequency_penalty":0.25,)"
                           R"("logit_bias":{"7":-100,"12":3.5},"min_tokens":4,"include_stop_str_in_output":true,)"
                           R"("truncate_prompt_tokens":-1})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.repetition_penalty == 1.5);
  CHECK(*r.record.params.presence_penalty == -2);
  CHECK(*r.record.params.frequency_penalty == 0.25);
  CHECK(*r.record.params.logit_bias == std::vector<std::pair<int32_t, float>>{{7, -100.0f}, {12, 3.5f}});
  CHECK(*r.record.params.min_tokens == 4);
  CHECK(*r.record.params.include_stop_str_in_output);
  CHECK(*r.record.params.truncate_prompt_tokens == -1);
  r = p.parse(R"({"prompt":"x","logit_bias":{}})", 0);
  REQUIRE(r.ok());
  CHECK(r.record.params.logit_bias->empty());
  const std::pair<const char*, const char*> bad[] = {
      {R"("repetition_penalty":0)", "repetition_penalty"}, {R"("presence_penalty":2.5)", "presence_penalty"},
      {R"("frequency_penalty":"1")", "frequency_penalty"},  {R"("min_tokens":-1)", "min_tokens"},
      {R"("min_tokens":1.5)", "min_tokens"},                {R"("logit_bias":{"x":1})", "logit_bias"},
      {R"("logit_bias":{"-3":1})", "logit_bias"},           {R"("logit_bias":{"3":101})", "logit_bias"},
      {R"("logit_bias":{"3":"1"})", "logit_bias"},          {R"("logit_bias":[1])", "logit_bias"},
      {R"("logit_bias":{"3":1,"3":2})", "logit_bias"},
      {R"("include_stop_str_in_output":1)", "include_stop_str_in_output"},
      {R"("skip_special_tokens":"no")", "skip_special_tokens"},
      {R"("typical_p":0)", "typical_p"},
      {R"("truncate_prompt_tokens":0)", "truncate_prompt_tokens"},
      {R"("truncate_prompt_tokens":-2)", "truncate_prompt_tokens"},
  };
  for (const auto& [field, name] : bad) {
    INFO(field);
    r = p.parse(std::string(R"({"prompt":"x",)") + field + "}", 0);
    CHECK(code_of(r) == RecordErrorCode::kInvalidParam);
    CHECK(r.error->message.find(name) != std::string::npos);
  }
}

TEST_CASE("max_completion_tokens is max_tokens; both given must agree") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"messages":[],"max_completion_tokens":6})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.max_tokens == 6);
  r = p.parse(R"({"prompt":"x","max_completion_tokens":6,"max_tokens":6.0})", 0);
  REQUIRE(r.ok());
  CHECK(*r.record.params.max_tokens == 6);
  r = p.parse(R"({"prompt":"x","max_completion_tokens":6,"max_tokens":7})", 0);
  CHECK(code_of(r) == RecordErrorCode::kInvalidParam);
  CHECK(r.error->message == "max_tokens (7) and max_completion_tokens (6) differ; give one");
  r = p.parse(R"({"prompt":"x","max_completion_tokens":-1})", 0);
  CHECK(code_of(r) == RecordErrorCode::kInvalidParam);
}

TEST_CASE("chat content as a list of parts: text parts joined, other types unsupported_param") {
  RecordParser p;
  ParsedRecord r = p.parse(
      R"({"messages":[{"role":"system","content":"S"},{"role":"user","name":"u\"1",)"
      R"("content":[{"type":"text","text":"a"},{"type":"text","text":"b\n"}]}]})",
      0);
  REQUIRE(r.ok());
  CHECK(r.record.messages_json ==
        R"([{"role":"system","content":"S"},{"role":"user","name":"u\"1","content":"a\nb\n"}])");
  const char* image = R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},)"
                      R"({"type":"image_url","image_url":{"url":"x"}}]}]})";
  r = p.parse(image, 0);
  CHECK(code_of(r) == RecordErrorCode::kUnsupportedParam);
  CHECK(r.error->message == R"(messages[0].content: part type "image_url": not supported (only "text"))");
  RecordParser lax(sb::RecordParserOptions{true});
  r = lax.parse(image, 0);
  REQUIRE(r.ok());
  CHECK(r.record.messages_json == R"([{"role":"user","content":"a"}])");
  CHECK(r.record.ignored_fields == std::vector<std::string>{"content part image_url"});
  for (const char* bad : {R"({"messages":[{"role":"user","content":[1]}]})",
                          R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})"}) {
    CAPTURE(bad);
    CHECK(code_of(p.parse(bad, 0)) == RecordErrorCode::kInvalidParam);
  }
}

TEST_CASE("OpenAI Batch lines for other endpoints are unsupported_endpoint") {
  RecordParser p;
  for (const char* url : {"/v1/embeddings", "/v1/responses"}) {
    CAPTURE(url);
    std::string line = R"({"custom_id":"e","method":"POST","url":")";
    line.append(url).append(R"(","body":{"input":"x","model":"m"}})");
    const ParsedRecord r = p.parse(line, 0);
    CHECK(code_of(r) == RecordErrorCode::kUnsupportedEndpoint);
    std::string want = "url ";
    want.append(url).append(": not supported (only /v1/completions and /v1/chat/completions)");
    CHECK(r.error->message == want);
    CHECK(r.record.id == "e");
  }
  CHECK(std::string(sb::record_error_code_name(RecordErrorCode::kUnsupportedEndpoint)) == "unsupported_endpoint");
}

TEST_CASE("chat template settings per record: kwargs, add_generation_prompt, continue_final_message") {
  RecordParser p;
  ParsedRecord r = p.parse(R"({"messages":[],"chat_template_kwargs":{"enable_thinking":false},)"
                           R"("continue_final_message":true})",
                           0);
  REQUIRE(r.ok());
  CHECK(r.record.chat_template_kwargs_json == R"({"enable_thinking":false})");
  CHECK(r.record.continue_final_message);
  CHECK_FALSE(r.record.add_generation_prompt.has_value());
  const std::pair<const char*, const char*> bad[] = {
      {R"({"messages":[],"continue_final_message":true,"add_generation_prompt":true})", "cannot both be true"},
      {R"({"messages":[],"chat_template_kwargs":[1]})", "chat_template_kwargs must be an object"},
      {R"({"messages":[],"add_generation_prompt":1})", "add_generation_prompt must be true or false"},
      {R"({"prompt":"x","add_generation_prompt":false})", "applies to chat records"},
  };
  for (const auto& [line, want] : bad) {
    CAPTURE(line);
    r = p.parse(line, 0);
    CHECK(code_of(r) == RecordErrorCode::kInvalidParam);
    CHECK_MESSAGE(r.error->message.find(want) != std::string::npos, r.error->message);
  }
}
