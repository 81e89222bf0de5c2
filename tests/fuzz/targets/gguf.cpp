// GGUF files: the header and metadata, the tokenizer built from its metadata (then
// used on a little text) and the model config and weights bound from it. Any bytes
// give a model or a Status, never a crash or an allocation out of proportion.
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "formats/tokenizer_data.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int gguf(const uint8_t* data, size_t size) {
  const MemFile file(as_text(data, size));
  auto f = gguf::File::open(file.path());
  if (!f.ok()) return 0;
  for (const auto& [key, value] : f->metadata()) {  // every array element decodes
    if (value.type != gguf::ValueType::kArray) continue;
    const gguf::Array& a = std::get<gguf::Array>(value.v);
    for (uint64_t i = 0; i < a.n && i < 64; ++i) (void)gguf::array_element(value, i);
  }
  auto tok_data = tokenizer_data_from_gguf(*f);
  if (tok_data.ok()) {
    auto tok = Tokenizer::from_data(std::move(tok_data).value());
    if (tok.ok()) {
      const std::vector<int32_t> ids = (*tok)->encode("Hello wörld <s> 12  \n\t\xff!", true);
      for (int32_t id : ids) FUZZ_CHECK(id >= 0 && id < (*tok)->n_vocab(), "encode gives vocabulary ids");
      (void)(*tok)->decode(ids);
    }
  }
  (void)load_model(file.path());
  return 0;
}

}  // namespace sb::fuzz
