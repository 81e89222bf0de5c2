// Output lines in the shape of the OpenAI Batch API output file, one per record:
//   {"index", "id", "custom_id", "response": {"status_code": 200, "request_id", "body": <completion>}, "error": null}
//   {"index", "id", "custom_id", "response": null, "error": {"code", "message"}}
// "index" is specbatch's addition (resume and merge need it); ids are derived from the
// index, so a resumed or sharded run writes the same ids as a single run.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "formats/record.h"

namespace sb {

// Which response body a record gets: a text completion or a chat completion.
enum class OpenAiEndpoint { kCompletions, kChatCompletions };

// The caller writes the choices (their shape follows the endpoint: "text" or
// "message", "logprobs", "finish_reason"), so this file needs no token types.
struct CompletionOutput {
  std::string_view choices;           // the body's "choices": a JSON array
  std::string_view prompt_token_ids;  // a JSON array for the body's "prompt_token_ids"; "" = left out
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct OpenAiBatchContext {
  std::string model;    // the body's "model": the model's file or directory name
  int64_t created = 0;  // unix seconds, the body's "created": when the run started
};

std::string openai_result_line(const Record& record, OpenAiEndpoint endpoint, const CompletionOutput& out,
                               const OpenAiBatchContext& ctx);
std::string openai_error_line(const Record& record, std::string_view code, std::string_view message);

}  // namespace sb
