// Continuous batching over the paged KV cache. A request is "tokens computed /
// tokens known" (no prefill or decode phases): each step gives the running
// requests, oldest first, up to what they still need to compute within a
// token budget (long prompts thereby run in chunks), then admits waiting
// requests while budget, sequence slots and KV room last. When the cache has
// no room the most recently admitted request is preempted: its blocks are
// freed and it waits to be recomputed from its tokens. Never fails; the caller
// guarantees that any one request fits the cache alone (then the oldest always
// progresses). Allocates nothing per step.
#pragma once

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "core/kv_cache.h"

namespace sb {

// One request as the scheduler sees it.
struct SeqState {
  int n_tokens = 0;    // tokens known: prompt + generated (the owner keeps them)
  int n_computed = 0;  // leading tokens whose K/V are in the cache
  int kv_seq = -1;     // KvCache sequence while running, else -1
};

// Tokens [start, start + count) of seq are computed this step.
struct ScheduledChunk {
  SeqState* seq;
  int start;
  int count;
};

struct SchedulerStats {
  uint64_t steps = 0;
  uint64_t preemptions = 0;
  uint64_t scheduled_tokens = 0;
};

class Scheduler {
 public:
  // max_batch_tokens: tokens per step; max_seqs: concurrently running requests
  // (at most kv.max_seqs()).
  Scheduler(KvCache& kv, int max_batch_tokens, int max_seqs);

  // Queues a request (n_tokens >= 1, nothing computed) behind the waiting ones.
  // It must stay at this address until finish().
  void add(SeqState* seq);
  // Plans one step: grows every scheduled sequence's KV to start + count.
  // Valid until the next call. Empty only when nothing is queued or running.
  std::span<const ScheduledChunk> schedule();
  // Releases a running request's KV and forgets it.
  void finish(SeqState* seq);

  int n_running() const { return static_cast<int>(running_.size()); }
  int n_waiting() const { return static_cast<int>(waiting_.size() + preempted_.size()); }
  const SchedulerStats& stats() const { return stats_; }

 private:
  // Frees the most recently admitted running request; it is readmitted first.
  void preempt_last();
  // Starts the next waiting request with a chunk of at most `budget` tokens;
  // false (nothing changed) when there is none or no KV room.
  bool admit_next(int budget);

  KvCache& kv_;
  int max_batch_tokens_;
  int max_seqs_;
  std::deque<SeqState*> waiting_;         // FIFO of requests never admitted
  std::vector<SeqState*> preempted_;      // [<= max_seqs] readmitted first, from the back (oldest)
  std::vector<SeqState*> running_;        // [<= max_seqs] in admission order
  std::vector<ScheduledChunk> chunks_;    // [<= max_seqs] this step's plan
  SchedulerStats stats_;
};

}  // namespace sb
