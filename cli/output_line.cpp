#include "cli/output_line.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "formats/json_writer.h"

namespace sb::cli {
namespace {

// Where one sample (a completion of a record) is written: a specbatch line, or a
// choice of an OpenAI text completion or chat completion.
enum class SampleShape { kSpecbatch, kOpenAiCompletion, kOpenAiChat };

struct SampleFormat {
  SampleShape shape = SampleShape::kSpecbatch;
  bool token_ids = false;                // write "token_ids" (the generated ids)
  const Tokenizer* tokenizer = nullptr;  // token texts in "logprobs"
};

// The text of a token in logprobs: its bytes alone; control tokens (which decode
// to nothing) show their vocabulary entry, e.g. "</s>". Bytes that are not valid
// UTF-8 alone are written as U+FFFD (the JSON writer's rule).
std::string token_text(const Tokenizer& tok, int32_t id) {
  std::string bytes = tok.token_bytes(id);
  return bytes.empty() ? tok.token_piece(id) : bytes;
}

void write_int_array(JsonWriter& w, std::span<const int32_t> ids) {
  w.begin_array();
  for (int32_t id : ids) w.value(id);
  w.end_array();
}

// The per-token array of the specbatch and OpenAI chat shapes: one object per
// generated token, entry(id, logprob) for it, then its alternatives under top_key.
// Alternatives come most likely first; those of probability 0 (tokens an output
// constraint forbids) are left out, so a position may list fewer than asked.
template <typename Entry>
void write_token_list(JsonWriter& w, const GenerationResult& g, const char* top_key, Entry&& entry) {
  const size_t k = static_cast<size_t>(g.n_top_logprobs);
  w.begin_array();
  for (size_t i = 0; i < g.logprobs.size(); ++i) {
    w.begin_object();
    entry(g.tokens[i], g.logprobs[i]);
    w.key(top_key).begin_array();
    for (size_t j = 0; j < k; ++j) {
      const TokenLogprob& t = g.top_logprobs[i * k + j];
      if (t.logprob == -std::numeric_limits<float>::infinity()) break;  // impossible (a constraint's mask)
      w.begin_object();
      entry(t.id, t.logprob);
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
}

// specbatch: [{"token", "text", "logprob", "top": [{"token", "text", "logprob"}]}].
void write_logprobs(JsonWriter& w, const GenerationResult& g, const Tokenizer& tok) {
  write_token_list(w, g, "top", [&](int32_t id, float logprob) {
    w.key("token").value(id).key("text").value(token_text(tok, id)).key("logprob").value(logprob);
  });
}

// OpenAI completions: {"tokens", "token_logprobs", "top_logprobs": [{text: logprob}]}.
// Alternatives whose texts coincide keep the most likely one (object keys are unique).
void write_openai_completion_logprobs(JsonWriter& w, const GenerationResult& g, const Tokenizer& tok) {
  const size_t k = static_cast<size_t>(g.n_top_logprobs);
  w.begin_object().key("tokens").begin_array();
  for (int32_t id : g.tokens) w.value(token_text(tok, id));
  w.end_array().key("token_logprobs").begin_array();
  for (float lp : g.logprobs) w.value(lp);
  w.end_array().key("top_logprobs").begin_array();
  std::vector<std::string> seen;
  for (size_t i = 0; i < g.logprobs.size(); ++i) {
    w.begin_object();
    seen.clear();
    for (size_t j = 0; j < k; ++j) {
      const TokenLogprob& t = g.top_logprobs[i * k + j];
      if (t.logprob == -std::numeric_limits<float>::infinity()) break;  // impossible (a constraint's mask)
      const std::string text = token_text(tok, t.id);
      std::string written = json_quote(text);  // invalid bytes compare as the U+FFFD they become
      if (std::find(seen.begin(), seen.end(), written) != seen.end()) continue;
      w.key(text).value(t.logprob);
      seen.push_back(std::move(written));
    }
    w.end_object();
  }
  w.end_array().end_object();
}

// OpenAI chat: {"content": [{"token", "logprob", "bytes", "top_logprobs": [{"token", "logprob", "bytes"}]}],
// "refusal": null}; "bytes" are the token's exact bytes.
void write_openai_chat_logprobs(JsonWriter& w, const GenerationResult& g, const Tokenizer& tok) {
  w.begin_object().key("content");
  write_token_list(w, g, "top_logprobs", [&](int32_t id, float logprob) {
    const std::string text = token_text(tok, id);
    w.key("token").value(text).key("logprob").value(logprob).key("bytes").begin_array();
    for (char c : text) w.value(static_cast<int>(static_cast<unsigned char>(c)));
    w.end_array();
  });
  w.key("refusal").null().end_object();
}

// One sample's fields into w's open object. kSpecbatch: "text", "finish_reason",
// then "token_ids" and "logprobs" when asked. OpenAI (the caller has written the
// choice's "index"): "text" or "message", "logprobs" (null unless asked, else the
// endpoint's shape), "finish_reason", and "token_ids" when asked.
void write_sample(JsonWriter& w, const GenerationResult& g, const SampleFormat& f) {
  const bool logprobs = g.n_top_logprobs >= 0;
  SB_CHECK(!logprobs || (f.tokenizer != nullptr && g.logprobs.size() == g.tokens.size() &&
                         g.top_logprobs.size() == g.tokens.size() * static_cast<size_t>(g.n_top_logprobs)));
  if (f.shape == SampleShape::kSpecbatch) {
    w.key("text").value(g.text);
    w.key("finish_reason").value(finish_reason_name(g.finish_reason));
    if (f.token_ids) write_int_array(w.key("token_ids"), g.tokens);
    if (logprobs) write_logprobs(w.key("logprobs"), g, *f.tokenizer);
    return;
  }
  if (f.shape == SampleShape::kOpenAiChat) {
    w.key("message").begin_object().key("role").value("assistant").key("content").value(g.text).end_object();
  } else {
    w.key("text").value(g.text);
  }
  w.key("logprobs");
  if (!logprobs) {
    w.null();
  } else if (f.shape == SampleShape::kOpenAiChat) {
    write_openai_chat_logprobs(w, g, *f.tokenizer);
  } else {
    write_openai_completion_logprobs(w, g, *f.tokenizer);
  }
  w.key("finish_reason").value(finish_reason_name(g.finish_reason));
  if (f.token_ids) write_int_array(w.key("token_ids"), g.tokens);
}

void write_spec(JsonWriter& w, const GenerationResult& g) {
  w.key("spec").begin_object().key("drafted").value(g.spec.drafted).key("accepted").value(g.spec.accepted);
  w.key("steps").value(g.spec.steps).end_object();
}

int64_t completion_tokens(std::span<const GenerationResult> samples) {
  int64_t n = 0;
  for (const GenerationResult& g : samples) n += g.completion_tokens;
  return n;
}

// specbatch lines open with the index and the record's id: a string, the JSON
// text of a numeric id, or null.
void write_specbatch_head(JsonWriter& w, const Record& r) {
  w.begin_object().key("index").value(r.index).key("id");
  if (!r.has_id) {
    w.null();
  } else if (r.id_is_number) {
    w.raw(r.id);
  } else {
    w.value(r.id);
  }
}

// OpenAI lines open with the index, an id derived from it and custom_id (always
// a string: a numeric id keeps its JSON text; null when the record has none).
void write_openai_head(JsonWriter& w, const Record& r) {
  w.begin_object().key("index").value(r.index);
  w.key("id").value("batch_req_" + std::to_string(r.index));
  w.key("custom_id");
  if (r.has_id) {
    w.value(r.id);
  } else {
    w.null();
  }
}

}  // namespace

std::string OutputLineFormat::error(const Record& r, RecordErrorCode code, const std::string& message) const {
  JsonWriter w;
  if (options_.format == OutputFormat::kOpenAi) {
    write_openai_head(w, r);
    w.key("response").null();
  } else {
    write_specbatch_head(w, r);
  }
  w.key("error").begin_object().key("code").value(record_error_code_name(code)).key("message").value(message);
  w.end_object().end_object();
  return w.take();
}

std::string OutputLineFormat::result(const Record& r, std::span<const GenerationResult> samples,
                                     std::span<const int32_t> prompt_ids) const {
  SB_CHECK(!samples.empty());
  return options_.format == OutputFormat::kOpenAi ? openai_result(r, samples, prompt_ids)
                                                  : specbatch_result(r, samples, prompt_ids);
}

std::string OutputLineFormat::prompt(const Record& r, const std::string& text, std::span<const int32_t> ids) const {
  JsonWriter w;
  write_specbatch_head(w, r);
  w.key("prompt").value(text);
  write_int_array(w.key("token_ids"), ids);
  w.end_object();
  return w.take();
}

// Sample fields at the top level when n = 1, else one "choices" entry each; "spec"
// after "usage" for n = 1 (as before choices existed), inside each choice otherwise.
std::string OutputLineFormat::specbatch_result(const Record& r, std::span<const GenerationResult> samples,
                                               std::span<const int32_t> prompt_ids) const {
  const SampleFormat f{SampleShape::kSpecbatch, wants_token_ids(r), &tok_};
  JsonWriter w;
  write_specbatch_head(w, r);
  if (f.token_ids) write_int_array(w.key("prompt_token_ids"), prompt_ids);
  if (samples.size() == 1) {
    write_sample(w, samples[0], f);
  } else {
    w.key("choices").begin_array();
    for (size_t k = 0; k < samples.size(); ++k) {
      w.begin_object().key("index").value(static_cast<int64_t>(k));
      write_sample(w, samples[k], f);
      if (options_.spec) write_spec(w, samples[k]);
      w.end_object();
    }
    w.end_array();
  }
  w.key("usage").begin_object();
  w.key("prompt_tokens").value(samples[0].prompt_tokens).key("completion_tokens").value(completion_tokens(samples));
  w.end_object();
  if (options_.spec && samples.size() == 1) write_spec(w, samples[0]);
  w.end_object();
  return w.take();
}

// The body of a text completion ("text_completion", choices with "text") or, for
// chat records, a chat completion ("chat.completion", choices with "message").
std::string OutputLineFormat::openai_result(const Record& r, std::span<const GenerationResult> samples,
                                            std::span<const int32_t> prompt_ids) const {
  const SampleFormat f{r.chat ? SampleShape::kOpenAiChat : SampleShape::kOpenAiCompletion, wants_token_ids(r), &tok_};
  const std::string n = std::to_string(r.index);
  JsonWriter w;
  write_openai_head(w, r);
  w.key("response").begin_object().key("status_code").value(200).key("request_id").value("req_" + n);
  w.key("body").begin_object();
  w.key("id").value((r.chat ? "chatcmpl-" : "cmpl-") + n);
  w.key("object").value(r.chat ? "chat.completion" : "text_completion");
  w.key("created").value(options_.created).key("model").value(options_.model);
  if (f.token_ids) write_int_array(w.key("prompt_token_ids"), prompt_ids);
  w.key("choices").begin_array();
  for (size_t k = 0; k < samples.size(); ++k) {
    w.begin_object().key("index").value(static_cast<int64_t>(k));
    write_sample(w, samples[k], f);
    w.end_object();
  }
  w.end_array();
  const int64_t prompt_tokens = samples[0].prompt_tokens;
  const int64_t completion = completion_tokens(samples);
  w.key("usage").begin_object().key("prompt_tokens").value(prompt_tokens).key("completion_tokens").value(completion);
  w.key("total_tokens").value(prompt_tokens + completion).end_object();
  w.end_object();  // body
  w.end_object();  // response
  w.key("error").null().end_object();
  return w.take();
}

}  // namespace sb::cli
