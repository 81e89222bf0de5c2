#include "core/scheduler.h"

#include <algorithm>

#include "core/base/status.h"

namespace sb {

Scheduler::Scheduler(KvCache& kv, int max_batch_tokens, int max_seqs)
    : kv_(kv), max_batch_tokens_(max_batch_tokens), max_seqs_(max_seqs) {
  SB_CHECK(max_batch_tokens > 0 && max_seqs > 0 && max_seqs <= kv.max_seqs());
  preempted_.reserve(static_cast<size_t>(max_seqs));
  running_.reserve(static_cast<size_t>(max_seqs));
  preempted_now_.reserve(static_cast<size_t>(max_seqs));
  chunks_.reserve(static_cast<size_t>(max_seqs));
  window_cached_.reserve(kAdmitWindow);
}

void Scheduler::add(SeqState* seq) {
  SB_CHECK(seq->n_tokens >= 1 && seq->n_computed == 0 && seq->kv_seq < 0);
  waiting_.push_back(seq);
}

void Scheduler::finish(SeqState* seq) {
  const auto it = std::find(running_.begin(), running_.end(), seq);
  SB_CHECK(it != running_.end());
  running_.erase(it);
  kv_.seq_free(seq->kv_seq);
  seq->kv_seq = -1;
}

std::vector<SeqState*> Scheduler::cancel_waiting() {
  std::vector<SeqState*> out(waiting_.begin(), waiting_.end());
  waiting_.clear();
  return out;
}

void Scheduler::preempt_last() {
  SeqState* victim = running_.back();
  running_.pop_back();
  kv_.seq_free(victim->kv_seq);
  victim->kv_seq = -1;
  victim->n_computed = 0;
  preempted_.push_back(victim);
  preempted_now_.push_back(victim);
  ++stats_.preemptions;
}

int Scheduler::reusable(const SeqState& s) const {
  const int b = kv_.block_size(), n = static_cast<int>(s.tokens().size());
  return n > 0 ? (n - 1) / b * b : 0;
}

bool Scheduler::next_block_in_flight(const SeqState& s, int cached) const {
  const int end = cached + kv_.block_size();
  if (end > reusable(s)) return false;
  const auto mine = s.tokens().first(static_cast<size_t>(end));
  for (const SeqState* r : running_) {
    if (r->n_computed >= end || r->n_tokens < end) continue;
    const auto theirs = r->tokens();
    if (theirs.size() >= mine.size() && std::equal(mine.begin(), mine.end(), theirs.begin())) return true;
  }
  return false;
}

int Scheduler::pick_waiting() {
  if (waiting_.empty()) return -1;
  if (!kv_.prefix_cache()) return 0;
  const int n = static_cast<int>(window_cached_.size());
  for (int i = 0; i < n; ++i)
    if (waiting_[static_cast<size_t>(i)]->n_overtaken >= kMaxOvertaken) return i;
  const uint64_t step = stats_.steps + 1;
  int best = -1;
  for (int i = 0; i < n; ++i) {
    const int cached = window_cached_[static_cast<size_t>(i)];
    if (best >= 0 && cached <= window_cached_[static_cast<size_t>(best)]) continue;
    SeqState* s = waiting_[static_cast<size_t>(i)];
    if (s->n_deferred < kMaxDeferSteps && next_block_in_flight(*s, cached)) {
      if (s->deferred_in_step != step) ++s->n_deferred;
      s->deferred_in_step = step;
      continue;
    }
    best = i;
  }
  return best;
}

bool Scheduler::admit_next(int budget) {
  const bool readmit = !preempted_.empty();
  int pos = 0;
  SeqState* s = nullptr;
  if (readmit) {
    s = preempted_.back();
  } else {
    pos = pick_waiting();
    if (pos < 0) return false;
    s = waiting_[static_cast<size_t>(pos)];
  }
  const int seq = kv_.seq_create();
  SB_CHECK(seq >= 0);  // max_seqs <= kv.max_seqs()
  const int cached = kv_.seq_reuse_prefix(seq, s->tokens(), reusable(*s));
  const int count = std::min(s->n_tokens - cached, budget);
  // Leave every running request room for one more block, so admission does
  // not force a preemption at the next step; a lone request needs none.
  const int b = kv_.block_size();
  const int blocks = (cached + count + b - 1) / b - cached / b;
  if (kv_.n_free_blocks() - blocks < static_cast<int>(running_.size()) || !kv_.seq_grow(seq, cached + count)) {
    kv_.seq_free(seq);
    return false;
  }
  if (readmit) {
    preempted_.pop_back();
  } else {
    for (int i = 0; i < pos; ++i) ++waiting_[static_cast<size_t>(i)]->n_overtaken;
    waiting_.erase(waiting_.begin() + pos);
    if (!window_cached_.empty()) window_cached_.erase(window_cached_.begin() + pos);
    stats_.cached_tokens += static_cast<uint64_t>(cached);
  }
  s->kv_seq = seq;
  s->n_computed = cached;
  running_.push_back(s);
  chunks_.push_back({s, cached, count});
  stats_.scheduled_tokens += static_cast<uint64_t>(count);
  return true;
}

std::span<const ScheduledChunk> Scheduler::schedule() {
  plan_running();
  return admit();
}

std::span<const ScheduledChunk> Scheduler::plan_running() {
  chunks_.clear();
  preempted_now_.clear();
  int budget = max_batch_tokens_;
  bool preempted = false;
  // Running requests, oldest first; room for an older one is taken from the newest.
  for (size_t i = 0; i < running_.size() && budget > 0;) {
    SeqState* s = running_[i];
    const int count = std::min(s->n_tokens - s->n_computed, budget);
    SB_CHECK(count > 0);
    bool grown = kv_.seq_grow(s->kv_seq, s->n_computed + count);
    while (!grown) {
      const bool self = running_.back() == s;
      preempt_last();
      preempted = true;
      if (self) break;
      grown = kv_.seq_grow(s->kv_seq, s->n_computed + count);
    }
    if (!grown) break;  // s itself was the newest and is now preempted
    chunks_.push_back({s, s->n_computed, count});
    stats_.scheduled_tokens += static_cast<uint64_t>(count);
    budget -= count;
    ++i;
  }
  budget_ = budget;
  preempted_this_step_ = preempted;
  return chunks_;
}

std::span<const ScheduledChunk> Scheduler::admit() {
  // Not in a step that had to preempt (the cache is full).
  const bool admitting =
      !preempted_this_step_ && budget_ > 0 && static_cast<int>(running_.size()) < max_seqs_;
  window_cached_.clear();
  if (admitting && kv_.prefix_cache()) {
    for (size_t i = 0; i < waiting_.size() && i < static_cast<size_t>(kAdmitWindow); ++i)
      window_cached_.push_back(kv_.prefix_lookup(waiting_[i]->tokens(), reusable(*waiting_[i])));
  }
  while (admitting && budget_ > 0 && static_cast<int>(running_.size()) < max_seqs_ &&
         admit_next(budget_))
    budget_ -= chunks_.back().count;
  if (!chunks_.empty()) ++stats_.steps;
  return chunks_;
}

int Scheduler::extend(size_t i, int n_draft) {
  SB_CHECK(i < chunks_.size());
  ScheduledChunk& c = chunks_[i];
  SB_CHECK(c.start + c.count == c.seq->n_tokens);
  const int extra = std::min(n_draft, budget_);
  if (extra <= 0 || !kv_.seq_grow(c.seq->kv_seq, c.seq->n_tokens + extra)) return 0;
  c.count += extra;
  stats_.scheduled_tokens += static_cast<uint64_t>(extra);
  budget_ -= extra;
  return extra;
}

void Scheduler::computed() {
  for (const ScheduledChunk& c : chunks_) {
    SeqState* s = c.seq;
    s->n_computed = c.start + c.count;
    kv_.seq_commit(s->kv_seq, s->tokens(), std::min(s->n_computed, s->n_tokens));
  }
}

void Scheduler::rollback(SeqState* seq, int n_rejected) {
  SB_CHECK(seq->kv_seq >= 0 && n_rejected >= 0 && n_rejected <= seq->n_computed);
  if (n_rejected == 0) return;
  seq->n_computed -= n_rejected;
  kv_.seq_truncate(seq->kv_seq, seq->n_computed);
}

}  // namespace sb
