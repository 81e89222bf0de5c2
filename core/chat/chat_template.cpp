// ChatTemplate: parse once, render per request with HF's template variables.
#include "core/chat/chat_template.h"

#include "core/chat/jinja_eval.h"

namespace sb {

namespace {
constexpr size_t kMaxTemplateBytes = size_t{1} << 20;
}  // namespace

StatusOr<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  if (source.size() > kMaxTemplateBytes) {
    return invalid_argument("chat template: " + std::to_string(source.size()) + " bytes is over the limit of " +
                            std::to_string(kMaxTemplateBytes));
  }
  auto body = jinja::parse_template(source);
  if (!body.ok()) return body.status().with_context("chat template");
  return ChatTemplate(std::make_shared<const jinja::Body>(std::move(body).value()));
}

StatusOr<std::string> ChatTemplate::render(const ChatRequest& request) const {
  return render(request, jinja::RenderLimits{});
}

StatusOr<std::string> ChatTemplate::render(const ChatRequest& request, const jinja::RenderLimits& limits) const {
  jinja::Dict globals;
  globals.set("bos_token", jinja::Value::string(request.bos_token));
  globals.set("eos_token", jinja::Value::string(request.eos_token));
  globals.set("tools", request.tools);
  for (const auto& [k, v] : request.kwargs.items) globals.set(k, v);
  globals.set("messages", request.messages);
  globals.set("add_generation_prompt", jinja::Value::boolean(request.add_generation_prompt));
  auto text = jinja::render(*body_, globals, limits);
  if (!text.ok()) return text.status().with_context("chat template");
  return text;
}

StatusOr<jinja::Value> parse_chat_messages(std::string_view json) {
  auto v = jinja::parse_json(json);
  if (!v.ok()) return v.status().with_context("messages");
  if (!v->is_list()) return invalid_argument("messages: expected an array of message objects");
  const jinja::List& list = v->as_list();
  for (size_t i = 0; i < list.size(); ++i) {
    const jinja::Value* role = list[i].is_dict() ? list[i].as_dict().find("role") : nullptr;
    if (!role || !role->is_string()) {
      return invalid_argument("messages[" + std::to_string(i) + "]: expected an object with a string \"role\"");
    }
  }
  return v;
}

StatusOr<jinja::Dict> parse_chat_kwargs(std::string_view json) {
  auto v = jinja::parse_json(json);
  if (!v.ok()) return v.status().with_context("chat template kwargs");
  if (!v->is_dict()) return invalid_argument("chat template kwargs: expected a JSON object");
  return v->as_dict();
}

}  // namespace sb
