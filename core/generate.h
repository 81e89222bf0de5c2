// Generation of one request at a time over the Backend (the first `run` loop;
// the scheduler issue replaces it with continuous batching). Stops on EOS ids,
// stop strings (matched on decoded text, even across token boundaries, and
// not included in the output) and max_tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/sampler.h"  // SamplingParams
#include "core/status.h"

namespace sb {

class Backend;
struct Model;
class Tokenizer;

struct GenerationRequest {
  uint64_t index = 0;            // record index: part of the randomness key
  std::vector<int32_t> prompt;   // token ids, BOS already included when wanted
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;
  bool ignore_eos = false;
};

enum class FinishReason { kStop, kLength };
const char* finish_reason_name(FinishReason reason);  // "stop" / "length"

struct GenerationResult {
  std::string text;
  std::vector<int32_t> tokens;   // generated ids (a matched stop string's tokens included)
  FinishReason finish_reason = FinishReason::kLength;
  int prompt_tokens = 0;
  int completion_tokens = 0;
};

class Generator {
 public:
  // Uploads the weights to the backend and sizes all workspaces for up to
  // `max_ctx` tokens per sequence (0 = the model's trained context).
  static StatusOr<std::unique_ptr<Generator>> create(const Model& model, const Tokenizer& tokenizer,
                                                     Backend& backend, int max_ctx = 0);
  virtual ~Generator() = default;
  virtual int max_ctx() const = 0;
  // Errors: prompt empty or longer than max_ctx (kInvalidArgument), backend failure.
  virtual StatusOr<GenerationResult> generate(const GenerationRequest& request) = 0;
};

}  // namespace sb
