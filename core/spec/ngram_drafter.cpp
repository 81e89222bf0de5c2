#include "core/spec/ngram_drafter.h"

#include <algorithm>

#include "core/base/status.h"

namespace sb {

NgramDrafter::NgramDrafter(int n_min, int n_max, int max_k) : n_min_(n_min), n_max_(n_max) {
  proposal_.reserve(static_cast<size_t>(max_k));
  SB_CHECK(1 <= n_min && n_min <= n_max && max_k >= 0);
  agree_.resize(static_cast<size_t>(max_k) + 1);
}

namespace {
// tokens[a, a + n) == tokens[b, b + n)
bool same(std::span<const int32_t> tokens, size_t a, size_t b, size_t n) {
  return std::equal(tokens.begin() + static_cast<long>(a), tokens.begin() + static_cast<long>(a + n),
                    tokens.begin() + static_cast<long>(b));
}
}  // namespace

Status NgramDrafter::propose(std::span<const DraftRequest> requests, const DraftStop&) {
  for (const DraftRequest& r : requests) propose_one(r.tokens, r.k, r.out);
  return ok_status();
}

void NgramDrafter::propose_one(std::span<const int32_t> tokens, int k, Draft* out) {
  SB_CHECK(k + 1 <= static_cast<int>(agree_.size()) && !tokens.empty());
  out->clear();
  if (k <= 0) return;
  const size_t len = tokens.size();
  for (int n = n_max_; n >= n_min_; --n) {
    const size_t un = static_cast<size_t>(n);
    if (len < un + 1) continue;
    const size_t suffix = len - un;
    // The most recent earlier occurrence: it starts before the suffix does.
    size_t src = suffix;
    for (size_t i = suffix; i-- > 0;)
      if (same(tokens, i, suffix, un)) {
        src = i;
        break;
      }
    if (src == suffix) continue;
    // The continuation, read from the tokens and then from itself.
    proposal_.clear();
    for (size_t j = 0; j < static_cast<size_t>(k); ++j) {
      const size_t s = src + un + j;
      proposal_.push_back(s < len ? tokens[s] : proposal_[s - len]);
    }
    // Hit statistics over the older occurrences.
    std::fill(agree_.begin(), agree_.begin() + k + 1, 0);
    for (size_t i = src; i-- > 0;) {
      if (!same(tokens, i, suffix, un)) continue;
      ++agree_[0];
      for (size_t j = 0; j < static_cast<size_t>(k) && i + un + j < len && tokens[i + un + j] == proposal_[j]; ++j)
        ++agree_[j + 1];
    }
    for (size_t j = 0; j < static_cast<size_t>(k); ++j)
      out->push_one_hot(proposal_[j], static_cast<float>(agree_[j + 1] + 1) / static_cast<float>(agree_[j] + 2));
    return;
  }
}

}  // namespace sb
