// safetensors files: the JSON header, every tensor's bounds, and its 2-D view.
#include "formats/safetensors.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int safetensors(const uint8_t* data, size_t size) {
  const MemFile file(as_text(data, size));
  auto set = safetensors::TensorSet::open_file(file.path());
  if (!set.ok()) return 0;
  for (const safetensors::TensorInfo& t : set->tensors()) {
    for (int64_t d : t.shape) FUZZ_CHECK(d >= 0, "shape dimensions are not negative");
    (void)set->view(t.name);
  }
  return 0;
}

}  // namespace sb::fuzz
