// JSONL record lines (plain, chat and OpenAI Batch shapes): a line is a record or
// a RecordError with a message, never a crash; chat messages and tools go through
// the chat template's JSON reader as `run` does.
#include "core/chat/chat_template.h"
#include "formats/record.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int record_line(const uint8_t* data, size_t size) {
  static RecordParser parser;
  const ParsedRecord parsed = parser.parse(as_text(data, size), 7);
  FUZZ_CHECK(parsed.record.index == 7, "the index is the caller's");
  if (!parsed.ok()) {
    FUZZ_CHECK(!parsed.error->message.empty(), "an error record says why");
    return 0;
  }
  const Record& r = parsed.record;
  FUZZ_CHECK(r.chat == !r.messages_json.empty(), "chat records carry their messages");
  if (r.chat) {
    (void)parse_chat_messages(r.messages_json);
    if (!r.tools_json.empty()) (void)parse_chat_messages(r.tools_json);
  }
  return 0;
}

}  // namespace sb::fuzz
