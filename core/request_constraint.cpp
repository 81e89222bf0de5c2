#include "core/request_constraint.h"

#include <algorithm>
#include <limits>

namespace sb {

void mask_logits(float* logits, int n_vocab, std::span<const uint64_t> allowed) {
  constexpr float kNegInf = -std::numeric_limits<float>::infinity();
  for (size_t w = 0; w < allowed.size(); ++w) {
    const uint64_t bits = allowed[w];
    if (bits == ~uint64_t{0}) continue;
    const int base = static_cast<int>(w * 64), n = std::min(64, n_vocab - base);
    for (int b = 0; b < n; ++b)
      if (!((bits >> b) & 1)) logits[base + b] = kNegInf;
  }
}

RequestConstraint::RequestConstraint(std::shared_ptr<const constrain::Constraint> constraint,
                                     std::span<const int32_t> stop_token_ids, bool drop_leading_space)
    : constraint_(std::move(constraint)),
      matcher_(constraint_->tables),
      stop_ids_(stop_token_ids.begin(), stop_token_ids.end()),
      drop_leading_space_(drop_leading_space),
      mask_(static_cast<size_t>(constraint_->tables->n_words())) {}

bool RequestConstraint::fill() {
  matcher_.fill_mask(mask_);
  const int n_vocab = constraint_->tables->vocabulary().n_vocab();
  const bool done = matcher_.is_complete();
  for (int32_t id : stop_ids_) {
    if (id >= n_vocab) continue;
    const uint64_t bit = uint64_t{1} << (id & 63);
    uint64_t& word = mask_[static_cast<size_t>(id) >> 6];
    word = done ? word | bit : word & ~bit;
  }
  if (drop_leading_space_ && matcher_.n_tokens() == 0)
    for (int32_t id : constraint_->tables->vocabulary().starting_with(' '))
      mask_[static_cast<size_t>(id) >> 6] &= ~(uint64_t{1} << (id & 63));
  return std::any_of(mask_.begin(), mask_.end(), [](uint64_t w) { return w != 0; });
}

void RequestConstraint::leave_draft() {
  matcher_.rollback(static_cast<int>(drafted_.size()));
  drafted_.clear();
}

bool RequestConstraint::mask(std::span<const int32_t> drafted, float* logits, int n_vocab) {
  size_t common = 0;
  while (common < drafted_.size() && common < drafted.size() && drafted_[common] == drafted[common]) ++common;
  matcher_.rollback(static_cast<int>(drafted_.size() - common));
  drafted_.resize(common);
  for (size_t i = common; i < drafted.size(); ++i) {
    if (!matcher_.advance(drafted[i])) return false;  // a token the drafter drew without this rule
    drafted_.push_back(drafted[i]);
  }
  if (!fill()) return false;
  mask_logits(logits, n_vocab, mask_);
  return true;
}

int RequestConstraint::valid_prefix(std::span<const int32_t> tokens) {
  leave_draft();
  int n = 0;
  while (n < static_cast<int>(tokens.size()) && fill() && allowed(tokens[static_cast<size_t>(n)]) &&
         matcher_.advance(tokens[static_cast<size_t>(n)]))
    ++n;
  matcher_.rollback(n);
  return n;
}

StatusOr<int> RequestConstraint::mask_rows(float* logits, int n_vocab, const Draft* draft, int n_draft, Draft* masked) {
  leave_draft();
  masked->clear();
  int keep = n_draft, advanced = 0;
  for (int j = 0; j <= n_draft; ++j) {
    if (!fill()) {
      matcher_.rollback(advanced);
      if (j == 0) return out_of_range("no token of the vocabulary continues the constrained text");
      keep = j - 1;  // draft token j - 1 leads where nothing continues
      masked->truncate(keep);
      return keep;
    }
    mask_logits(logits + static_cast<size_t>(j) * static_cast<size_t>(n_vocab), n_vocab, mask_);
    if (j == n_draft) break;
    const int32_t token = draft->tokens[static_cast<size_t>(j)];
    if (!allowed(token)) {
      keep = j;
      break;
    }
    // q restricted to the allowed tokens: how the draft would have drawn under the constraint.
    q_.clear();
    double mass = 0;
    for (const Sampler::Candidate& c : draft->q_of(j))
      if (allowed(c.id)) {
        q_.push_back(c);
        mass += c.p;
      }
    SB_CHECK_MSG(mass > 0, "a draft token outside its own q");
    for (Sampler::Candidate& c : q_) c.p = static_cast<float>(c.p / mass);
    masked->push(token, draft->confidence[static_cast<size_t>(j)], q_);
    SB_CHECK(matcher_.advance(token));
    ++advanced;
  }
  matcher_.rollback(advanced);
  return keep;
}

void RequestConstraint::advance(int32_t token) {
  leave_draft();
  if (std::find(stop_ids_.begin(), stop_ids_.end(), token) != stop_ids_.end()) return;  // it ends the request
  SB_CHECK_MSG(matcher_.advance(token), "an emitted token the constraint's mask did not allow");
}

}  // namespace sb
