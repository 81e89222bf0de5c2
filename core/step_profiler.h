// Which sizes a start-up step-cost profile times, and how often, so that it
// costs seconds rather than minutes: sizes 1, 2, 4, ... up to a limit, smallest
// first, each timed twice keeping the faster (once when the step is long, its
// noise being small next to it; the first size always twice, its first run also
// paging the weights in). Growing stops once the curve is clear: the last three
// points on one line (their two slopes within 10%) whose per-token part is at
// least half the step, or a step of kLongStep or more; beyond the last point,
// StepCost extrapolates the last two points' line.
#pragma once

#include <utility>
#include <vector>

namespace sb {

class StepProfiler {
 public:
  static constexpr double kLongStep = 0.25;  // seconds

  explicit StepProfiler(int most);  // sizes up to most (>= 1)
  // The next size to time; 0 when done.
  int next() const { return next_; }
  // Whether to time next() once more after `runs` runs, the fastest `best` seconds.
  bool again(int runs, double best) const;
  // Records next()'s fastest time as the point (tokens, seconds) (tokens may be
  // the size times a fixed factor) and moves on.
  void add(int tokens, double seconds);
  const std::vector<std::pair<int, double>>& points() const { return points_; }

 private:
  bool curve_clear() const;
  int most_;
  int next_ = 1;
  std::vector<std::pair<int, double>> points_;
};

}  // namespace sb
