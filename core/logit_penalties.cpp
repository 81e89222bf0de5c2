#include "core/logit_penalties.h"

#include <algorithm>
#include <limits>

namespace sb {

PenaltyRule::PenaltyRule(const LogitPenalties& params, std::span<const int32_t> prompt, std::vector<int32_t> end_ids,
                         int n_vocab)
    : params_(params), end_ids_(std::move(end_ids)), n_vocab_(n_vocab) {
  counts_ = params.repetition_penalty != 1.0f || params.presence_penalty != 0.0f || params.frequency_penalty != 0.0f;
  if (!counts_) return;
  count_.assign(static_cast<size_t>(n_vocab), 0);
  in_prompt_.assign(static_cast<size_t>(n_vocab), 0);
  for (int32_t t : prompt) {
    uint8_t& in = in_prompt_[static_cast<size_t>(t)];
    if (!in) seen_.push_back(t);
    in = 1;
  }
}

void PenaltyRule::transform(float* logits, int n_generated) const {
  for (const auto& [id, bias] : params_.logit_bias) logits[id] += bias;
  if (n_generated < params_.min_tokens)
    for (int32_t id : end_ids_) logits[id] = -std::numeric_limits<float>::infinity();
  if (!counts_) return;
  const float rep = params_.repetition_penalty;
  const float presence = params_.presence_penalty, frequency = params_.frequency_penalty;
  for (int32_t t : seen_) {
    float& l = logits[t];
    if (rep != 1.0f) l = l > 0 ? l / rep : l * rep;
    const int32_t c = count_[static_cast<size_t>(t)];
    if (c > 0) l -= presence + frequency * static_cast<float>(c);
  }
}

bool PenaltyRule::is_end(int32_t token) const {
  return std::find(end_ids_.begin(), end_ids_.end(), token) != end_ids_.end();
}

void PenaltyRule::count(int32_t token) {
  if (!counts_) return;
  const size_t t = static_cast<size_t>(token);
  if (count_[t]++ == 0 && !in_prompt_[t]) seen_.push_back(token);
}

void PenaltyRule::uncount(int32_t token) {
  if (!counts_) return;
  const size_t t = static_cast<size_t>(token);
  if (--count_[t] == 0 && !in_prompt_[t]) seen_.pop_back();  // it was the latest newcomer
}

bool PenaltyRule::mask(std::span<const int32_t> drafted, float* logits, int n_vocab) {
  SB_CHECK(n_vocab == n_vocab_);
  for (int32_t t : drafted) count(t);
  transform(logits, n_generated_ + static_cast<int>(drafted.size()));
  for (auto t = drafted.rbegin(); t != drafted.rend(); ++t) uncount(*t);
  return true;
}

int PenaltyRule::valid_prefix(std::span<const int32_t> tokens) {
  const int n = static_cast<int>(tokens.size());
  for (int j = 0; j < n && n_generated_ + j < params_.min_tokens; ++j)
    if (is_end(tokens[static_cast<size_t>(j)])) return j;
  return n;
}

void PenaltyRule::transform_rows(float* logits, std::span<const int32_t> draft) {
  const size_t n = draft.size();
  for (size_t j = 0;; ++j) {
    transform(logits + j * static_cast<size_t>(n_vocab_), n_generated_ + static_cast<int>(j));
    if (j == n) break;
    count(draft[j]);
  }
  for (size_t j = n; j-- > 0;) uncount(draft[j]);
}

void PenaltyRule::advance(int32_t token) {
  count(token);
  ++n_generated_;
}

}  // namespace sb
