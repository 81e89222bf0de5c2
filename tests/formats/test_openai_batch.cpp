// OpenAI Batch output lines: exact bytes of a text completion, a chat completion and
// an error line; custom_id from string and numeric ids; null when absent. The
// choices themselves are written by the caller (tests/cli cover their shape).
#include <doctest/doctest.h>

#include "formats/openai_batch.h"

using sb::CompletionOutput;
using sb::OpenAiBatchContext;
using sb::OpenAiEndpoint;

TEST_CASE("a completion line has the OpenAI Batch output shape plus index") {
  sb::Record r;
  r.index = 12;
  r.has_id = true;
  r.id = "req-a";
  const CompletionOutput out{R"([{"index":0,"text":"Once","logprobs":null,"finish_reason":"length"}])", "", 5, 3};
  const OpenAiBatchContext ctx{"stories260K.gguf", 1700000000};
  CHECK(sb::openai_result_line(r, OpenAiEndpoint::kCompletions, out, ctx) ==
        "{\"index\":12,\"id\":\"batch_req_12\",\"custom_id\":\"req-a\",\"response\":{\"status_code\":200,"
        "\"request_id\":\"req_12\",\"body\":{\"id\":\"cmpl-12\",\"object\":\"text_completion\",\"created\":1700000000,"
        "\"model\":\"stories260K.gguf\",\"choices\":[{\"index\":0,\"text\":\"Once\",\"logprobs\":null,"
        "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}},"
        "\"error\":null}");
}

TEST_CASE("a chat completion body; prompt_token_ids before the choices when given") {
  sb::Record r;
  r.index = 0;
  r.has_id = true;
  r.id_is_number = true;
  r.id = "17";
  const std::string line = sb::openai_result_line(r, OpenAiEndpoint::kChatCompletions,
                                                  CompletionOutput{"[{\"index\":0}]", "[1,2]", 9, 1},
                                                  OpenAiBatchContext{"m", 1});
  CHECK(line.find("\"custom_id\":\"17\"") != std::string::npos);  // custom_id is always a string
  CHECK(line.find("\"object\":\"chat.completion\"") != std::string::npos);
  CHECK(line.find("\"id\":\"chatcmpl-0\"") != std::string::npos);
  CHECK(line.find("\"model\":\"m\",\"prompt_token_ids\":[1,2],\"choices\":[{\"index\":0}],") != std::string::npos);
}

TEST_CASE("an error line has response null and error {code, message}") {
  sb::Record r;
  r.index = 3;
  CHECK(sb::openai_error_line(r, "invalid_json", "the line is not valid JSON") ==
        "{\"index\":3,\"id\":\"batch_req_3\",\"custom_id\":null,\"response\":null,"
        "\"error\":{\"code\":\"invalid_json\",\"message\":\"the line is not valid JSON\"}}");
}
