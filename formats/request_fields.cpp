#include "formats/request_fields.h"

#include <algorithm>

namespace sb {

const char* field_policy_name(FieldPolicy policy) {
  return policy == FieldPolicy::kHonoured ? "honoured" : "refused";
}

namespace {

constexpr FieldPolicy H = FieldPolicy::kHonoured;
constexpr FieldPolicy R = FieldPolicy::kRefused;

// Sorted by name (checked by the test that compares it with the man page).
constexpr RequestField kFields[] = {
    {"add_generation_prompt", H, "", "chat records; default true (false with continue_final_message)"},
    {"add_special_tokens", R, "", "the BOS rule under prompt and messages applies"},
    {"allowed_token_ids", R, "", ""},
    {"audio", R, "", "text output only"},
    {"bad_words", R, "[]", ""},
    {"best_of", R, "1", "each sample is returned; see n"},
    {"cache_salt", H, "", "accepted; the prefix cache never changes output"},
    {"chat_template", R, "", "use --chat-template"},
    {"chat_template_kwargs", H, "", "chat records; over --chat-template-kwargs"},
    {"continue_final_message", H, "", "chat records; the prompt ends inside the last message"},
    {"detokenize", R, "true", ""},
    {"documents", R, "", ""},
    {"early_stopping", R, "false", "beam search"},
    {"echo", R, "false", "the prompt is not repeated in the output"},
    {"frequency_penalty", H, "", "over the generated tokens (OpenAI, vLLM)"},
    {"function_call", R, "", "deprecated by OpenAI; see tools"},
    {"functions", R, "", "deprecated by OpenAI; see tools"},
    {"guided_choice", H, "", "STRUCTURED OUTPUTS"},
    {"guided_decoding_backend", H, "", "accepted; specbatch has one constraint engine"},
    {"guided_grammar", H, "", "STRUCTURED OUTPUTS"},
    {"guided_json", H, "", "STRUCTURED OUTPUTS"},
    {"guided_regex", H, "", "STRUCTURED OUTPUTS"},
    {"guided_whitespace_pattern", R, "", "JSON output is compact"},
    {"ignore_eos", H, "", ""},
    {"include_stop_str_in_output", H, "", "the text ends with the stop string that ended it"},
    {"length_penalty", R, "1", "beam search"},
    {"logit_bias", H, "", "token ids of the model's vocabulary"},
    {"logits_processors", R, "", ""},
    {"logprobs", H, "", "generated tokens"},
    {"max_completion_tokens", H, "", "as max_tokens; both with different values is invalid_param"},
    {"max_tokens", H, "", ""},
    {"messages", H, "", "content as a string, or a list of text parts"},
    {"metadata", H, "", "accepted; provider bookkeeping, no effect on output"},
    {"min_p", H, "", ""},
    {"min_tokens", H, "", "end tokens and stop strings held back"},
    {"mm_processor_kwargs", R, "", "text models only"},
    {"modalities", R, "[\"text\"]", "text output only"},
    {"model", H, "", "accepted; the run's -m model answers"},
    {"n", H, "", ""},
    {"output_kind", R, "", ""},
    {"parallel_tool_calls", R, "true", ""},
    {"prediction", R, "", ""},
    {"presence_penalty", H, "", "over the generated tokens (OpenAI, vLLM)"},
    {"priority", H, "", "accepted; records are admitted in input order"},
    {"prompt", H, "", "a string"},
    {"prompt_cache_key", H, "", "accepted; the prefix cache is automatic"},
    {"prompt_logprobs", R, "", ""},
    {"reasoning_effort", R, "", "use --chat-template-kwargs"},
    {"repetition_penalty", H, "", "over the prompt and generated tokens (vLLM)"},
    {"request_id", H, "", "accepted; id or custom_id names the output"},
    {"response_format", H, "", "STRUCTURED OUTPUTS"},
    {"return_token_ids", H, "", ""},
    {"return_tokens_as_token_ids", R, "false", ""},
    {"safety_identifier", H, "", "accepted; provider bookkeeping, no effect on output"},
    {"seed", H, "", ""},
    {"service_tier", H, "", "accepted; provider bookkeeping, no effect on output"},
    {"skip_special_tokens", H, "", "false: control tokens are written as their text, the ending one not"},
    {"spaces_between_special_tokens", H, "", "accepted; control tokens are written with no space between"},
    {"stop", H, "", ""},
    {"stop_token_ids", H, "", ""},
    {"store", H, "", "accepted; provider bookkeeping, no effect on output"},
    {"stream", R, "false", "a batch run writes whole records"},
    {"stream_options", R, "", "a batch run writes whole records"},
    {"structured_outputs", R, "", "use response_format or guided_*"},
    {"suffix", R, "\"\"", ""},
    {"temperature", H, "", ""},
    {"tool_choice", R, "\"auto\"", "tools reach the template; the model chooses"},
    {"tools", H, "", "chat records: passed to the chat template"},
    {"top_k", H, "", ""},
    {"top_logprobs", H, "", "with \"logprobs\": true"},
    {"top_p", H, "", ""},
    {"truncate_prompt_tokens", H, "", "the last N prompt tokens; -1: the context length"},
    {"typical_p", H, "", "after min_p, as Hugging Face's typical decoding"},
    {"use_beam_search", R, "false", ""},
    {"user", H, "", "accepted; provider bookkeeping, no effect on output"},
    {"verbosity", R, "", ""},
    {"web_search_options", R, "", ""},
};

}  // namespace

std::span<const RequestField> request_fields() { return kFields; }

const RequestField* find_request_field(std::string_view name) {
  const auto it = std::lower_bound(std::begin(kFields), std::end(kFields), name,
                                   [](const RequestField& f, std::string_view n) { return f.name < n; });
  return it != std::end(kFields) && it->name == name ? it : nullptr;
}

}  // namespace sb
