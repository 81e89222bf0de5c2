// The scheduler alone, over a real KvCache and simulated requests: the token
// budget, max_seqs, chunking of long prompts, oldest-first service, and
// preemption of the most recently admitted request when blocks run out; with
// a prefix cache, reuse, deferral of requests whose prefix is in flight, and
// the bounds on deferral and overtaking.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "core/scheduler.h"

namespace {

// A simulated request: known tokens grow by one whenever all are computed
// (a sampled token), until `final_tokens`.
struct SimSeq {
  sb::SeqState state;
  int final_tokens = 0;
  bool done = false;
};

struct StepLog {
  int tokens = 0;
  int running = 0;
};

// Runs the scheduler until every request is done; checks the per-step invariants.
std::vector<StepLog> simulate(sb::KvCache& kv, sb::Scheduler& sched, std::vector<SimSeq>& seqs, int budget,
                              int max_seqs) {
  for (SimSeq& s : seqs) sched.add(&s.state);
  std::vector<StepLog> log;
  for (int step = 0; step < 10000; ++step) {
    const auto chunks = sched.schedule();
    if (chunks.empty()) break;
    StepLog l;
    for (const sb::ScheduledChunk& c : chunks) {
      REQUIRE(c.count > 0);
      CHECK(c.start == c.seq->n_computed);
      CHECK(kv.seq_length(c.seq->kv_seq) == c.start + c.count);
      l.tokens += c.count;
    }
    l.running = sched.n_running();
    CHECK(l.tokens <= budget);
    CHECK(l.running <= max_seqs);
    log.push_back(l);
    sched.computed();
    for (const sb::ScheduledChunk& c : chunks) {
      CHECK(c.seq->n_computed == c.start + c.count);
      if (c.seq->n_computed == c.seq->n_tokens) ++c.seq->n_tokens;  // "sampled"
    }
    for (SimSeq& s : seqs) {
      if (!s.done && s.state.kv_seq >= 0 && s.state.n_tokens == s.final_tokens) {
        sched.finish(&s.state);
        s.done = true;
      }
    }
  }
  for (const SimSeq& s : seqs) CHECK(s.done);
  CHECK(sched.n_running() == 0);
  CHECK(sched.n_waiting() == 0);
  CHECK(kv.n_free_blocks() == kv.n_blocks());
  return log;
}

std::vector<SimSeq> make_seqs(const std::vector<std::pair<int, int>>& prompt_final) {
  std::vector<SimSeq> seqs(prompt_final.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    seqs[i].state.n_tokens = prompt_final[i].first;
    seqs[i].final_tokens = prompt_final[i].second;
  }
  return seqs;
}

}  // namespace

TEST_CASE("scheduler: a long prompt runs in chunks within the budget, then one token per step") {
  sb::KvCache kv(64, 4, 4, 128);
  sb::Scheduler sched(kv, 8, 4);
  auto seqs = make_seqs({{29, 33}});
  const auto log = simulate(kv, sched, seqs, 8, 4);
  // 29 prompt tokens: 8 + 8 + 8 + 5 (sampling the 30th), then 3 single tokens.
  REQUIRE(log.size() == 7);
  const int want[] = {8, 8, 8, 5, 1, 1, 1};
  for (size_t i = 0; i < log.size(); ++i) CHECK(log[i].tokens == want[i]);
}

TEST_CASE("scheduler: max_seqs caps running requests; finished ones make room for the queue") {
  sb::KvCache kv(256, 4, 3, 64);
  sb::Scheduler sched(kv, 17, 3);
  auto seqs = make_seqs({{5, 9}, {3, 20}, {11, 12}, {1, 4}, {7, 30}, {2, 3}, {13, 14}});
  const auto log = simulate(kv, sched, seqs, 17, 3);
  int max_running = 0;
  for (const StepLog& l : log) max_running = std::max(max_running, l.running);
  CHECK(max_running == 3);
  CHECK(sched.stats().preemptions == 0);
}

