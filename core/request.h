// What a generation request asks for and what comes back: the vocabulary the
// Engine (core/engine.h) speaks. Stops on EOS ids (unless ignore_eos),
// stop_token_ids, stop strings (matched on decoded text, even across token
// boundaries, and not included in the text unless include_stop_str) and max_tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/sampler.h"  // SamplingParams

namespace sb::constrain {
struct Constraint;
}

namespace sb {

// Logit transforms that read the request's tokens (vLLM / OpenAI semantics),
// applied to every row the request samples or verifies from, in this order
// (vLLM v1's): logit_bias added; end tokens (EOS unless ignore_eos, and
// stop_token_ids) set to -inf while fewer than min_tokens tokens are generated;
// repetition_penalty on every token of the prompt and the output (a positive
// logit divided by it, another multiplied); presence_penalty once and
// frequency_penalty per occurrence subtracted for tokens of the output. Then
// temperature and the rest (core/sampler.h). Stop strings end nothing before
// min_tokens either. Neutral values change nothing.
struct LogitPenalties {
  float repetition_penalty = 1.0f;  // > 0
  float presence_penalty = 0.0f;    // [-2, 2]
  float frequency_penalty = 0.0f;   // [-2, 2]
  std::vector<std::pair<int32_t, float>> logit_bias;  // (token id, bias in [-100, 100]), distinct ids
  int min_tokens = 0;               // [0, max_tokens]

  // Anything but the neutral values.
  bool active() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f ||
           !logit_bias.empty() || min_tokens > 0;
  }
};

struct GenerationRequest {
  uint64_t index = 0;            // record index: part of the randomness key
  std::vector<int32_t> prompt;   // token ids, BOS already included when wanted
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;
  bool include_stop_str = false;  // the text keeps a matched stop string (vLLM's include_stop_str_in_output)
  bool skip_special_tokens = true;  // false: control tokens other than the ending one are written as their text
  std::vector<int32_t> stop_token_ids;  // end generation like EOS (even with ignore_eos)
  bool ignore_eos = false;
  // -1: none. K in [0, kMaxTopLogprobs]: each generated token's logprob and the K
  // most likely alternatives (token_logprobs() in core/sampler.h), from the target's logits.
  int logprobs = -1;
  // An output constraint (Engine::constraint()); null: none. Not with ignore_eos
  // or stop strings (the text ends where the constraint completes).
  std::shared_ptr<const constrain::Constraint> constraint;
  // Not min_tokens with a constraint (the constraint decides where the text ends).
  LogitPenalties penalties;
};

constexpr int kMaxTopLogprobs = 20;

enum class FinishReason { kStop, kLength };
const char* finish_reason_name(FinishReason reason);  // "stop" / "length"

// Speculative decoding of one request (all zero without a drafter).
struct SpecCounts {
  int drafted = 0;   // draft tokens verified by the target
  int accepted = 0;  // of them accepted
  int steps = 0;     // target forward steps that emitted tokens for the request
};

struct GenerationResult {
  std::string text;
  std::vector<int32_t> tokens;   // generated ids (EOS, stop tokens and a matched stop string's tokens included)
  FinishReason finish_reason = FinishReason::kLength;
  int prompt_tokens = 0;
  int completion_tokens = 0;
  SpecCounts spec;
  // With GenerationRequest::logprobs = K >= 0 (else n_top_logprobs = -1 and both empty):
  int n_top_logprobs = -1;                 // K
  std::vector<float> logprobs;             // [completion_tokens] each generated token's
  std::vector<TokenLogprob> top_logprobs;  // [completion_tokens, K] descending
  // Not ok when the request failed after it was added: its constraint reached
  // text no token of the vocabulary continues (kOutOfRange), or a json_schema
  // output failed the schema check (kInternal: a bug).
  Status status;
};

}  // namespace sb
