// Chat templates: a model's Jinja2 chat template (tokenizer_config.json
// `chat_template`, GGUF `tokenizer.chat_template`) turns chat messages into the
// prompt text, as Hugging Face's apply_chat_template does. Parsed once, rendered
// per record, safe to share between threads. Rendering is sandboxed (no I/O,
// bounded work, output and depth); every failure is a Status naming the line.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/chat/jinja_builtins.h"
#include "core/chat/jinja_parser.h"
#include "core/chat/jinja_value.h"

namespace sb {

struct ChatRequest {
  // A list of message dicts: {"role": string, "content": ..., any other fields
  // such as tool_calls}, as parse_chat_messages() returns.
  jinja::Value messages;
  bool add_generation_prompt = true;
  std::string bos_token;  // the template's bos_token / eos_token variables
  std::string eos_token;
  jinja::Value tools = jinja::Value::none();
  // Extra template variables (--chat-template-kwargs, e.g. enable_thinking);
  // they may override bos_token, eos_token and tools, not messages or
  // add_generation_prompt.
  jinja::Dict kwargs;
};

class ChatTemplate {
 public:
  static StatusOr<ChatTemplate> parse(std::string_view source);
  StatusOr<std::string> render(const ChatRequest& request) const;
  StatusOr<std::string> render(const ChatRequest& request, const jinja::RenderLimits& limits) const;

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Body> body) : body_(std::move(body)) {}
  std::shared_ptr<const jinja::Body> body_;
};

// JSON text of a messages array -> ChatRequest::messages. Each message must be
// an object with a string "role"; other fields are kept as they are.
StatusOr<jinja::Value> parse_chat_messages(std::string_view json);
// JSON text of an object -> ChatRequest::kwargs.
StatusOr<jinja::Dict> parse_chat_kwargs(std::string_view json);

}  // namespace sb
