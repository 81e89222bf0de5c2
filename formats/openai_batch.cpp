#include "formats/openai_batch.h"

#include "formats/json_writer.h"

namespace sb {
namespace {

// index, id, custom_id: the common head of both line shapes.
void write_head(JsonWriter& w, const Record& r) {
  const std::string n = std::to_string(r.index);
  w.begin_object().key("index").value(r.index);
  w.key("id").value("batch_req_" + n);
  w.key("custom_id");
  if (r.has_id) {
    w.value(r.id);  // OpenAI's custom_id is a string: a numeric id keeps its JSON text
  } else {
    w.null();
  }
}

}  // namespace

std::string openai_result_line(const Record& record, OpenAiEndpoint endpoint, const CompletionOutput& out,
                               const OpenAiBatchContext& ctx) {
  return openai_result_line(record, endpoint, std::span<const CompletionOutput>(&out, 1), ctx);
}

std::string openai_result_line(const Record& record, OpenAiEndpoint endpoint, std::span<const CompletionOutput> samples,
                               const OpenAiBatchContext& ctx) {
  const bool chat = endpoint == OpenAiEndpoint::kChatCompletions;
  const std::string n = std::to_string(record.index);
  JsonWriter w;
  write_head(w, record);
  w.key("response").begin_object();
  w.key("status_code").value(200);
  w.key("request_id").value("req_" + n);
  w.key("body").begin_object();
  w.key("id").value((chat ? "chatcmpl-" : "cmpl-") + n);
  w.key("object").value(chat ? "chat.completion" : "text_completion");
  w.key("created").value(ctx.created);
  w.key("model").value(ctx.model);
  w.key("choices").begin_array();
  int64_t completion_tokens = 0;
  for (size_t k = 0; k < samples.size(); ++k) {
    const CompletionOutput& out = samples[k];
    w.begin_object().key("index").value(static_cast<int64_t>(k));
    if (chat) {
      w.key("message").begin_object().key("role").value("assistant").key("content").value(out.text).end_object();
    } else {
      w.key("text").value(out.text);
    }
    w.key("logprobs").null();
    w.key("finish_reason").value(out.finish_reason);
    w.end_object();
    completion_tokens += out.completion_tokens;
  }
  w.end_array();
  const int64_t prompt_tokens = samples.empty() ? 0 : samples[0].prompt_tokens;
  w.key("usage").begin_object();
  w.key("prompt_tokens").value(prompt_tokens);
  w.key("completion_tokens").value(completion_tokens);
  w.key("total_tokens").value(prompt_tokens + completion_tokens);
  w.end_object();
  w.end_object();  // body
  w.end_object();  // response
  w.key("error").null();
  w.end_object();
  return w.take();
}

std::string openai_error_line(const Record& record, std::string_view code, std::string_view message) {
  JsonWriter w;
  write_head(w, record);
  w.key("response").null();
  w.key("error").begin_object().key("code").value(code).key("message").value(message).end_object();
  w.end_object();
  return w.take();
}

}  // namespace sb
