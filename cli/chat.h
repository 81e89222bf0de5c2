// Chat records in `specbatch run`: the chat template (--chat-template FILE, else
// the model's own), --chat-template-kwargs, and turning a record's messages
// into prompt tokens (special tokens written by the template are matched as
// special tokens; no second BOS when the template writes one). Parsed once per
// run; a record's failure is a RecordError, never a failed run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/chat/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/record.h"

namespace sb::cli {

class ChatPrompter {
 public:
  // Errors (unreadable or unparsable --chat-template FILE, kwargs that are not a
  // JSON object) are command-line errors. A model template that does not parse is
  // not: each chat record then gets a template_error naming the problem.
  static StatusOr<ChatPrompter> create(const Tokenizer& tok, const std::string& template_file,
                                       const std::string& kwargs_json);

  // Renders rec.messages_json (+ rec.tools_json) and tokenizes the result into *ids.
  std::optional<RecordError> encode(const Record& rec, bool add_bos, std::vector<int32_t>* ids) const;

 private:
  explicit ChatPrompter(const Tokenizer& tok) : tok_(&tok) {}
  const Tokenizer* tok_;
  std::optional<ChatTemplate> template_;
  Status template_status_;  // why template_ is empty
  jinja::Dict kwargs_;
};

}  // namespace sb::cli
