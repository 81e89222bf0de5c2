// Prompt/context lookup drafting, no model: the most recent earlier occurrence
// of the request's last n tokens (n = n_max down to n_min) is assumed to repeat,
// and the tokens that followed it are proposed (a copy that may run into its own
// output, so loops continue). q is one-hot. A token's raw confidence is the
// share, Laplace-smoothed, of the other occurrences whose continuation agrees
// with the proposal up to that token, given it agreed up to the one before.
#pragma once

#include <vector>

#include "core/spec/drafter.h"

namespace sb {

class NgramDrafter : public Drafter {
 public:
  // 1 <= n_min <= n_max; max_k bounds k in propose().
  NgramDrafter(int n_min, int n_max, int max_k);
  // Stateless and cheap: drafts k tokens whatever `stop` says.
  Status propose(std::span<const DraftRequest> requests, const DraftStop& stop) override;
  void release(uint64_t) override {}

 private:
  void propose_one(std::span<const int32_t> tokens, int k, Draft* out);
  int n_min_;
  int n_max_;
  std::vector<int32_t> proposal_;  // [max_k]
  std::vector<int32_t> agree_;  // [max_k + 1] occurrences agreeing with the first j proposed tokens
};

}  // namespace sb
