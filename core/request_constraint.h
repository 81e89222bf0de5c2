// A generation request's output constraint inside the engine (core/engine.h):
// its matcher, advanced with every emitted token, and the per-step work on
// the target's logit rows. Draft tokens are kept up to the first one the
// grammar refuses; every verified row is masked (disallowed tokens -inf) and
// each kept draft token's q restricted to the allowed tokens and renormalised,
// so the lossless rule compares the constrained target with the draft as it
// would have drawn under the same constraint. End tokens (EOS, the request's
// stop_token_ids) are allowed exactly when the text is complete.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/base/status.h"
#include "core/constrain/constraint.h"
#include "core/constrain/matcher.h"
#include "core/spec/drafter.h"

namespace sb {

// Sets logits[t] = -inf for every t whose bit is clear in `allowed`.
void mask_logits(float* logits, int n_vocab, std::span<const uint64_t> allowed);

class RequestConstraint : public DraftRule {
 public:
  // drop_leading_space: the detokenizer drops a leading space of the first
  // generated token (Tokenizer::drops_leading_space), so that token may not
  // start with one: the text must be what the grammar read.
  RequestConstraint(std::shared_ptr<const constrain::Constraint> constraint, std::span<const int32_t> stop_token_ids,
                    bool drop_leading_space);

  // DraftRule: the mask after the emitted tokens and `drafted`. The matcher
  // follows the draft (its moves undone before anything below).
  bool mask(std::span<const int32_t> drafted, float* logits, int n_vocab) override;
  // How many leading draft tokens the grammar accepts in turn.
  int valid_prefix(std::span<const int32_t> tokens) override;
  // Masks logit rows 0..n_draft (row j: the position after draft tokens
  // 0..j-1) and returns how many draft tokens stay: fewer where a token is not
  // allowed or leads where nothing is. *masked gets those tokens with their q
  // restricted to the allowed tokens. kOutOfRange when row 0 allows nothing
  // (the vocabulary cannot continue the text).
  StatusOr<int> mask_rows(float* logits, int n_vocab, const Draft* draft, int n_draft, Draft* masked);
  // Advances over an emitted token, which the last mask allowed.
  void advance(int32_t token);
  // The text so far is a whole match of the grammar.
  bool complete() const { return matcher_.is_complete(); }
  const constrain::Constraint& constraint() const { return *constraint_; }

 private:
  // The allowed tokens now, into mask_; false when there are none.
  bool fill();
  // Undoes the matcher's moves along a draft (mask()).
  void leave_draft();
  bool allowed(int32_t token) const { return (mask_[static_cast<size_t>(token) >> 6] >> (token & 63)) & 1; }

  std::shared_ptr<const constrain::Constraint> constraint_;
  constrain::Matcher matcher_;
  std::vector<int32_t> stop_ids_;
  bool drop_leading_space_;
  std::vector<uint64_t> mask_;          // [n_words]
  std::vector<Sampler::Candidate> q_;   // scratch: one draft token's restricted q
  std::vector<int32_t> drafted_;        // the draft tokens the matcher has advanced over (mask())
};

}  // namespace sb
