#include "core/step_plan.h"

#include <algorithm>
#include <cmath>

namespace sb {

Status StepPlan::init(DeviceArena& arena, int64_t max_tokens, int max_seqs, int64_t max_out_rows, int max_blocks) {
  SB_CHECK(max_tokens > 0 && max_seqs > 0 && max_out_rows > 0 && max_blocks > 0);
  max_tokens_ = max_tokens;
  max_seqs_ = max_seqs;
  max_out_ = max_out_rows;
  max_blocks_ = max_blocks;
  seqs_.reserve(static_cast<size_t>(max_seqs));
  host_.assign(static_cast<size_t>(kFields * max_tokens + max_out_rows + int64_t{max_seqs} * max_blocks), 0);
  SB_ASSIGN_OR_RETURN(device_, arena.alloc_ints(host_.size()));
  clear();
  return ok_status();
}

void StepPlan::clear() {
  n_tokens_ = 0;
  n_out_ = 0;
  seqs_.clear();
}

int StepPlan::add_seq(int32_t kv_seq) {
  SB_CHECK(n_seqs() < max_seqs_);
  seqs_.push_back(kv_seq);
  return n_seqs() - 1;
}

void StepPlan::add_token(int32_t id, int32_t pos, int32_t limit, int32_t slot, int32_t seq_row) {
  SB_CHECK(n_tokens_ < max_tokens_);
  host(kIds)[n_tokens_] = id;
  host(kPos)[n_tokens_] = pos;
  host(kLimit)[n_tokens_] = limit;
  host(kSlots)[n_tokens_] = slot;
  host(kTokenSeq)[n_tokens_] = seq_row;
  ++n_tokens_;
}

void StepPlan::add_out_row(int32_t row) {
  SB_CHECK(n_out_ < max_out_);
  host_[static_cast<size_t>(kFields * max_tokens_ + n_out_++)] = row;
}

Status StepPlan::upload(Backend& backend, const KvCache& kv) {
  SB_CHECK(kv.max_blocks_per_seq() == max_blocks_);
  int32_t* tables = host_.data() + kFields * max_tokens_ + max_out_;
  for (size_t r = 0; r < seqs_.size(); ++r) {
    const auto table = kv.seq_block_table(seqs_[r]);
    std::copy(table.begin(), table.end(), tables + r * static_cast<size_t>(max_blocks_));
  }
  return backend.copy_to_device(device_, host_.data(), host_.size() * sizeof(int32_t));
}

AttentionOp StepPlan::attention(const ModelConfig& c, int block_size, int64_t n_slots) const {
  AttentionOp att;
  att.pos = device_ + kLimit * max_tokens_;
  att.token_seq = device_ + kTokenSeq * max_tokens_;
  att.block_tables = device_ + kFields * max_tokens_ + max_out_;
  att.n_tokens = n_tokens_;
  att.n_seqs = n_seqs();
  att.n_head = c.n_head;
  att.n_kv_head = c.n_kv_head;
  att.head_dim = c.head_dim;
  att.block_size = block_size;
  att.max_blocks = max_blocks_;
  att.n_slots = n_slots;
  att.scale = c.attn_scale > 0 ? c.attn_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  att.softcap = c.attn_softcap;
  return att;
}

}  // namespace sb
