// IndexSet: insert and duplicates, union, missing ranges and their compact text.
#include <doctest/doctest.h>

#include "formats/index_set.h"

TEST_CASE("IndexSet: insert, duplicates, missing ranges formatted compactly") {
  sb::IndexSet s;
  for (uint64_t i : {0, 1, 2, 5, 9, 10, 200}) CHECK(s.insert(i));
  CHECK_FALSE(s.insert(5));
  CHECK(s.size() == 7);
  CHECK(s.contains(200));
  CHECK_FALSE(s.contains(201));
  CHECK_FALSE(s.contains(1u << 30));
  const auto ranges = s.missing_ranges(13);
  REQUIRE(ranges.size() == 3);
  CHECK(sb::format_index_ranges(ranges) == "3-4, 6-8, 11-12");
  CHECK(sb::format_index_ranges(s.missing_ranges(7), 1) == "3-4, ... (1 more ranges)");
  CHECK(s.missing_ranges(3).empty());
  sb::IndexSet t;
  for (uint64_t i : {3, 5, 1000}) t.insert(i);
  s.insert_all(t);
  CHECK(s.size() == 9);
  CHECK(s.contains(3));
  CHECK(s.contains(1000));
}
