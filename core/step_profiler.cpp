#include "core/step_profiler.h"

#include <algorithm>
#include <cmath>

#include "core/base/status.h"

namespace sb {

StepProfiler::StepProfiler(int most) : most_(most) { SB_CHECK(most >= 1); }

bool StepProfiler::again(int runs, double best) const {
  return runs < 1 || (runs < 2 && (points_.empty() || best < kLongStep));
}

void StepProfiler::add(int tokens, double seconds) {
  SB_CHECK(next_ > 0);
  points_.emplace_back(tokens, std::max(seconds, 1e-9));
  next_ = next_ == most_ || seconds >= kLongStep || curve_clear() ? 0 : std::min(2 * next_, most_);
}

bool StepProfiler::curve_clear() const {
  if (points_.size() < 3) return false;
  const auto& [n0, t0] = points_[points_.size() - 3];
  const auto& [n1, t1] = points_[points_.size() - 2];
  const auto& [n2, t2] = points_.back();
  const double s1 = (t1 - t0) / (n1 - n0), s2 = (t2 - t1) / (n2 - n1);
  return s2 > 0 && std::abs(s2 - s1) <= 0.1 * s2 && s2 * n2 >= 0.5 * t2;
}

}  // namespace sb
