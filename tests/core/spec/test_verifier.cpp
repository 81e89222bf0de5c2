// The lossless verification rule on hand-made target (p) and draft (q)
// distributions: greedy accepts while the draft is the argmax; sampled, the
// emitted token follows p whatever q is (chi-square), and with no draft the
// verifier draws exactly what the plain sampler draws.
#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <vector>

#include "core/random.h"
#include "core/sampler.h"
#include "core/spec/drafter.h"
#include "core/spec/verifier.h"
#include "core/spec/spec_test_util.h"

namespace {

using sb::test::fits;

std::vector<float> logits_of(const std::vector<double>& p) {
  std::vector<float> l;
  for (double x : p) l.push_back(x > 0 ? static_cast<float>(std::log(x)) : -1e30f);
  return l;
}

}  // namespace

TEST_CASE("verify, greedy: accept while the draft is the argmax, then the target or a bonus token") {
  const int n_vocab = 5;
  // Rows' argmaxes: 2, 4, 1, 3.
  std::vector<float> logits(4 * n_vocab, 0.0f);
  const int argmaxes[] = {2, 4, 1, 3};
  for (int r = 0; r < 4; ++r) logits[static_cast<size_t>(r * n_vocab + argmaxes[r])] = 1.0f;
  sb::Verifier v(n_vocab);
  sb::SamplingParams greedy;
  greedy.temperature = 0;
  sb::Draft d;
  d.reserve_one_hot(3);
  for (int32_t t : {2, 4, 0}) d.push_one_hot(t, 0.5f);
  sb::Verdict x = v.verify(logits.data(), &d, 3, greedy, 0, 10);
  CHECK(x.n_accepted == 2);
  CHECK(x.next == 1);
  x = v.verify(logits.data(), &d, 2, greedy, 0, 10);  // both accepted: bonus from row 2
  CHECK(x.n_accepted == 2);
  CHECK(x.next == 1);
  d.clear();
  for (int32_t t : {2, 4, 1}) d.push_one_hot(t, 0.5f);
  x = v.verify(logits.data(), &d, 3, greedy, 0, 10);
  CHECK(x.n_accepted == 3);
  CHECK(x.next == 3);
  x = v.verify(logits.data(), nullptr, 0, greedy, 0, 10);
  CHECK(x.n_accepted == 0);
  CHECK(x.next == 2);
}

TEST_CASE("verify, sampling: no draft is exactly the plain sampler's draw; p(x) = 0 always rejects") {
  const int n_vocab = 4;
  const std::vector<float> logits = logits_of({0.5, 0.0, 0.3, 0.2});
  sb::Verifier v(n_vocab);
  sb::Sampler s(n_vocab);
  sb::SamplingParams sp{1.0f, 1.0f, 0, 0.0f, 7};
  sb::Draft d;
  d.reserve_one_hot(1);
  d.push_one_hot(1, 0.9f);
  for (uint64_t i = 0; i < 200; ++i) {
    const double u = sb::random_uniform(7, i, 3, sb::RandomPurpose::kSample);
    CHECK(v.verify(logits.data(), nullptr, 0, sp, i, 3).next == s.sample(logits.data(), sp, u));
    const sb::Verdict x = v.verify(logits.data(), &d, 1, sp, i, 3);
    CHECK(x.n_accepted == 0);
    CHECK(x.next != 1);
  }
}

// The emitted first token, with x drawn from q and verified against p, must follow p.
void check_first_token_follows_p(const std::vector<double>& p, const std::vector<sb::Sampler::Candidate>& q,
                                 const sb::SamplingParams& sp, const std::map<int, double>& p_filtered) {
  const int n_vocab = static_cast<int>(p.size());
  const std::vector<float> logits = logits_of(p);  // one row; a bonus row is never needed below
  std::vector<float> rows(logits);
  rows.insert(rows.end(), logits.begin(), logits.end());
  sb::Verifier v(n_vocab);
  sb::Draft d;
  d.tokens.reserve(1);
  std::map<int, int> counts;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double u = sb::random_uniform(99, static_cast<uint64_t>(i), 0, sb::RandomPurpose::kDraft);
    const int32_t x = sb::sample_from(q, u);
    d.clear();
    d.tokens.push_back(x);
    d.confidence.push_back(0.5f);
    d.q.assign(q.begin(), q.end());
    d.q_begin.push_back(static_cast<int32_t>(q.size()));
    const sb::Verdict r = v.verify(rows.data(), &d, 1, sp, static_cast<uint64_t>(i), 5);
    ++counts[r.n_accepted == 1 ? x : r.next];
  }
  double stat = 0;
  CHECK_MESSAGE(fits(counts, p_filtered, n, &stat), "chi-square " << stat);
}

TEST_CASE("verify, sampling: the emitted token follows p for a general q and for one-hot q (chi-square)") {
  const std::vector<double> p = {0.1, 0.4, 0.05, 0.25, 0.2, 0.0};
  sb::SamplingParams sp{1.0f, 1.0f, 0, 0.0f, 3};
  const std::map<int, double> want = {{0, 0.1}, {1, 0.4}, {2, 0.05}, {3, 0.25}, {4, 0.2}};
  // q overlaps p partly and puts mass on a token p never emits.
  check_first_token_follows_p(p, {{0, 0.3f}, {1, 0.1f}, {3, 0.4f}, {5, 0.2f}}, sp, want);
  // One-hot q: accepted with probability p(x), else a draw from p without x.
  check_first_token_follows_p(p, {{1, 1.0f}}, sp, want);
  check_first_token_follows_p(p, {{4, 1.0f}}, sp, want);
  // q equal to p: always accepted; and p filtered by top-k 2 (p becomes {1: 0.4, 3: 0.25} renormalised).
  check_first_token_follows_p(p, {{0, 0.1f}, {1, 0.4f}, {2, 0.05f}, {3, 0.25f}, {4, 0.2f}}, sp, want);
  sb::SamplingParams topk = sp;
  topk.top_k = 2;
  check_first_token_follows_p(p, {{1, 0.2f}, {4, 0.8f}}, topk, {{1, 0.4 / 0.65}, {3, 0.25 / 0.65}});
}
