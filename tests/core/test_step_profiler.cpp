// core/step_profiler.h on synthetic cost curves (no clock): the sizes it asks
// for, when it stops growing, how often it times each size, and that StepCost's
// extrapolation of what it kept prices the sizes it skipped.
#include <doctest/doctest.h>

#include <functional>
#include <utility>
#include <vector>

#include "core/spec/confidence_policy.h"
#include "core/step_profiler.h"

namespace {

// Drives the profiler over `cost` (seconds by size) as profile_forward does;
// `runs` gets how often each size was timed.
std::vector<std::pair<int, double>> profile(int most, const std::function<double(int)>& cost,
                                            std::vector<int>* runs = nullptr) {
  sb::StepProfiler p(most);
  for (int b; (b = p.next()) > 0;) {
    double best = 0;
    int rep = 0;
    for (; p.again(rep, best); ++rep) best = cost(b);
    if (runs != nullptr) runs->push_back(rep);
    p.add(b, best);
  }
  return p.points();
}

std::vector<int> sizes(const std::vector<std::pair<int, double>>& points) {
  std::vector<int> s;
  for (const auto& pt : points) s.push_back(pt.first);
  return s;
}

}  // namespace

TEST_CASE("step profiler: stops once the per-token line dominates; StepCost extrapolates it") {
  const auto affine = [](int n) { return 0.01 + 0.001 * n; };  // per-token part = fixed part at 10 tokens
  const auto points = profile(512, affine);
  CHECK(sizes(points) == std::vector<int>{1, 2, 4, 8, 16});
  const sb::StepCost cost(points);
  for (int n : {16, 100, 512}) CHECK(cost.seconds(n) == doctest::Approx(affine(n)));
}

TEST_CASE("step profiler: a flat curve (memory-bound) is measured up to the limit") {
  CHECK(sizes(profile(64, [](int) { return 0.02; })) == std::vector<int>{1, 2, 4, 8, 16, 32, 64});
  CHECK(sizes(profile(48, [](int) { return 0.02; })) == std::vector<int>{1, 2, 4, 8, 16, 32, 48});
  CHECK(sizes(profile(1, [](int) { return 0.02; })) == std::vector<int>{1});
}

TEST_CASE("step profiler: a knee is measured past, not extrapolated from the flat part") {
  // Flat to 32 tokens, then 1 ms per token beyond.
  const auto knee = [](int n) { return n <= 32 ? 0.02 : 0.02 + 0.001 * (n - 32); };
  const auto points = profile(512, knee);
  CHECK(points.back().first >= 128);
  CHECK(sb::StepCost(points).seconds(512) == doctest::Approx(knee(512)));
}

TEST_CASE("step profiler: two runs per size, one once a step is long, and a long step ends the grid") {
  std::vector<int> runs;
  const auto points = profile(512, [](int n) { return n * 0.1; }, &runs);
  // 0.1 s: twice (the first size always is); 0.2 s: twice; 0.4 s >= kLongStep: once, and the last.
  CHECK(sizes(points) == std::vector<int>{1, 2, 4});
  CHECK(runs == std::vector<int>{2, 2, 1});
  runs.clear();
  profile(4, [](int) { return 1.0; }, &runs);
  CHECK(runs == std::vector<int>{2});
}
