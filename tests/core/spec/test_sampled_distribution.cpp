// Sampled speculative output follows the target's distribution: the first two
// tokens of 3000 records, drafted by ngram, self:q4_0 and a DSpark drafter
// under each policy, against their exact joint distribution (chi-square).
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/sampler.h"
#include "core/tokenizer/tokenizer.h"
#include "core/spec/spec_test_util.h"

namespace {

using sb::test::draft_model;
using sb::test::target_logits;
using sb::test::fits;
using sb::test::kStories;
using sb::test::load;
using sb::test::Loaded;
using sb::test::run_engine;
using sb::test::with_draft;
using sb::test::write_dspark_for;
using Run = sb::test::EngineRun;

// Repeats itself, so the n-gram drafter proposes; the target accepts only some.
const char* const kSampledPrompt = "Tom had a big dog. The dog was happy. Tom had a big";
const sb::SpecPolicy kPolicies[] = {sb::SpecPolicy::kFixed, sb::SpecPolicy::kConfidence};

// Key of a (first, second) token pair; first tokens too rare to matter are one cell.
int pair_key(int t1, int t2, int n_vocab, const std::map<int, double>& p1, int n) {
  return p1.at(t1) * n >= 1 ? t1 * n_vocab + t2 : -1 - t1;
}


}  // namespace

TEST_CASE("engine, sampling: with ngram, self:q4_0, dspark drafts the first two tokens follow the exact distribution") {
  Loaded l = load(kStories);
  const sb::Model q4 = draft_model("self:q4_0", l);
  const std::string dspark = "dspark:" + write_dspark_for(l, "speculative_sampling_dspark");
  const int n_vocab = l.model.config.n_vocab;
  const std::vector<int32_t> prompt =
      l.tok->encode(kSampledPrompt, true);
  const int n = 3000;
  for (float top_p : {1.0f, 0.9f}) {
    INFO("top_p " << top_p);
    const sb::SamplingParams sp{1.0f, top_p, 0, 0.0f, 11};
    // Exact joint distribution of the first two tokens.
    sb::Sampler sampler(n_vocab);
    std::map<int, double> p1;
    for (const auto& c : sampler.distribution(target_logits(l, prompt).data(), sp)) p1[c.id] = c.p;
    std::map<int, double> joint;
    for (const auto& [t1, pr1] : p1) {
      if (pr1 * n < 1) {
        joint[pair_key(t1, 0, n_vocab, p1, n)] = pr1;
        continue;
      }
      std::vector<int32_t> next = prompt;
      next.push_back(t1);
      for (const auto& c : sampler.distribution(target_logits(l, next).data(), sp))
        joint[pair_key(t1, c.id, n_vocab, p1, n)] += pr1 * c.p;
    }
    std::vector<sb::GenerationRequest> reqs = sb::test::sampled_requests(prompt, sp, n);
    for (sb::GenerationRequest& r : reqs) r.ignore_eos = true;
    sb::EngineOptions o;
    o.max_seqs = 64;
    o.max_batch_tokens = 16;  // prompts end in a running request's chunk, which takes drafts
    // plain; ngram fixed, confidence; self:q4_0 fixed (top_p 1), confidence (top_p 0.9);
    // dspark fixed (its first draft token, on each record's second step)
    for (int variant = 0; variant < 6; ++variant) {
      if (variant == (top_p < 1.0f ? 3 : 4)) continue;  // one model run per top_p keeps the test short
      INFO("variant " << variant);
      const bool model = variant == 3 || variant == 4;
      const sb::EngineOptions vo =
          variant == 0   ? o
          : variant == 5 ? with_draft(o, dspark, sb::SpecPolicy::kFixed)
                         : with_draft(o, model ? "self:q4_0" : "ngram", kPolicies[(variant - 1) % 2]);
      const Run run = run_engine(l, vo, reqs, model ? &q4 : nullptr);
      std::map<int, int> counts;
      for (const auto& r : run.results) {
        REQUIRE(r.tokens.size() == 3);
        ++counts[pair_key(r.tokens[0], r.tokens[1], n_vocab, p1, n)];
      }
      double stat = 0;
      CHECK_MESSAGE(fits(counts, joint, n, &stat), "chi-square " << stat);
      MESSAGE("chi-square " << stat << "; " << run.stats.accepted_tokens << " of " << run.stats.drafted_tokens
                            << " draft tokens accepted");
      if (variant == 1 || variant == 5) {
        CHECK(run.stats.accepted_tokens > 0);
        CHECK(run.stats.accepted_tokens < run.stats.drafted_tokens);
      }
    }
  }
}
