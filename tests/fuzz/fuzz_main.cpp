// A libFuzzer binary for one target of fuzz_targets.h: SPECBATCH_FUZZ_TARGET names it
// (tests/fuzz/CMakeLists.txt builds one binary per target).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_targets.h"

// One empty input before fuzzing starts, so what a target loads once (the
// round-trip target's tokenizers) is not charged to the first input's -timeout.
// Its pointer is not null, as libFuzzer's inputs never are (simdjson copies from
// it with memcpy, which must not be given null even for 0 bytes).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  static const uint8_t empty[1] = {0};
  return sb::fuzz::SPECBATCH_FUZZ_TARGET(empty, 0);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return sb::fuzz::SPECBATCH_FUZZ_TARGET(data, size);
}