TEST_CASE("scheduler: running requests are served oldest first before admissions") {
  sb::KvCache kv(256, 4, 8, 64);
  sb::Scheduler sched(kv, 6, 8);
  auto seqs = make_seqs({{4, 10}, {9, 12}});
  sched.add(&seqs[0].state);
  auto chunks = sched.schedule();
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].count == 4);
  chunks[0].seq->n_computed = 4;
  seqs[0].state.n_tokens = 5;
  sched.add(&seqs[1].state);
  chunks = sched.schedule();
  REQUIRE(chunks.size() == 2);
  CHECK(chunks[0].seq == &seqs[0].state);
  CHECK(chunks[0].count == 1);
  CHECK(chunks[1].seq == &seqs[1].state);
  CHECK(chunks[1].count == 5);  // the rest of the budget: a chunk of the 9-token prompt
}

TEST_CASE("scheduler: KV exhaustion preempts the newest request, which is recomputed later") {
  // 6 blocks of 4 tokens = 24 slots; three requests growing to 11 tokens (10
  // cached) need 3 blocks each, 9 in all: they cannot all run to the end together.
  sb::KvCache kv(6, 4, 3, 16);
  sb::Scheduler sched(kv, 64, 3);
  auto seqs = make_seqs({{3, 11}, {3, 11}, {3, 11}});
  simulate(kv, sched, seqs, 64, 3);
  CHECK(sched.stats().preemptions > 0);
}

TEST_CASE("scheduler: a request that fills the whole pool alone still completes among others") {
  sb::KvCache kv(5, 4, 4, 32);
  sb::Scheduler sched(kv, 7, 4);
  auto seqs = make_seqs({{2, 6}, {17, 21}, {5, 9}, {1, 2}});
  simulate(kv, sched, seqs, 7, 4);
}

TEST_CASE("scheduler: extend() adds draft tokens from the budget left, before admissions, within KV room") {
  sb::KvCache kv(6, 4, 4, 32);  // 24 token slots
  sb::Scheduler sched(kv, 10, 4);
  sb::SeqState a, b, c;
  a.n_tokens = 5;
  b.n_tokens = 3;
  c.n_tokens = 2;
  sched.add(&a);
  sched.add(&b);
  auto chunks = sched.schedule();  // admits a (5) and b (3): 8 of 10
  REQUIRE(chunks.size() == 2);
  CHECK(sched.budget_left() == 2);
  CHECK(sched.extend(0, 5) == 2);  // prompt chunks that reach the last token take drafts too
  CHECK(chunks[0].count == 7);
  CHECK(kv.seq_length(a.kv_seq) == 7);
  CHECK(sched.extend(1, 1) == 0);  // no budget left
  sched.computed();
  sched.rollback(&a, 1);  // one draft accepted, one rejected
  a.n_tokens = 7;         // + the accepted draft and the target's token after it
  b.n_tokens = 4;
  sched.add(&c);
  chunks = sched.plan_running();  // a 1, b 1: 8 left; drafts come before admissions
  REQUIRE(chunks.size() == 2);
  CHECK(sched.budget_left() == 8);
  CHECK(sched.extend(0, 1) == 1);  // a: 8 tokens, still 2 blocks
  CHECK(chunks[0].count == 2);
  chunks = sched.admit();  // c: 2 of the 7 left
  REQUIRE(chunks.size() == 3);
  CHECK(chunks[2].seq == &c);
  CHECK(sched.budget_left() == 5);
  CHECK(sched.stats().preemptions == 0);

  // KV room: a lone request of 5 tokens in 8 slots takes at most 3 drafts.
  sb::KvCache small(2, 4, 1, 32);
  sb::Scheduler one(small, 16, 1);
  sb::SeqState d;
  d.n_tokens = 5;
  one.add(&d);
  REQUIRE(one.schedule().size() == 1);
  CHECK(one.extend(0, 5) == 0);
  CHECK(small.seq_length(d.kv_seq) == 5);
  CHECK(one.extend(0, 3) == 3);
  CHECK(small.seq_length(d.kv_seq) == 8);
}

