// The plan of one batched run over a paged KV cache, shared by Forward and the
// DSpark drafter (FlashInfer's plan/run split): per token its id (or, for a
// gather, the source row), position, attention limit (the last position it
// attends to: its own for causal attention, a block's end for a DSpark block),
// KV slot and batch sequence row; the rows whose outputs are kept; and each
// batch sequence's block table. Built on the host, uploaded in one copy;
// sized at creation, it allocates nothing after.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/backend.h"
#include "core/base/status.h"
#include "core/device_arena.h"
#include "core/kv_cache.h"
#include "core/model/model_config.h"

namespace sb {

class StepPlan {
 public:
  StepPlan() = default;
  // Room for max_tokens tokens of max_seqs sequences (block tables of
  // max_blocks entries) and max_out_rows kept rows; the device copy comes from arena.
  Status init(DeviceArena& arena, int64_t max_tokens, int max_seqs, int64_t max_out_rows, int max_blocks);

  void clear();
  // Adds batch sequence row n_seqs() for KvCache sequence kv_seq and returns it.
  int add_seq(int32_t kv_seq);
  void add_token(int32_t id, int32_t pos, int32_t limit, int32_t slot, int32_t seq_row);
  void add_out_row(int32_t row);

  int64_t n_tokens() const { return n_tokens_; }
  int n_seqs() const { return static_cast<int>(seqs_.size()); }
  int64_t n_out_rows() const { return n_out_; }
  int64_t max_tokens() const { return max_tokens_; }
  int max_seqs() const { return max_seqs_; }
  // KvCache sequence of each batch sequence row.
  std::span<const int32_t> seqs() const { return seqs_; }

  // Copies the batch sequences' block tables from kv and uploads the plan.
  Status upload(Backend& backend, const KvCache& kv);
  // Backend memory, valid after upload().
  const int32_t* ids() const { return device_ + kIds * max_tokens_; }
  const int32_t* positions() const { return device_ + kPos * max_tokens_; }
  const int32_t* slots() const { return device_ + kSlots * max_tokens_; }
  const int32_t* out_rows() const { return device_ + kFields * max_tokens_; }
  // The attention over the plan's tokens and sequences for a model of config c
  // over a cache of n_slots slots in blocks of block_size; q, out and the
  // caches are the caller's (per layer).
  AttentionOp attention(const ModelConfig& c, int block_size, int64_t n_slots) const;

 private:
  // Per-token fields, max_tokens each, then the kept rows and the block tables.
  enum Field : int64_t { kIds, kPos, kLimit, kSlots, kTokenSeq, kFields };
  int32_t* host(Field f) { return host_.data() + f * max_tokens_; }

  int64_t max_tokens_ = 0;
  int max_seqs_ = 0;
  int64_t max_out_ = 0;
  int max_blocks_ = 0;
  int64_t n_tokens_ = 0;
  int64_t n_out_ = 0;
  std::vector<int32_t> seqs_;  // [max_seqs]
  std::vector<int32_t> host_;  // [kFields * max_tokens + max_out_rows + max_seqs * max_blocks]
  int32_t* device_ = nullptr;  // its copy in backend memory
};

}  // namespace sb
