// One request's LogitPenalties (core/request.h) at work inside the engine: the
// transform of its logit rows given the tokens so far. It is part of the
// target's distribution, so the engine applies it to every verified row and
// the drafters to every draft row (it is a DraftRule), each counting the draft
// tokens before that row as generated: draft q and target p are transformed
// alike and speculation stays lossless. Counts are kept incrementally, so a
// row costs O(distinct tokens so far + logit_bias + draft), never a rescan.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/request.h"
#include "core/spec/drafter.h"

namespace sb {

class PenaltyRule : public DraftRule {
 public:
  // end_ids: the tokens min_tokens holds back (EOS unless ignore_eos, and the
  // request's stop_token_ids). Keeps a reference to params; ids must be in [0, n_vocab).
  PenaltyRule(const LogitPenalties& params, std::span<const int32_t> prompt, std::vector<int32_t> end_ids,
              int n_vocab);

  // DraftRule: transforms the row after the generated tokens and `drafted`.
  bool mask(std::span<const int32_t> drafted, float* logits, int n_vocab) override;
  // Draft tokens up to the first end token min_tokens forbids there.
  int valid_prefix(std::span<const int32_t> tokens) override;
  // Transforms logit rows 0..draft.size() (row j: after draft tokens 0..j-1).
  void transform_rows(float* logits, std::span<const int32_t> draft);
  // Counts an emitted token as generated.
  void advance(int32_t token);

 private:
  // The transform of one row, with count_ holding the tokens before it.
  void transform(float* logits, int n_generated) const;
  bool is_end(int32_t token) const;
  // Counts a token as generated, and takes that back (the latest first).
  void count(int32_t token);
  void uncount(int32_t token);

  const LogitPenalties& params_;
  std::vector<int32_t> end_ids_;
  int n_vocab_;
  bool counts_ = false;             // a penalty reads the counts below
  int n_generated_ = 0;
  std::vector<int32_t> count_;      // [n_vocab] generated occurrences, when counts_
  std::vector<uint8_t> in_prompt_;  // [n_vocab] when counts_
  std::vector<int32_t> seen_;       // distinct tokens of the prompt, then the new ones of the output
};

}  // namespace sb
