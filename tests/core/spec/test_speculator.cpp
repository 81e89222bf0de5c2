// The Speculator between a real Scheduler and a fake drafter whose proposals
// are scripted: propose() drafts the candidates that may draft, up to spec_max,
// and adds what the policy admits to the plan (fixed: all; confidence: by
// calibrated survival and cost); observe() teaches the planner, which stops
// running a drafter whose proposals are rejected when its passes cost, corrects
// the cost tables by the run's timings, and hands a hidden-state drafter the
// verified rows.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/kv_cache.h"
#include "core/scheduler.h"
#include "core/spec/speculator.h"

namespace {

// Proposes scripted (token, raw confidence) pairs per request id, one-hot, up
// to k; records what it was asked and shown.
class FakeDrafter : public sb::Drafter {
 public:
  std::map<uint64_t, std::vector<std::pair<int32_t, float>>> script;
  std::vector<int> layers;                   // hidden_layers()
  std::vector<std::vector<int>> asked;       // per propose() call: each request's k
  std::vector<uint64_t> released;
  std::vector<sb::VerifiedRows> observed;
  std::vector<std::pair<int, double>> passes;  // pass_times() of every propose()

  sb::Status propose(std::span<const sb::DraftRequest> requests, const sb::DraftStop&) override {
    pass_times_ = passes;
    asked.emplace_back();
    for (const sb::DraftRequest& r : requests) {
      asked.back().push_back(r.k);
      r.out->clear();
      const auto& s = script[r.id];
      for (int j = 0; j < r.k && j < static_cast<int>(s.size()); ++j)
        r.out->push_one_hot(s[static_cast<size_t>(j)].first, s[static_cast<size_t>(j)].second);
    }
    return sb::ok_status();
  }
  void release(uint64_t id) override { released.push_back(id); }
  std::span<const int> hidden_layers() const override { return layers; }
  sb::Status observe(const float*, std::span<const sb::VerifiedRows> rows) override {
    observed.assign(rows.begin(), rows.end());
    return sb::ok_status();
  }
};

// Three requests (ids 1, 2, 3) whose prompts have been computed, each with one
// sampled token to compute next: the running plan has one chunk per request
// reaching its last known token.
struct Setup {
  sb::KvCache kv{64, 4, 4, 64};
  sb::Scheduler sched{kv, 64, 4};
  std::vector<sb::SeqState> seqs = std::vector<sb::SeqState>(3);
  std::vector<std::vector<int32_t>> tokens = {{1, 2, 3, 4, 5}, {1, 2, 3}, {1, 2, 3, 4}};

  std::span<const sb::ScheduledChunk> running() {
    for (size_t i = 0; i < seqs.size(); ++i) {
      tokens[i].reserve(64);  // token_ids stays valid
      seqs[i].id = i + 1;
      seqs[i].token_ids = tokens[i].data();
      seqs[i].n_tokens = static_cast<int>(tokens[i].size());
      sched.add(&seqs[i]);
    }
    REQUIRE(sched.schedule().size() == 3);
    sched.computed();
    for (size_t i = 0; i < seqs.size(); ++i) {
      tokens[i].push_back(9);
      ++seqs[i].n_tokens;
    }
    return sched.plan_running();
  }
  // Candidates for chunks 0, 1, 2 allowed k0, k1, k2 draft tokens.
  std::vector<sb::SpecCandidate> candidates(std::vector<int> k) {
    std::vector<sb::SpecCandidate> c;
    for (size_t i = 0; i < seqs.size(); ++i)
      c.push_back({i, sb::DraftRequest{i + 1, tokens[i], k[i], &greedy, i, nullptr}});
    return c;
  }
  sb::SamplingParams greedy{0.0f, 1.0f, 0, 0.0f, 0};
};

std::unique_ptr<sb::Speculator> make(std::unique_ptr<FakeDrafter> d, const sb::SpeculatorOptions& o) {
  auto s = sb::Speculator::create(std::move(d), o);
  REQUIRE_MESSAGE(s.ok(), s.status().to_string());
  return std::move(s).value();
}

}  // namespace

