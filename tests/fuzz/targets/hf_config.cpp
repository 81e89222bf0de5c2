// Hugging Face config.json and generation_config.json text, the model config made
// from it (with its checks), and the DSpark fields.
#include "core/model/weight_binder.h"
#include "formats/hf_config.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int hf_config(const uint8_t* data, size_t size) {
  const std::string_view json = as_text(data, size);
  (void)hf::parse_dspark_config(json, "config.json");
  auto j = hf::parse_model_config(json, "config.json");
  if (!j.ok()) return 0;
  (void)hf::merge_generation_config(json, "generation_config.json", &*j);
  ModelConfig c;
  if (hf_model_config(*j, "config.json", &c).ok()) (void)check_model_config(c, "config.json");
  return 0;
}

}  // namespace sb::fuzz