TEST_CASE("scheduler: rollback drops rejected draft positions; preempted() names the step's victims") {
  sb::KvCache kv(4, 4, 2, 32);  // 16 token slots
  sb::Scheduler sched(kv, 16, 2);
  sb::SeqState a, b;
  a.id = 7;
  a.n_tokens = 5;
  b.id = 8;
  b.n_tokens = 3;
  sched.add(&a);
  sched.add(&b);
  REQUIRE(sched.schedule().size() == 2);
  CHECK(sched.preempted().empty());
  REQUIRE(sched.extend(0, 4) == 4);  // a: 5 known + 4 drafts over 3 blocks
  sched.computed();
  CHECK(a.n_computed == 9);
  CHECK(b.n_computed == 3);
  sched.rollback(&a, 0);  // all accepted: nothing dropped
  CHECK(a.n_computed == 9);
  sched.rollback(&a, 3);  // one accepted: the cache keeps the 5 known and 1 accepted
  CHECK(a.n_computed == 6);
  CHECK(kv.seq_length(a.kv_seq) == 6);
  CHECK(kv.n_free_blocks() == 4 - 2 - 1);  // a's third block is free again
  a.n_tokens = 7;
  // a grows to 13 tokens (4 blocks): the oldest keeps running, b is preempted for its room.
  a.n_tokens = 13;
  b.n_tokens = 4;
  const auto chunks = sched.plan_running();
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0].seq == &a);
  REQUIRE(sched.preempted().size() == 1);
  CHECK(sched.preempted()[0]->id == 8);
  CHECK(b.kv_seq < 0);
  CHECK(b.n_computed == 0);
  CHECK(sched.admit().size() == 1);  // no admission in a step that preempted
  sched.computed();
  a.n_tokens = 14;
  sched.plan_running();
  CHECK(sched.preempted().empty());  // only the last plan_running()'s victims
}

namespace {

// A simulated request with token ids, for the prefix cache: each sampled token is
// 1000 + its position, so a request's ids depend only on its prompt.
struct TokSeq {
  sb::SeqState state;
  std::vector<int32_t> ids;
  int final_tokens = 0;
  bool done = false;
};

std::vector<TokSeq> tok_seqs(const std::vector<std::vector<int32_t>>& prompts, int n_generated) {
  std::vector<TokSeq> seqs(prompts.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    seqs[i].ids = prompts[i];
    seqs[i].ids.reserve(prompts[i].size() + static_cast<size_t>(n_generated));
    seqs[i].state.token_ids = seqs[i].ids.data();
    seqs[i].state.n_tokens = static_cast<int>(prompts[i].size());
    seqs[i].final_tokens = seqs[i].state.n_tokens + n_generated;
  }
  return seqs;
}

// Runs like the engine (computed() after each step) until all
// are done; returns the order in which requests were first admitted.
std::vector<size_t> simulate_prefix(sb::KvCache& kv, sb::Scheduler& sched, std::vector<TokSeq>& seqs) {
  for (TokSeq& s : seqs) sched.add(&s.state);
  std::vector<size_t> order;
  for (int step = 0; step < 10000; ++step) {
    const auto chunks = sched.schedule();
    if (chunks.empty()) break;
    for (const sb::ScheduledChunk& c : chunks) CHECK(c.start == c.seq->n_computed);
    sched.computed();  // commits the computed blocks
    for (size_t i = 0; i < seqs.size(); ++i) {
      TokSeq& s = seqs[i];
      if (s.done || s.state.kv_seq < 0) continue;
      if (std::find(order.begin(), order.end(), i) == order.end()) order.push_back(i);
      if (s.state.n_computed < s.state.n_tokens) continue;
      s.ids.push_back(1000 + s.state.n_tokens);  // "sampled"
      ++s.state.n_tokens;
      if (s.state.n_tokens == s.final_tokens) {
        sched.finish(&s.state);
        s.done = true;
      }
    }
  }
  for (const TokSeq& s : seqs) CHECK(s.done);
  CHECK(kv.n_free_blocks() == kv.n_blocks());
  return order;
}

std::vector<int32_t> with_suffix(std::vector<int32_t> prefix, std::vector<int32_t> suffix) {
  prefix.insert(prefix.end(), suffix.begin(), suffix.end());
  return prefix;
}

}  // namespace

