// Chat templates (any model file can ship one): parsed and rendered over a small
// conversation in the sandbox, with limits low enough to keep each run short.
#include "core/chat/chat_template.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {
namespace {

ChatRequest conversation() {
  ChatRequest r;
  auto m = parse_chat_messages(R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "<think>t</think>Hello", "tool_calls": [{"type": "function", "function":
      {"name": "f", "arguments": {"x": [1, 2.5, null, true]}}}]}, {"role": "tool", "content": "r"},
      {"role": "user", "content": [{"type": "text", "text": "v"}]}])");
  FUZZ_CHECK(m.ok(), m.status().message());
  r.messages = *m;
  r.bos_token = "<s>";
  r.eos_token = "</s>";
  return r;
}

}  // namespace

int jinja(const uint8_t* data, size_t size) {
  static const ChatRequest request = conversation();
  auto t = ChatTemplate::parse(as_text(data, size));
  if (!t.ok()) return 0;
  jinja::RenderLimits limits;
  limits.max_work = 20000;
  limits.max_output_bytes = 1 << 16;
  limits.max_items = 10000;
  auto out = t->render(request, limits);
  if (out.ok()) FUZZ_CHECK(out->size() <= limits.max_output_bytes, "the output stays within its limit");
  return 0;
}

}  // namespace sb::fuzz
