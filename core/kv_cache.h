// Paged KV-cache bookkeeping: a pool of fixed-size blocks and a block table per
// sequence. seq_grow() returns false ("no room", nothing changed) instead of
// failing, so the caller defers or preempts; seq_truncate() rolls back rejected
// tokens by dropping this sequence's references to whole blocks past the new
// length, never copying. The K/V data lives in backend memory (Forward), at
// slot = block * block_size + offset.
//
// Prefix cache (when enabled): seq_commit() registers a sequence's full blocks
// of final tokens under (parent block, token ids); seq_reuse_prefix() gives a
// new sequence references to the cached blocks of its longest cached prefix.
// A hit compares the stored token ids and the parent block's identity, so a
// hash collision never shares wrong K/V. Blocks are reference-counted; a
// sequence only ever writes past its committed blocks, so a shared block is
// never written. Unreferenced cached blocks stay until their room is needed:
// growth takes free blocks first, then evicts the least recently released
// cached block (a sequence's deepest blocks before its first ones).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace sb {

class KvCache {
 public:
  // max_seqs live sequences of up to max_seq_len tokens each, sharing n_blocks blocks.
  KvCache(int n_blocks, int block_size, int max_seqs, int max_seq_len, bool prefix_cache = false);

  int n_blocks() const { return n_blocks_; }
  int block_size() const { return block_size_; }
  int max_seqs() const { return static_cast<int>(seqs_.size()); }
  int max_blocks_per_seq() const { return max_blocks_per_seq_; }
  bool prefix_cache() const { return prefix_cache_; }
  // Blocks growth can take: free ones and unreferenced cached ones.
  int n_free_blocks() const { return static_cast<int>(free_.size()) + n_evictable_; }
  int n_cached_blocks() const { return n_cached_; }  // registered, referenced or not

  // A new empty sequence id in [0, max_seqs), or -1 when all are in use.
  int seq_create();
  // Drops the sequence's block references (cached blocks stay cached).
  void seq_free(int seq);
  // Sets the length to len >= current, taking blocks as needed; false when the
  // pool has too few free blocks or len > max_seq_len (then nothing changes).
  [[nodiscard]] bool seq_grow(int seq, int len);
  // Sets the length to len <= current, never below the committed blocks;
  // references to blocks wholly past len are dropped.
  void seq_truncate(int seq, int len);
  int seq_length(int seq) const;
  std::span<const int32_t> seq_block_table(int seq) const;  // [ceil(length / block_size)]
  // Cache slot of position pos < length.
  int32_t seq_slot(int seq, int pos) const;

  // Leading tokens whose K/V are cached, in whole blocks and at most max_tokens;
  // 0 with the prefix cache off.
  int prefix_lookup(std::span<const int32_t> tokens, int max_tokens) const;
  // On an empty sequence: references the cached blocks of the longest cached
  // prefix of tokens (as prefix_lookup) and sets the length to it; returns it.
  int seq_reuse_prefix(int seq, std::span<const int32_t> tokens, int max_tokens);
  // Registers the sequence's full blocks within its first n positions, whose
  // K/V are computed and final (tokens = the sequence's ids). A block identical
  // to one already cached is swapped for it, so both sequences share it.
  void seq_commit(int seq, std::span<const int32_t> tokens, int n);

 private:
  struct Seq {
    bool live = false;
    int length = 0;
    int n_committed = 0;          // leading blocks registered in the prefix cache
    std::vector<int32_t> blocks;  // capacity max_blocks_per_seq, reserved up front
  };
  struct Block {
    int32_t refs = 0;
    bool cached = false;      // in table_ with hash, parent, parent_gen and block_tokens_
    uint64_t hash = 0;        // of (parent's hash, token ids)
    int32_t parent = -1;      // previous block of the prefix, -1 for the first
    uint32_t parent_gen = 0;  // the parent's gen when this block was registered
    uint32_t gen = 0;         // bumped when the block leaves the cache (its id then means other tokens)
    int32_t lru_prev = -1;    // unreferenced cached blocks, least recently released first
    int32_t lru_next = -1;
  };
  const Seq& live_seq(int seq) const;
  Seq& live_seq(int seq);

  // A block with one reference: a free one, else the least recently released cached one.
  int32_t take_block();
  void acquire(int32_t b);  // one more reference to a cached block
  void release(int32_t b);  // one reference less
  void lru_unlink(int32_t b);
  // Length of the cached prefix of tokens (whole blocks, at most max_tokens),
  // appending its blocks to *blocks when given.
  int walk_prefix(std::span<const int32_t> tokens, int max_tokens, std::vector<int32_t>* blocks) const;
  // The cached block holding tokens after parent, or -1.
  int32_t find(uint64_t hash, int32_t parent, std::span<const int32_t> tokens) const;
  void table_insert(int32_t b);
  void table_erase(int32_t b);
  uint64_t chain_hash(int32_t parent, std::span<const int32_t> tokens) const;

  int n_blocks_;
  int block_size_;
  int max_seq_len_;
  int max_blocks_per_seq_;
  bool prefix_cache_;
  std::vector<Seq> seqs_;      // [max_seqs]
  std::vector<int32_t> free_;  // free block ids, taken from the back
  std::vector<Block> blocks_;  // [n_blocks]
  std::vector<int32_t> block_tokens_;  // [n_blocks, block_size] token ids of cached blocks
  std::vector<int32_t> table_;         // [power of two >= 2 n_blocks] open addressing by hash, -1 empty
  int32_t lru_head_ = -1;  // evicted first
  int32_t lru_tail_ = -1;
  int n_evictable_ = 0;
  int n_cached_ = 0;
};

}  // namespace sb
