// Output lines in the shape of the OpenAI Batch API output file, one per record:
//   {"index", "id", "custom_id", "response": {"status_code": 200, "request_id", "body": <completion>}, "error": null}
//   {"index", "id", "custom_id", "response": null, "error": {"code", "message"}}
// "index" is specbatch's addition (resume and merge need it); ids are derived from the
// index, so a resumed or sharded run writes the same ids as a single run.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "formats/record.h"

namespace sb {

// Which response body a record gets: a text completion or a chat completion.
enum class OpenAiEndpoint { kCompletions, kChatCompletions };

struct CompletionOutput {
  std::string_view text;
  std::string_view finish_reason;  // "stop" | "length"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

struct OpenAiBatchContext {
  std::string model;    // the body's "model": the model's file or directory name
  int64_t created = 0;  // unix seconds, the body's "created": when the run started
};

std::string openai_result_line(const Record& record, OpenAiEndpoint endpoint, const CompletionOutput& out,
                               const OpenAiBatchContext& ctx);
// A record's n samples: choice k is samples[k]; usage counts the prompt once
// (samples[0]'s) and the completion tokens of all samples.
std::string openai_result_line(const Record& record, OpenAiEndpoint endpoint, std::span<const CompletionOutput> samples,
                               const OpenAiBatchContext& ctx);
std::string openai_error_line(const Record& record, std::string_view code, std::string_view message);

}  // namespace sb