TEST_CASE("speculator, fixed: drafts each candidate up to min(k, spec_max) and adds every draft token") {
  Setup t;
  auto fake = std::make_unique<FakeDrafter>();
  FakeDrafter* d = fake.get();
  d->script[1] = {{11, 0.9f}, {12, 0.9f}, {13, 0.9f}, {14, 0.9f}, {15, 0.9f}};
  d->script[2] = {{21, 0.5f}};
  d->script[3] = {{31, 0.5f}};
  sb::SpeculatorOptions o;
  o.policy = sb::SpecPolicy::kFixed;
  o.spec_max = 4;
  o.max_seqs = 4;
  auto spec = make(std::move(fake), o);
  const auto running = t.running();
  const auto candidates = t.candidates({10, 3, 0});  // request 3 is at its max_tokens
  REQUIRE(spec->propose(running, candidates, t.sched).ok());
  REQUIRE(d->asked.size() == 1);
  CHECK(d->asked[0] == std::vector<int>{4, 3});
  CHECK(spec->drafter_steps() == 1);
  CHECK(running[0].count == 1 + 4);
  CHECK(running[1].count == 1 + 1);  // its drafter proposed one token
  CHECK(running[2].count == 1);
  REQUIRE(spec->draft(0) != nullptr);
  CHECK(spec->draft(0)->tokens == std::vector<int32_t>{11, 12, 13, 14});
  CHECK(spec->draft(1)->tokens == std::vector<int32_t>{21});
  CHECK(spec->draft(2) == nullptr);
  CHECK(spec->draft(7) == nullptr);
  // Outcomes by chunk; a drafter reading no hidden states is shown nothing.
  const std::vector<sb::SpecOutcome> outcomes = {{1, 5, 0, 3, 4, 2}, {2, 3, 5, 1, 1, 0}, {3, 4, 7, 1, 0, 0}};
  REQUIRE(spec->observe(outcomes, nullptr, 0, 0).ok());
  CHECK(d->observed.empty());
  spec->release(2);
  CHECK(d->released == std::vector<uint64_t>{2});
}

TEST_CASE("speculator, confidence: admission by calibrated survival against the step cost") {
  sb::SpeculatorOptions o;
  o.policy = sb::SpecPolicy::kConfidence;
  o.spec_max = 4;
  o.max_seqs = 4;
  SUBCASE("a flat step cost admits every token worth anything, up to the first of survival 0") {
    Setup t;
    auto fake = std::make_unique<FakeDrafter>();
    fake->script[1] = {{11, 0.9f}, {12, 0.8f}, {13, 0.0f}, {14, 0.9f}};
    fake->script[2] = {{21, 0.6f}};
    o.step_cost = {{1, 0.01}, {64, 0.01}};  // a drafter that costs nothing: it drafts spec_max
    auto spec = make(std::move(fake), o);
    const auto running = t.running();
    REQUIRE(spec->propose(running, t.candidates({8, 8, 8}), t.sched).ok());
    CHECK(running[0].count == 1 + 2);
    CHECK(running[1].count == 1 + 1);
    CHECK(running[2].count == 1);  // proposed nothing
  }
  SUBCASE("a step whose cost grows with every token admits none") {
    Setup t;
    auto fake = std::make_unique<FakeDrafter>();
    fake->script[1] = {{11, 0.99f}};
    o.step_cost = {{1, 0.01}, {64, 0.64}};
    auto spec = make(std::move(fake), o);
    const auto running = t.running();
    REQUIRE(spec->propose(running, t.candidates({8, 8, 8}), t.sched).ok());
    for (const sb::ScheduledChunk& c : running) CHECK(c.count == 1);
    CHECK(spec->draft(0) != nullptr);  // proposed, not admitted
  }
}

TEST_CASE("speculator, confidence: the planner stops running a costly drafter whose drafts are all rejected") {
  sb::SpeculatorOptions o;
  o.policy = sb::SpecPolicy::kConfidence;
  o.spec_max = 4;
  o.max_seqs = 4;
  o.step_cost = {{1, 0.010}, {64, 0.010}};
  o.draft_pass_cost = {{1, 0.002}, {64, 0.002}};
  auto fake = std::make_unique<FakeDrafter>();
  FakeDrafter* d = fake.get();
  for (uint64_t id : {1, 2, 3}) d->script[id] = {{40, 0.9f}, {41, 0.9f}, {42, 0.9f}, {43, 0.9f}};
  auto spec = make(std::move(fake), o);
  Setup t;
  auto running = t.running();
  int steps_drafted = 0;
  for (int step = 0; step < 40; ++step) {
    REQUIRE(spec->propose(running, t.candidates({8, 8, 8}), t.sched).ok());
    if (spec->drafter_steps() == static_cast<uint64_t>(steps_drafted)) break;  // the planner gave up
    ++steps_drafted;
    CHECK(d->asked.back() == std::vector<int>(3, d->asked.back()[0]));  // one depth for all
    // The target rejects every first draft token; the chunks' tokens are computed.
    std::vector<sb::SpecOutcome> outcomes;
    for (size_t i = 0; i < running.size(); ++i) {
      const int n_draft = running[i].count - 1;
      outcomes.push_back({i + 1, running[i].start, 0, 1, n_draft, 0});
    }
    t.sched.computed();
    for (size_t i = 0; i < running.size(); ++i) {
      t.sched.rollback(&t.seqs[i], outcomes[i].n_verified);
      t.tokens[i].push_back(9);
      ++t.seqs[i].n_tokens;
    }
    REQUIRE(spec->observe(outcomes, nullptr, 0, 0).ok());
    running = t.sched.plan_running();
  }
  MESSAGE("the drafter ran in " << steps_drafted << " steps");
  CHECK(steps_drafted >= 1);   // the prior lets it try
  CHECK(steps_drafted < 40);   // ... and the observed rejections stop it
}

