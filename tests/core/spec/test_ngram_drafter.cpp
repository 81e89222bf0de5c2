// The n-gram drafter: the continuation of the most recent earlier occurrence
// of the longest matching n-gram, with one-hot q and smoothed agreement as its
// confidence.
#include <doctest/doctest.h>

#include <vector>

#include "core/model/model_config.h"
#include "core/spec/drafter.h"
#include "core/spec/ngram_drafter.h"
#include "core/spec/spec_test_util.h"

TEST_CASE("ngram drafter: the most recent match's continuation, longest n first, running into itself") {
  sb::NgramDrafter d(2, 3, 8);
  sb::Draft out;
  out.reserve_one_hot(8);
  const sb::SamplingParams greedy{0.0f, 1.0f, 0, 0.0f, 0};
  const auto propose = [&](const std::vector<int32_t>& tokens, int k) {
    const sb::DraftRequest r{0, tokens, k, &greedy, 0, &out};
    REQUIRE(d.propose(std::span<const sb::DraftRequest>(&r, 1), sb::DraftStop{}).ok());
  };
  // ... 1 2 3 [7 8] ... 1 2 3 [9] ... 1 2 3: the latest occurrence of 1 2 3 wins.
  propose({1, 2, 3, 7, 8, 5, 1, 2, 3, 9, 4, 1, 2, 3}, 3);
  REQUIRE(out.size() == 3);
  CHECK(out.tokens == std::vector<int32_t>{9, 4, 1});
  CHECK(out.q_of(0).size() == 1);
  CHECK(out.q_of(0)[0].id == 9);
  CHECK(out.q_of(0)[0].p == 1.0f);
  // One older occurrence disagrees with 9: confidence (0 + 1) / (1 + 2).
  CHECK(out.confidence[0] == doctest::Approx(1.0 / 3));
  // No 3-gram match, a 2-gram one: 5 6 | 5 6 -> proposes 5 6 5 6 (a loop).
  propose({5, 6, 5, 6}, 4);
  CHECK(out.tokens == std::vector<int32_t>{5, 6, 5, 6});
  // Nothing repeats: an empty draft.
  propose({1, 2, 3, 4}, 4);
  CHECK(out.size() == 0);
  const sb::DrafterLimits limits;
  sb::ModelConfig target;
  target.n_vocab = 512;
  CHECK(sb::make_drafter(sb::test::draft_spec("ngram:4"), limits, nullptr, nullptr, target).ok());
  // A model spec without its loaded model is an error, not a crash.
  CHECK(!sb::make_drafter(sb::test::draft_spec("self:q8_0"), limits, nullptr, nullptr, target).ok());
}