TEST_CASE("scheduler, prefix cache: requests admitted together compute their shared prompt once") {
  std::vector<int32_t> shared(24);
  for (int i = 0; i < 24; ++i) shared[static_cast<size_t>(i)] = 7 + i;
  std::vector<std::vector<int32_t>> prompts;
  for (int32_t i = 0; i < 8; ++i) prompts.push_back(with_suffix(shared, {100 + i, 200 + i, 300 + i}));
  for (const bool cache : {false, true}) {
    CAPTURE(cache);
    sb::KvCache kv(64, 4, 8, 64, cache);
    sb::Scheduler sched(kv, 16, 8);
    auto seqs = tok_seqs(prompts, 1);
    simulate_prefix(kv, sched, seqs);
    // 27 prompt tokens each; with the cache, every request after the first takes
    // the 24 shared ones (whole blocks, short of its last token) from the cache.
    CHECK(sched.stats().scheduled_tokens == (cache ? 27 + 7 * 3 : 8 * 27));
    CHECK(sched.stats().cached_tokens == (cache ? 7 * 24 : 0));
  }
}

TEST_CASE("scheduler, prefix cache: a request reuses at most its tokens but the last, in whole blocks") {
  sb::KvCache kv(64, 4, 4, 64, true);
  sb::Scheduler sched(kv, 64, 4);
  std::vector<int32_t> p(12);
  for (int i = 0; i < 12; ++i) p[static_cast<size_t>(i)] = 3 + i;
  auto first = tok_seqs({p}, 1);
  simulate_prefix(kv, sched, first);
  auto again = tok_seqs({p, std::vector<int32_t>(p.begin(), p.begin() + 9)}, 1);
  simulate_prefix(kv, sched, again);
  // 12 tokens: 8 reused, 4 computed; 9 tokens: 8 reused, 1 computed.
  CHECK(sched.stats().cached_tokens == 16);
  CHECK(sched.stats().scheduled_tokens == 12 + 4 + 1);
}

TEST_CASE("scheduler, prefix cache: deferral of a request whose next block is in flight is bounded") {
  sb::KvCache kv(64, 4, 4, 64, true);
  sb::Scheduler sched(kv, 64, 4);
  std::vector<int32_t> p(20);
  for (int i = 0; i < 20; ++i) p[static_cast<size_t>(i)] = 3 + i;
  auto seqs = tok_seqs({p, with_suffix(p, {1, 2, 3})}, 1);
  sched.add(&seqs[0].state);
  sched.add(&seqs[1].state);
  // The first request never finishes computing (its step results are not
  // applied); the second waits for it kMaxDeferSteps steps, then starts anyway.
  int steps = 0;
  while (seqs[1].state.kv_seq < 0 && steps < 100) {
    sched.schedule();
    ++steps;
  }
  CHECK(steps == sb::Scheduler::kMaxDeferSteps + 1);
  CHECK(seqs[1].state.n_deferred == sb::Scheduler::kMaxDeferSteps);
  CHECK(seqs[1].state.n_computed == 0);
}

TEST_CASE("scheduler, prefix cache: cached requests go first, but none is overtaken more than kMaxOvertaken times") {
  const int n_cached = sb::Scheduler::kMaxOvertaken + 10;
  std::vector<int32_t> p(16);
  for (int i = 0; i < 16; ++i) p[static_cast<size_t>(i)] = 3 + i;
  sb::KvCache kv(512, 4, 1, 64, true);
  sb::Scheduler sched(kv, 64, 1);
  auto warm = tok_seqs({p}, 1);
  simulate_prefix(kv, sched, warm);
  std::vector<std::vector<int32_t>> prompts = {{50, 51, 52, 53, 54, 55, 56, 57, 58}};  // nothing cached
  for (int32_t i = 0; i < n_cached; ++i) prompts.push_back(with_suffix(p, {100 + i}));
  auto seqs = tok_seqs(prompts, 1);
  const auto order = simulate_prefix(kv, sched, seqs);
  const size_t at = static_cast<size_t>(std::find(order.begin(), order.end(), 0) - order.begin());
  CHECK(at == static_cast<size_t>(sb::Scheduler::kMaxOvertaken));
  CHECK(seqs[0].state.n_overtaken == sb::Scheduler::kMaxOvertaken);
}