TEST_CASE("speculator, confidence: costs learned from the run overrule a profile that says drafting is free") {
  // The profile prices every step alike, so drafts look free; the injected
  // forward times grow with every token (10 ms each), where drafting cannot pay.
  // No draft is verified (the calibration stays at its raw 0.9): only what the
  // cost tables learn can stop the admissions.
  sb::SpeculatorOptions o;
  o.policy = sb::SpecPolicy::kConfidence;
  o.spec_max = 4;
  o.max_seqs = 4;
  o.step_cost = {{1, 0.010}, {64, 0.010}};
  o.draft_pass_cost = {{1, 0.001}, {64, 0.001}};
  auto fake = std::make_unique<FakeDrafter>();
  FakeDrafter* d = fake.get();
  for (uint64_t id : {1, 2, 3}) d->script[id] = {{40, 0.9f}, {41, 0.9f}, {42, 0.9f}, {43, 0.9f}};
  d->passes = {{3, 0.0004}};  // each pass takes 0.4 ms at 3 tokens
  auto spec = make(std::move(fake), o);
  Setup t;
  auto running = t.running();
  std::vector<int> admitted;  // draft tokens admitted per step
  for (int step = 0; step < 30; ++step) {
    REQUIRE(spec->propose(running, t.candidates({8, 8, 8}), t.sched).ok());
    int tokens = 0;
    std::vector<sb::SpecOutcome> outcomes;
    for (size_t i = 0; i < running.size(); ++i) {
      tokens += running[i].count;
      outcomes.push_back({i + 1, running[i].start, 0, 1, 0, 0});
    }
    admitted.push_back(tokens - 3);
    t.sched.computed();
    for (size_t i = 0; i < running.size(); ++i) {
      t.sched.rollback(&t.seqs[i], running[i].count - 1);
      t.tokens[i].push_back(9);
      ++t.seqs[i].n_tokens;
    }
    REQUIRE(spec->observe(outcomes, nullptr, tokens, 0.010 * tokens).ok());
    running = t.sched.plan_running();
  }
  std::string seen;
  for (int a : admitted) seen += std::to_string(a) + " ";
  MESSAGE("draft tokens admitted per step: " << seen);
  CHECK(admitted.front() > 0);  // the profile's view
  CHECK(admitted.back() == 0);  // the run's
  CHECK(spec->step_cost()->seconds(3) == doctest::Approx(0.030).epsilon(0.02));
  CHECK(spec->step_cost()->profiled(3) == doctest::Approx(0.010));
  REQUIRE(spec->draft_pass_cost() != nullptr);
  CHECK(spec->draft_pass_cost()->seconds(3) == doctest::Approx(0.0004));
}

TEST_CASE("speculator: a hidden-state drafter is shown each chunk's final positions, none of a finished request") {
  Setup t;
  auto fake = std::make_unique<FakeDrafter>();
  FakeDrafter* d = fake.get();
  d->layers = {-1, 0};
  sb::SpeculatorOptions o;
  o.policy = sb::SpecPolicy::kFixed;
  o.spec_max = 2;
  o.max_seqs = 4;
  auto spec = make(std::move(fake), o);
  REQUIRE(spec->hidden_layers().size() == 2);
  // id, position, row, n_final, n_verified, n_accepted
  const std::vector<sb::SpecOutcome> outcomes = {{1, 0, 0, 6, 0, 0}, {2, 3, 6, 0, 0, 0}, {3, 4, 7, 2, 0, 0}};
  REQUIRE(spec->observe(outcomes, nullptr, 0, 0).ok());
  REQUIRE(d->observed.size() == 2);
  CHECK(d->observed[0].id == 1);
  CHECK(d->observed[0].position == 0);
  CHECK(d->observed[0].row == 0);
  CHECK(d->observed[0].count == 6);
  CHECK(d->observed[1].id == 3);
  CHECK(d->observed[1].position == 4);
  CHECK(d->observed[1].row == 7);
  CHECK(d->observed[1].count == 2);
}
