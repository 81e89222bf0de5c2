// The model families specbatch runs, as one table: the architecture names files
// carry (config.json `architectures`, GGUF general.architecture) -> Arch, and
// each family's fixed switches. Everything else a family differs in comes from
// the file's hyper-parameters. An unknown name is refused with the supported list.
#pragma once

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/model/model_config.h"
#include "formats/hf_config.h"

namespace sb {

struct Family {
  Arch arch;
  const char* name;       // shown by inspect: "Llama", "Gemma 2", ...
  const char* hf_arch;    // config.json architectures[0]
  const char* gguf_arch;  // GGUF general.architecture; nullptr: Hugging Face directories only
};

// The family of a config.json architecture / a GGUF general.architecture; an
// unsupported one is kUnsupported naming `path` and listing the supported names.
StatusOr<Family> family_by_hf_arch(std::string_view hf_arch, const std::string& path);
StatusOr<Family> family_by_gguf_arch(std::string_view gguf_arch, const std::string& path);
const char* family_name(Arch arch);

// The switches every model of the family has (biases, q/k norms, activation,
// post-norms, embedding scale). RoPE layout is the format's: see the loaders.
void apply_family_switches(Arch arch, ModelConfig* c);

// The hyper-parameters beyond the common ones (weight_binder.h hf_model_config)
// that config.json gives a family: sliding windows (`sliding_window`,
// `layer_types`, Gemma 2's alternation, Gemma 3's `sliding_window_pattern`),
// Gemma's query scale, soft-caps and local RoPE base; the activation must be the
// family's. Errors name `path` and the field.
Status hf_family_config(const hf::ModelJsonConfig& j, const std::string& path, ModelConfig* c);

}  // namespace sb
