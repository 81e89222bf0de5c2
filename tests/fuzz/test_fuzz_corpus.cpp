// Every seed and every crash input found by fuzzing (tests/fuzz/corpus/NAME,
// tests/fuzz/regressions/NAME) through the same entry as the libFuzzer binary for
// NAME, in the normal suite (and under ASan + UBSan): a fixed defect stays fixed
// without clang. A failed property aborts; the input's path is logged first.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"

TEST_CASE("fuzz seeds and crash inputs pass through every target") {
  namespace fs = std::filesystem;
  for (const sb::fuzz::Target& target : sb::fuzz::kTargets) {
    size_t n_inputs = 0;
    for (const char* kind : {"corpus", "regressions"}) {
      const fs::path dir = fs::path(SPECBATCH_FUZZ_DIR) / kind / target.name;
      if (!fs::exists(dir)) continue;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const fs::path& file : files) {
        CAPTURE(file.string());
        std::ifstream in(file, std::ios::binary);
        const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK(target.run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
        ++n_inputs;
      }
    }
    MESSAGE(std::string(target.name) << ": " << n_inputs << " inputs");
    CHECK_MESSAGE(n_inputs > 0, std::string(target.name) << " has no seed corpus");
  }
}
