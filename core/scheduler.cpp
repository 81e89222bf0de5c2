#include "core/scheduler.h"

#include <algorithm>

#include "core/status.h"

namespace sb {

Scheduler::Scheduler(KvCache& kv, int max_batch_tokens, int max_seqs)
    : kv_(kv), max_batch_tokens_(max_batch_tokens), max_seqs_(max_seqs) {
  SB_CHECK(max_batch_tokens > 0 && max_seqs > 0 && max_seqs <= kv.max_seqs());
  preempted_.reserve(static_cast<size_t>(max_seqs));
  running_.reserve(static_cast<size_t>(max_seqs));
  chunks_.reserve(static_cast<size_t>(max_seqs));
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

void Scheduler::preempt_last() {
  SeqState* victim = running_.back();
  running_.pop_back();
  kv_.seq_free(victim->kv_seq);
  victim->kv_seq = -1;
  victim->n_computed = 0;
  preempted_.push_back(victim);
  ++stats_.preemptions;
}

bool Scheduler::admit_next(int budget) {
  std::vector<SeqState*>* from = !preempted_.empty() ? &preempted_ : nullptr;
  SeqState* s = from ? preempted_.back() : (waiting_.empty() ? nullptr : waiting_.front());
  if (s == nullptr) return false;
  const int count = std::min(s->n_tokens, budget);
  // Leave every running request room for one more block, so admission does
  // not force a preemption at the next step; a lone request needs none.
  const int blocks = (count + kv_.block_size() - 1) / kv_.block_size();
  if (kv_.n_free_blocks() - blocks < static_cast<int>(running_.size())) return false;
  const int seq = kv_.seq_create();
  SB_CHECK(seq >= 0);  // max_seqs <= kv.max_seqs()
  if (!kv_.seq_grow(seq, count)) {
    kv_.seq_free(seq);
    return false;
  }
  if (from) {
    preempted_.pop_back();
  } else {
    waiting_.pop_front();
  }
  s->kv_seq = seq;
  running_.push_back(s);
  chunks_.push_back({s, 0, count});
  stats_.scheduled_tokens += static_cast<uint64_t>(count);
  return true;
}

std::span<const ScheduledChunk> Scheduler::schedule() {
  plan_running();
  return admit();
}

std::span<const ScheduledChunk> Scheduler::plan_running() {
  chunks_.clear();
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
  while (!preempted_this_step_ && budget_ > 0 && static_cast<int>(running_.size()) < max_seqs_ &&
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

}  // namespace sb
