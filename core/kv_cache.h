// Paged KV-cache bookkeeping: a pool of fixed-size blocks and a block table per
// sequence. seq_grow() returns false ("no room", nothing changed) instead of
// failing, so the caller defers or preempts; seq_truncate() rolls back rejected
// tokens by freeing whole blocks past the new length, never copying. The K/V
// data lives in backend memory (Forward), at slot = block * block_size + offset.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sb {

class KvCache {
 public:
  // max_seqs live sequences of up to max_seq_len tokens each, sharing n_blocks blocks.
  KvCache(int n_blocks, int block_size, int max_seqs, int max_seq_len);

  int n_blocks() const { return n_blocks_; }
  int block_size() const { return block_size_; }
  int max_seqs() const { return static_cast<int>(seqs_.size()); }
  int max_blocks_per_seq() const { return max_blocks_per_seq_; }
  int n_free_blocks() const { return static_cast<int>(free_.size()); }

  // A new empty sequence id in [0, max_seqs), or -1 when all are in use.
  int seq_create();
  // Returns the sequence's blocks to the pool.
  void seq_free(int seq);
  // Sets the length to len >= current, taking blocks as needed; false when the
  // pool has too few free blocks or len > max_seq_len (then nothing changes).
  [[nodiscard]] bool seq_grow(int seq, int len);
  // Sets the length to len <= current; blocks wholly past len are freed.
  void seq_truncate(int seq, int len);
  int seq_length(int seq) const;
  std::span<const int32_t> seq_block_table(int seq) const;  // [ceil(length / block_size)]
  // Cache slot of position pos < length.
  int32_t seq_slot(int seq, int pos) const;

 private:
  struct Seq {
    bool live = false;
    int length = 0;
    std::vector<int32_t> blocks;  // capacity max_blocks_per_seq, reserved up front
  };
  const Seq& live_seq(int seq) const;
  Seq& live_seq(int seq);

  int n_blocks_;
  int block_size_;
  int max_seq_len_;
  int max_blocks_per_seq_;
  std::vector<Seq> seqs_;      // [max_seqs]
  std::vector<int32_t> free_;  // free block ids, taken from the back
};

}  // namespace sb
