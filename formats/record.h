// One input record: a JSONL line parsed into {index, id, prompt or chat
// messages, per-record parameters}. Malformed lines are not failures of the run: parse() returns a
// RecordError with a stable code, and the caller writes an error record.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "formats/constraint_spec.h"

namespace sb {

// Stable error codes written to output as error.code (see man/specbatch.1).
enum class RecordErrorCode {
  kInvalidJson,    // not a JSON object
  kMissingPrompt,  // no "prompt"
  kInvalidParam,   // a parameter has the wrong type or is out of range
  kInvalidUtf8,    // the line or the prompt is not valid UTF-8
  kUnsupported,    // valid but not implemented (e.g. "messages" for a model without a chat template)
  kPromptTooLong,  // set by the caller: prompt tokens do not fit the context
  kTemplateError,  // set by the caller: the chat template failed on this record's messages
  kConstraintDeadEnd,  // set by the caller: the output constraint reached text no token continues
  kInternal,           // set by the caller: a bug (a json_schema output that fails its schema check)
  kUnsupportedParam,     // a refused request field (formats/request_fields.h) or chat content part type
  kUnsupportedEndpoint,  // an OpenAI Batch "url" other than /v1/completions and /v1/chat/completions
};
const char* record_error_code_name(RecordErrorCode code);  // "invalid_json", ...

struct RecordError {
  RecordErrorCode code = RecordErrorCode::kInvalidJson;
  std::string message;
};

// Samples one record may ask for (its "n").
constexpr int kMaxSamplesPerRecord = 128;

// Per-record generation parameters; absent (or JSON null) fields take the CLI defaults.
struct RecordParams {
  std::optional<int64_t> max_tokens;       // >= 0; "max_completion_tokens" too
  std::optional<int64_t> n;                // samples, [1, kMaxSamplesPerRecord]
  std::optional<double> temperature;       // >= 0; 0 = greedy
  std::optional<double> top_p;             // (0, 1]
  std::optional<int64_t> top_k;            // >= 0; 0 = off
  std::optional<double> min_p;             // [0, 1]
  std::optional<double> typical_p;         // (0, 1]
  std::optional<uint64_t> seed;
  std::optional<std::vector<std::string>> stop;  // a string becomes a list of one
  std::optional<bool> include_stop_str_in_output;
  std::optional<bool> skip_special_tokens;
  std::optional<bool> ignore_eos;
  std::optional<std::vector<int32_t>> stop_token_ids;  // non-negative token ids
  // "logprobs": K in [0, kRecordMaxLogprobs], or true (K = "top_logprobs", else 0);
  // false gives -1 (none, whatever the CLI default).
  std::optional<int> logprobs;
  std::optional<bool> return_token_ids;
  // One output constraint: "response_format" (OpenAI: {"type": "json_object"} or
  // {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}; "text" is
  // kNone, no constraint whatever the default), or vLLM's "guided_json" (a schema,
  // or its JSON text), "guided_regex", "guided_choice" (a non-empty list of
  // strings), "guided_grammar" (GBNF).
  std::optional<ConstraintSpec> constraint;
  // Logit penalties (core/request.h LogitPenalties); the engine checks logit_bias ids against the vocabulary.
  std::optional<double> repetition_penalty;  // > 0
  std::optional<double> presence_penalty;    // [-2, 2]
  std::optional<double> frequency_penalty;   // [-2, 2]
  std::optional<std::vector<std::pair<int32_t, float>>> logit_bias;  // (token id >= 0, bias in [-100, 100])
  std::optional<int64_t> min_tokens;         // >= 0
  // Keep the last N prompt tokens: N >= 1, or -1 for the context length.
  std::optional<int64_t> truncate_prompt_tokens;
};

constexpr int kRecordMaxLogprobs = 20;

struct Record {
  uint64_t index = 0;       // 0-based position among the non-blank lines of the whole input
  // `id`, else `custom_id`. A string keeps its value; a number keeps its JSON text
  // (id_is_number = true) so the output writes it back unchanged.
  bool has_id = false;
  bool id_is_number = false;
  std::string id;
  std::string prompt;
  // Chat records ("messages" instead of "prompt"): the messages array and the
  // optional "tools" array as JSON text, for the caller's chat template; empty
  // otherwise. `chat` stays set once the caller has dropped the texts (output shape).
  bool chat = false;
  std::string messages_json;
  std::string tools_json;
  // Chat records' template settings: "chat_template_kwargs" as JSON object text
  // (over --chat-template-kwargs; empty = none), "add_generation_prompt" (unset:
  // true, or false with continue_final_message) and "continue_final_message"
  // (the prompt ends inside the last message, for the model to continue it).
  std::string chat_template_kwargs_json;
  std::optional<bool> add_generation_prompt;
  bool continue_final_message = false;
  RecordParams params;
  // With RecordParserOptions::ignore_unsupported: the refused fields (and chat
  // content part types, as "content part TYPE") this record gave, which it runs without.
  std::vector<std::string> ignored_fields;
};

// A parsed line: `record` always carries index and, when the line got that far, id.
struct ParsedRecord {
  Record record;
  std::optional<RecordError> error;
  bool ok() const { return !error.has_value(); }
};

struct RecordParserOptions {
  // A refused field or content part is left out and listed in Record::ignored_fields
  // instead of making the record an unsupported_param error.
  bool ignore_unsupported = false;
};

// Reusable parser (keeps simdjson's buffers between lines). Not thread-safe.
// Accepts plain lines ({"prompt": ..., params} or {"messages": [...], params})
// and OpenAI Batch lines ({"custom_id", "method", "url", "body": {...}}).
// Chat content given as a list of text parts becomes their texts joined by "\n".
class RecordParser {
 public:
  explicit RecordParser(RecordParserOptions options = {});
  ~RecordParser();
  RecordParser(const RecordParser&) = delete;
  RecordParser& operator=(const RecordParser&) = delete;

  ParsedRecord parse(std::string_view line, uint64_t index);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sb
