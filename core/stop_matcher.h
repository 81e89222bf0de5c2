// When one request stops generating (EOS ids unless ignore_eos, stop_token_ids,
// stop strings, max_tokens) and the text it produced so far. Stop strings are
// matched on the streamed text, across token boundaries, and cut off after the
// match, or before it unless include_stop_str (none
// ends the text before min_tokens tokens: it must end in later text); stop and
// EOS tokens are counted but never decoded. One instance per request.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/request.h"
#include "core/tokenizer/tokenizer.h"

namespace sb {

class StopMatcher {
 public:
  // eos_ids: the model's end-of-generation ids (ignored when request.ignore_eos).
  // Keeps references to tokenizer, request and eos_ids; they must outlive it.
  StopMatcher(const Tokenizer& tokenizer, const GenerationRequest& request, std::span<const int> eos_ids);

  // Takes one generated token; returns true when generation ends with it
  // (finish_reason() then tells why). No token may follow a true.
  bool push(int32_t id);
  // Ends generation for another reason (the context is full): flushes any
  // held-back partial character, which may still complete a stop string.
  void end();

  const std::string& text() const { return text_; }
  int n_generated() const { return n_generated_; }
  FinishReason finish_reason() const { return reason_; }

 private:
  // Looks for a stop string ending in the text appended after `before`; on a
  // match cuts the text at its start and returns true.
  bool cut_at_stop(size_t before);
  // Flushes the decoder and ends generation; returns true.
  bool finish(FinishReason reason);

  StreamDecoder decoder_;
  const GenerationRequest& request_;
  std::span<const int> eos_ids_;
  std::string text_;
  int n_generated_ = 0;
  bool done_ = false;
  FinishReason reason_ = FinishReason::kLength;
};

}  // namespace sb
