// cli/reorder_window.h in-process: lines completed in any order come out in
// admission order; an empty line (its error went to --errors) releases its slot
// silently; the window holds at most `capacity` admitted records, so admission
// waits; slots wrap around the ring. Checked against a shuffled reference order.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "cli/reorder_window.h"

TEST_CASE("reorder window: input order out of any completion order, bounded, empty lines skipped") {
  for (const size_t capacity : {size_t{1}, size_t{3}, size_t{17}}) {
    CAPTURE(capacity);
    sb::cli::ReorderWindow w(capacity);
    std::mt19937 rng(static_cast<unsigned>(capacity));
    std::vector<uint64_t> open;  // admitted, not completed
    std::vector<std::string> written;
    uint64_t n_admitted = 0;
    while (n_admitted < 100 || !open.empty()) {
      while (n_admitted < 100 && w.has_room()) {
        CHECK(w.admit() == n_admitted++);
        open.push_back(n_admitted - 1);
      }
      CHECK(open.size() <= capacity);
      std::shuffle(open.begin(), open.end(), rng);
      const uint64_t slot = open.back();
      open.pop_back();
      w.complete(slot, slot % 5 == 4 ? std::string() : std::to_string(slot));
      while (std::optional<std::string> line = w.pop()) written.push_back(*line);
    }
    CHECK(w.empty());
    std::vector<std::string> expected;
    for (uint64_t i = 0; i < 100; ++i)
      if (i % 5 != 4) expected.push_back(std::to_string(i));
    CHECK(written == expected);
  }
}
