// The sampling defaults a model ships (vLLM's --generation-config auto): a
// Hugging Face directory's generation_config.json (temperature, top_p, top_k,
// min_p, repetition_penalty, max_new_tokens) or a GGUF's general.sampling.*
// keys (temp, top_p, top_k, min_p, penalty_repeat). run applies them to the
// settings neither a record nor a flag gives.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/base/status.h"

namespace sb {

struct GenerationDefaults {
  std::optional<double> temperature;         // >= 0
  std::optional<double> top_p;               // (0, 1]
  std::optional<int64_t> top_k;              // >= 0; 0 = off (a negative value in the file is off too)
  std::optional<double> min_p;               // [0, 1]
  std::optional<double> repetition_penalty;  // > 0
  std::optional<int64_t> max_tokens;         // >= 1 (max_new_tokens)
  std::string source;                        // the file or GGUF they came from; empty: none

  bool empty() const {
    return !temperature && !top_p && !top_k && !min_p && !repetition_penalty && !max_tokens;
  }
  // "temperature 0.6, top_k 20, top_p 0.95" (the fields present), or "none".
  std::string describe() const;
};

// The defaults of the model at `model_path` (a GGUF file or a Hugging Face
// directory; none for a directory without generation_config.json, or a file
// that is no readable GGUF: loading it says why). A value of the wrong type or
// out of range is an error naming the file and the field.
StatusOr<GenerationDefaults> read_generation_defaults(const std::string& model_path);

}  // namespace sb
