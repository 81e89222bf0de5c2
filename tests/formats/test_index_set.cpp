// IndexSet: insert and duplicates, union, missing ranges and their compact text.
#include <doctest/doctest.h>

#include <random>
#include <set>

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

TEST_CASE("IndexSet: sparse at the extremes (issue 22, item 1: a hostile index cost memory its size)") {
  sb::IndexSet s;
  CHECK(s.insert(UINT64_MAX));
  CHECK(s.insert(0));
  CHECK(s.insert(UINT64_MAX - 1));
  CHECK_FALSE(s.insert(UINT64_MAX));
  CHECK(s.size() == 3);
  CHECK(s.max() == UINT64_MAX);
  CHECK(s.contains(UINT64_MAX - 1));
  CHECK_FALSE(s.contains(UINT64_MAX - 2));
  CHECK(sb::format_index_ranges(s.missing_ranges(5)) == "1-4");
  CHECK(s.missing_ranges(UINT64_MAX).size() == 1);  // [1, UINT64_MAX - 1)
  CHECK(sb::IndexSet().max() == std::nullopt);
}

TEST_CASE("IndexSet: random inserts and unions agree with std::set") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 50; ++round) {
    sb::IndexSet a, b;
    std::set<uint64_t> ra, rb;
    const uint64_t span = 1 + rng() % 300;
    for (int i = 0; i < 200; ++i) {
      const uint64_t x = rng() % span, y = rng() % span;
      CHECK(a.insert(x) == ra.insert(x).second);
      b.insert(y);
      rb.insert(y);
    }
    a.insert_all(b);
    ra.insert(rb.begin(), rb.end());
    REQUIRE(a.size() == ra.size());
    std::vector<std::pair<uint64_t, uint64_t>> missing;
    for (uint64_t x = 0; x < span + 2; ++x) {
      CHECK(a.contains(x) == (ra.count(x) == 1));
      if (ra.count(x) == 0) {
        if (!missing.empty() && missing.back().second == x) missing.back().second = x + 1;
        else missing.emplace_back(x, x + 1);
      }
    }
    CHECK(a.missing_ranges(span + 2) == missing);
  }
}

TEST_CASE("IndexSet of a shard: holds only its indices, as compactly as a whole run") {
  sb::IndexSet s(3, 1);  // shard 1/3: 1, 4, 7, ...
  CHECK(s.is_prefix());
  CHECK(s.admits(4));
  CHECK_FALSE(s.admits(5));
  for (uint64_t i = 1; i < 3000; i += 3) CHECK(s.insert(i));
  CHECK(s.size() == 1000);
  CHECK(s.is_prefix());
  CHECK(s.contains(2998));
  CHECK_FALSE(s.contains(2999));
  CHECK_FALSE(s.contains(3001));
  CHECK(s.max() == 2998);
  CHECK_FALSE(s.insert(1));
  CHECK(s.insert(3004));  // a gap at 3001
  CHECK_FALSE(s.is_prefix());
  sb::IndexSet t(3, 1);
  t.insert(3001);
  s.insert_all(t);
  CHECK(s.is_prefix());
  CHECK(s.size() == 1002);
}
