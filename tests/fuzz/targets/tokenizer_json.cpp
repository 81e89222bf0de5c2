// tokenizer.json text (its first line may instead be a tokenizer_config.json,
// separated by a line "----"): parsed, built into a Tokenizer, and used on text.
#include "core/tokenizer/tokenizer.h"
#include "formats/tokenizer_data.h"
#include "formats/tokenizer_json.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int tokenizer_json(const uint8_t* data, size_t size) {
  std::string_view json = as_text(data, size), config;
  if (const size_t cut = json.find("\n----\n"); cut != std::string_view::npos) {
    config = json.substr(0, cut);
    json.remove_prefix(cut + 6);
  }
  auto parsed = parse_tokenizer_json(json, config, "tokenizer.json");
  if (!parsed.ok()) return 0;
  auto tok = Tokenizer::from_data(std::move(parsed).value());
  if (!tok.ok()) return 0;
  for (std::string_view text : {std::string_view("Hello wörld, 12  3!\n<|im_start|>x"), json.substr(0, 64)}) {
    const std::vector<int32_t> ids = (*tok)->encode(text, true);
    for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < (*tok)->n_vocab(), "encode gives vocabulary ids");
    (void)(*tok)->decode(ids);
  }
  return 0;
}

}  // namespace sb::fuzz
