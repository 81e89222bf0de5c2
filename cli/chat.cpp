// ChatPrompter: template selection, rendering and tokenizing of chat records.
#include "cli/chat.h"

#include <fcntl.h>
#include <unistd.h>

#include "cli/common.h"

namespace sb::cli {

StatusOr<jinja::Dict> parse_chat_template_kwargs(const std::string& json) {
  if (json.empty()) return jinja::Dict();
  auto kwargs = parse_chat_kwargs(json);
  if (!kwargs.ok()) return kwargs.status().with_context("--chat-template-kwargs");
  return kwargs;
}

StatusOr<ChatPrompter> ChatPrompter::create(const Tokenizer& tok, const std::string& template_file,
                                            jinja::Dict kwargs) {
  ChatPrompter p(tok);
  p.kwargs_ = std::move(kwargs);
  if (!template_file.empty()) {
    const int fd = ::open(template_file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error("--chat-template: cannot open " + template_file);
    auto source = read_all(fd, template_file);
    ::close(fd);
    if (!source.ok()) return source.status().with_context("--chat-template");
    auto parsed = ChatTemplate::parse(*source);
    if (!parsed.ok()) return parsed.status().with_context("--chat-template " + template_file);
    p.template_ = std::move(parsed).value();
    return p;
  }
  if (tok.chat_template().empty()) {
    p.template_status_ = unsupported("the model has no chat template; give a plain \"prompt\" or pass --chat-template FILE");
    return p;
  }
  auto parsed = ChatTemplate::parse(tok.chat_template());
  if (parsed.ok()) {
    p.template_ = std::move(parsed).value();
  } else {
    p.template_status_ = parsed.status().with_context("the model's");
  }
  return p;
}

namespace {

// continue_final_message, as Hugging Face's apply_chat_template does it: the
// rendered text ends where the last message's content (else that content
// stripped of surrounding whitespace) last appears, leaving the turn open.
std::variant<std::string, RecordError> cut_after_final_message(const jinja::Value& messages, std::string text) {
  const jinja::List& list = messages.as_list();
  const jinja::Value* content = list.empty() ? nullptr : list.back().as_dict().find("content");
  if (content == nullptr || !content->is_string())
    return RecordError{RecordErrorCode::kInvalidParam, "continue_final_message needs a last message with a string "
                                                       "content"};
  std::string_view final_text = content->as_string();
  size_t at = text.rfind(final_text);
  if (at == std::string::npos) {
    const size_t b = final_text.find_first_not_of(" \t\n\r");
    final_text = b == std::string_view::npos ? std::string_view() : final_text.substr(b);
    final_text = final_text.substr(0, final_text.find_last_not_of(" \t\n\r") + 1);
    at = text.rfind(final_text);
  }
  if (at == std::string::npos)
    return RecordError{RecordErrorCode::kTemplateError, "continue_final_message: the chat template does not write "
                                                        "the last message's content as it is"};
  text.resize(at + final_text.size());
  return text;
}

}  // namespace

std::variant<std::string, RecordError> ChatPrompter::render(const Record& rec) const {
  if (!template_) {
    const bool no_template = template_status_.code() == StatusCode::kUnsupported;
    return RecordError{no_template ? RecordErrorCode::kUnsupported : RecordErrorCode::kTemplateError,
                       template_status_.message()};
  }
  ChatRequest req;
  auto messages = parse_chat_messages(rec.messages_json);
  if (!messages.ok()) return RecordError{RecordErrorCode::kInvalidParam, messages.status().message()};
  req.messages = std::move(messages).value();
  if (!rec.tools_json.empty()) {
    auto tools = jinja::parse_json(rec.tools_json);
    if (!tools.ok()) return RecordError{RecordErrorCode::kInvalidParam, tools.status().with_context("tools").message()};
    req.tools = std::move(tools).value();
  }
  req.bos_token = tok_->bos_token();
  req.eos_token = tok_->eos_token();
  req.kwargs = kwargs_;
  if (!rec.chat_template_kwargs_json.empty()) {  // the record's own win over --chat-template-kwargs
    auto own = parse_chat_kwargs(rec.chat_template_kwargs_json);
    if (!own.ok()) return RecordError{RecordErrorCode::kInvalidParam, own.status().message()};
    for (auto& [k, v] : own->items) req.kwargs.set(k, std::move(v));
  }
  req.add_generation_prompt = rec.add_generation_prompt.value_or(!rec.continue_final_message);
  auto text = template_->render(req);
  if (!text.ok()) return RecordError{RecordErrorCode::kTemplateError, text.status().message()};
  if (rec.continue_final_message) return cut_after_final_message(req.messages, std::move(text).value());
  return std::move(text).value();
}

std::variant<ChatPrompter::Prompt, RecordError> ChatPrompter::prompt(const Record& rec, bool add_bos) const {
  Prompt p;
  if (!rec.chat) {
    p.text = rec.prompt;
    p.ids = tok_->encode(p.text, add_bos);
    return p;
  }
  std::variant<std::string, RecordError> text = render(rec);
  if (const RecordError* e = std::get_if<RecordError>(&text)) return *e;
  p.text = std::move(std::get<std::string>(text));
  // Templates that write bos_token themselves (Llama-3, Mistral, Gemma) must not get a second one.
  const std::string& bos = tok_->bos_token();
  const bool writes_bos = !bos.empty() && p.text.starts_with(bos);
  p.ids = tok_->encode(p.text, add_bos && !writes_bos, /*parse_special=*/true);
  return p;
}

}  // namespace sb::cli
