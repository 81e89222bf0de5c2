// Continuous batching over the paged KV cache. A request is "tokens computed /
// tokens known" (no prefill or decode phases): each step gives the running
// requests, oldest first, up to what they still need to compute within a
// token budget (long prompts thereby run in chunks), then admits waiting
// requests while budget, sequence slots and KV room last. When the cache has
// no room the most recently admitted request is preempted: its blocks are
// freed and it waits to be recomputed from its tokens. Never fails; the caller
// guarantees that any one request fits the cache alone (then the oldest always
// progresses). With speculation a step is planned in three calls: the running
// requests' known tokens (plan_running, which says whom it preempted), draft
// tokens added to chunks that reach their request's last known token (extend:
// from the budget left, never preempting), then admissions (admit). After the
// step's forward, computed() records what is in the cache, and rollback()
// drops the positions of rejected draft tokens. Allocates nothing per step.
//
// With a prefix cache (KvCache) a request starts at its longest cached prefix,
// at most floor((n_tokens - 1) / block_size) blocks (its last known token is
// always computed, for its logits), and blocks are committed by the caller.
// Admission then picks, among the first kAdmitWindow waiting requests, the one
// with the most cached tokens (the oldest on ties), except that:
//  - a request whose next uncached block is being computed by a running request
//    (same tokens up to that block's end) is deferred, so requests sharing a
//    prompt compute it once; a request is deferred in at most kMaxDeferSteps
//    steps, then admitted like any other;
//  - a request overtaken kMaxOvertaken times by requests behind it goes first
//    (oldest such first), so every request is overtaken at most that often.
// Preempted requests are readmitted first, oldest first.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "core/kv_cache.h"

namespace sb {

// One request as the scheduler sees it.
struct SeqState {
  uint64_t id = 0;     // the owner's request id
  int n_tokens = 0;    // tokens known: prompt + generated (the owner keeps them)
  int n_computed = 0;  // leading tokens whose K/V are in the cache
  int kv_seq = -1;     // KvCache sequence while running, else -1
  const int32_t* token_ids = nullptr;  // [n_tokens] the owner's ids; needed with a prefix cache
  int n_deferred = 0;   // steps admission deferred it (scheduler bookkeeping)
  int n_overtaken = 0;  // requests admitted before it from behind it (scheduler bookkeeping)
  uint64_t deferred_in_step = 0;  // the last step that counted in n_deferred

  std::span<const int32_t> tokens() const { return {token_ids, static_cast<size_t>(token_ids ? n_tokens : 0)}; }
};

// Tokens [start, start + count) of seq are computed this step; those at
// n_tokens and beyond are draft tokens (see Scheduler::extend).
struct ScheduledChunk {
  SeqState* seq;
  int start;
  int count;
};

struct SchedulerStats {
  uint64_t steps = 0;
  uint64_t preemptions = 0;
  uint64_t scheduled_tokens = 0;
  uint64_t cached_tokens = 0;  // known tokens taken from the prefix cache at first admission
};

class Scheduler {
 public:
  static constexpr int kAdmitWindow = 64;
  static constexpr int kMaxDeferSteps = 16;
  static constexpr int kMaxOvertaken = 64;

  // max_batch_tokens: tokens per step; max_seqs: concurrently running requests
  // (at most kv.max_seqs()).
  Scheduler(KvCache& kv, int max_batch_tokens, int max_seqs);

  // Queues a request (n_tokens >= 1, nothing computed) behind the waiting ones.
  // It must stay at this address until finish().
  void add(SeqState* seq);
  // Plans one step: grows every scheduled sequence's KV to start + count.
  // Valid until the next call. Empty only when nothing is queued or running.
  // Same as plan_running() then admit().
  std::span<const ScheduledChunk> schedule();
  // The running requests' part of the plan (the span grows in admit()).
  std::span<const ScheduledChunk> plan_running();
  // The requests the last plan_running() preempted (their KV freed, to be
  // recomputed), the most recently admitted first. Valid until the next call.
  std::span<SeqState* const> preempted() const { return preempted_now_; }
  // Adds up to n_draft draft tokens to chunk i of the plan, which must reach its
  // request's last known token, within the budget left and the KV room (grows the
  // KV; never preempts). Returns how many were added.
  int extend(size_t i, int n_draft);
  int budget_left() const { return budget_; }
  // Admits waiting requests with the budget left (not in a step that had to
  // preempt) and returns the whole plan.
  std::span<const ScheduledChunk> admit();
  // After the plan's forward: every chunk's tokens are in the cache (n_computed
  // = start + count), and the full blocks of its known tokens are committed to
  // the prefix cache (draft tokens never are).
  void computed();
  // Drops the last n_rejected computed positions of a running request (draft
  // tokens the target rejected): n_computed and its KV shrink by them.
  void rollback(SeqState* seq, int n_rejected);
  // Releases a running request's KV and forgets it.
  void finish(SeqState* seq);
  // Forgets every request still waiting for its first admission (nothing of it
  // computed; preempted requests stay) and returns them, oldest first.
  std::vector<SeqState*> cancel_waiting();

  int n_running() const { return static_cast<int>(running_.size()); }
  int n_waiting() const { return static_cast<int>(waiting_.size() + preempted_.size()); }
  const SchedulerStats& stats() const { return stats_; }

  // The currently running requests, oldest first.
  std::span<SeqState* const> running() const { return running_; }

 private:
  // Frees the most recently admitted running request; it is readmitted first.
  void preempt_last();
  // Starts the next waiting request with a chunk of at most `budget` tokens;
  // false (nothing changed) when there is none or no KV room.
  bool admit_next(int budget);
  // Position in waiting_ of the request admission takes next, or -1 (all deferred).
  int pick_waiting();
  // Whether a running request is computing the block of s that follows its cached tokens.
  bool next_block_in_flight(const SeqState& s, int cached) const;
  // Tokens of s that admission may take from the prefix cache at most.
  int reusable(const SeqState& s) const;

  KvCache& kv_;
  int max_batch_tokens_;
  int max_seqs_;
  std::deque<SeqState*> waiting_;         // FIFO of requests never admitted
  std::vector<SeqState*> preempted_;      // [<= max_seqs] readmitted first, from the back (oldest)
  std::vector<SeqState*> running_;        // [<= max_seqs] in admission order
  std::vector<SeqState*> preempted_now_;  // [<= max_seqs] by the last plan_running()
  std::vector<ScheduledChunk> chunks_;    // [<= max_seqs] this step's plan
  std::vector<int> window_cached_;        // [<= kAdmitWindow] cached tokens of waiting_'s first entries, per admit()
  int budget_ = 0;                        // tokens the plan leaves
  bool preempted_this_step_ = false;
  SchedulerStats stats_;
};

}  // namespace sb
