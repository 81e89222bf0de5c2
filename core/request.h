// What a generation request asks for and what comes back: the vocabulary the
// Engine (core/engine.h) speaks. Stops on EOS ids (unless ignore_eos),
// stop_token_ids, stop strings (matched on decoded text, even across token
// boundaries, and not included in the text) and max_tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/sampler.h"  // SamplingParams

namespace sb::constrain {
struct Constraint;
}

namespace sb {

struct GenerationRequest {
  uint64_t index = 0;            // record index: part of the randomness key
  std::vector<int32_t> prompt;   // token ids, BOS already included when wanted
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;
  std::vector<int32_t> stop_token_ids;  // end generation like EOS (even with ignore_eos)
  bool ignore_eos = false;
  // -1: none. K in [0, kMaxTopLogprobs]: each generated token's logprob and the K
  // most likely alternatives (token_logprobs() in core/sampler.h), from the target's logits.
  int logprobs = -1;
  // An output constraint (Engine::constraint()); null: none. Not with ignore_eos
  // or stop strings (the text ends where the constraint completes).
  std::shared_ptr<const constrain::Constraint> constraint;
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
