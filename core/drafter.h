// Drafters for speculative decoding (DESIGN.md section 7): given a request's
// tokens so far, propose up to k continuation tokens, each with the draft
// distribution q it was drawn from (one-hot for model-free drafters) and a raw,
// uncalibrated confidence that the target accepts it. Proposing allocates
// nothing once the Draft was reserved for k tokens; an empty draft is normal.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/sampler.h"
#include "core/status.h"

namespace sb {

// Up to k proposed tokens. Token j's q is q[q_begin[j], q_begin[j + 1]): candidates
// with p summing to 1, including tokens[j] with p > 0.
struct Draft {
  std::vector<int32_t> tokens;            // [n]
  std::vector<float> confidence;          // [n] raw, in (0, 1)
  std::vector<Sampler::Candidate> q;      // [sum of the per-token candidate counts]
  std::vector<int32_t> q_begin;           // [n + 1]

  int size() const { return static_cast<int>(tokens.size()); }
  std::span<const Sampler::Candidate> q_of(int j) const {
    return std::span<const Sampler::Candidate>(q).subspan(static_cast<size_t>(q_begin[static_cast<size_t>(j)]),
                                                          static_cast<size_t>(q_begin[static_cast<size_t>(j) + 1] -
                                                                              q_begin[static_cast<size_t>(j)]));
  }
  // Sizes the buffers for k one-hot tokens and empties the draft.
  void reserve_one_hot(int k);
  void clear();
  // Appends a token whose q is one-hot.
  void push_one_hot(int32_t token, float confidence);
};

class Drafter {
 public:
  virtual ~Drafter() = default;
  // Replaces *out with at most k tokens that may follow `tokens` (prompt +
  // generated so far, non-empty).
  virtual void propose(std::span<const int32_t> tokens, int k, Draft* out) = 0;
};

// The drafter a --draft value names: "ngram" or "ngram:N" (n-gram lookup,
// longest n tried N, default 3). max_k bounds k in propose().
StatusOr<std::unique_ptr<Drafter>> make_drafter(const std::string& spec, int max_k);

}  // namespace sb
