// Chat records in `specbatch run` and `specbatch tokenize --messages`: the chat
// template (--chat-template FILE, else the model's own), --chat-template-kwargs,
// and turning a record's messages into prompt text and tokens (special tokens
// written by the template are matched as special tokens; no second BOS when the
// template writes one). Set up once per run; a record's failure is a
// RecordError, never a failed run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/base/status.h"
#include "core/chat/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/record.h"

namespace sb::cli {

// --chat-template-kwargs: a JSON object, else a usage error naming the flag.
StatusOr<jinja::Dict> parse_chat_template_kwargs(const std::string& json);

class ChatPrompter {
 public:
  // Errors are those of an unreadable or unparsable --chat-template FILE. A model
  // template that does not parse is not an error here: each chat record then gets
  // a template_error naming the problem.
  static StatusOr<ChatPrompter> create(const Tokenizer& tok, const std::string& template_file, jinja::Dict kwargs);

  // A record's prompt as `run` feeds it to the engine: its text (the "prompt", or
  // the messages rendered by the template) and the token ids (BOS when add_bos,
  // unless the rendered text starts with it).
  struct Prompt {
    std::string text;
    std::vector<int32_t> ids;
  };
  std::variant<Prompt, RecordError> prompt(const Record& rec, bool add_bos) const;

 private:
  explicit ChatPrompter(const Tokenizer& tok) : tok_(&tok) {}
  // rec.messages_json (+ rec.tools_json) rendered by the template.
  std::variant<std::string, RecordError> render(const Record& rec) const;

  const Tokenizer* tok_;
  std::optional<ChatTemplate> template_;
  Status template_status_;  // why template_ is empty
  jinja::Dict kwargs_;
};

}  // namespace sb::cli
