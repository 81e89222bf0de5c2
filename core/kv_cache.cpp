#include "core/kv_cache.h"

#include <algorithm>

#include "core/base/status.h"
#include "core/random.h"

namespace sb {

namespace {
constexpr uint64_t kRootHash = 0x6b76636163686521ull;  // the parent hash of a sequence's first block

size_t table_size_for(int n_blocks) {
  size_t n = 1;
  while (n < 2 * static_cast<size_t>(n_blocks)) n *= 2;
  return n;
}
}  // namespace

KvCache::KvCache(int n_blocks, int block_size, int max_seqs, int max_seq_len, bool prefix_cache)
    : n_blocks_(n_blocks),
      block_size_(block_size),
      max_seq_len_(max_seq_len),
      max_blocks_per_seq_((max_seq_len + block_size - 1) / block_size),
      prefix_cache_(prefix_cache),
      seqs_(static_cast<size_t>(max_seqs)),
      blocks_(static_cast<size_t>(n_blocks)) {
  SB_CHECK(n_blocks > 0 && block_size > 0 && max_seqs > 0 && max_seq_len > 0);
  for (Seq& s : seqs_) s.blocks.reserve(static_cast<size_t>(max_blocks_per_seq_));
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 is taken first
  if (prefix_cache) {
    block_tokens_.resize(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size));
    table_.assign(table_size_for(n_blocks), -1);
  }
}

const KvCache::Seq& KvCache::live_seq(int seq) const {
  SB_CHECK(seq >= 0 && seq < max_seqs() && seqs_[static_cast<size_t>(seq)].live);
  return seqs_[static_cast<size_t>(seq)];
}

KvCache::Seq& KvCache::live_seq(int seq) {
  return const_cast<Seq&>(static_cast<const KvCache*>(this)->live_seq(seq));
}

int KvCache::seq_create() {
  for (size_t i = 0; i < seqs_.size(); ++i) {
    if (!seqs_[i].live) {
      seqs_[i].live = true;
      seqs_[i].length = 0;
      seqs_[i].n_committed = 0;
      return static_cast<int>(i);
    }
  }
  return -1;
}

void KvCache::seq_free(int seq) {
  Seq& s = live_seq(seq);
  // Deepest block first, so the LRU order evicts a prefix from its end.
  while (!s.blocks.empty()) {
    release(s.blocks.back());
    s.blocks.pop_back();
  }
  s.length = 0;
  s.n_committed = 0;
  s.live = false;
}

bool KvCache::seq_grow(int seq, int len) {
  Seq& s = live_seq(seq);
  SB_CHECK(len >= s.length);
  if (len > max_seq_len_) return false;
  const size_t need = static_cast<size_t>((len + block_size_ - 1) / block_size_);
  if (need > s.blocks.size() + static_cast<size_t>(n_free_blocks())) return false;
  while (s.blocks.size() < need) s.blocks.push_back(take_block());
  s.length = len;
  return true;
}

void KvCache::seq_truncate(int seq, int len) {
  Seq& s = live_seq(seq);
  SB_CHECK(len >= s.n_committed * block_size_ && len <= s.length);
  const size_t keep = static_cast<size_t>((len + block_size_ - 1) / block_size_);
  while (s.blocks.size() > keep) {
    release(s.blocks.back());
    s.blocks.pop_back();
  }
  s.length = len;
}

int KvCache::seq_length(int seq) const { return live_seq(seq).length; }

std::span<const int32_t> KvCache::seq_block_table(int seq) const { return live_seq(seq).blocks; }

int32_t KvCache::seq_slot(int seq, int pos) const {
  const Seq& s = live_seq(seq);
  SB_CHECK(pos >= 0 && pos < s.length);
  return s.blocks[static_cast<size_t>(pos / block_size_)] * block_size_ + pos % block_size_;
}

int32_t KvCache::take_block() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else {
    b = lru_head_;
    SB_CHECK(b >= 0);
    lru_unlink(b);
    table_erase(b);
    Block& blk = blocks_[static_cast<size_t>(b)];
    blk.cached = false;
    ++blk.gen;
    --n_cached_;
  }
  blocks_[static_cast<size_t>(b)].refs = 1;
  return b;
}

void KvCache::acquire(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  SB_CHECK(blk.cached);
  if (blk.refs++ == 0) lru_unlink(b);
}

void KvCache::release(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  SB_CHECK(blk.refs > 0);
  if (--blk.refs > 0) return;
  if (!blk.cached) {
    free_.push_back(b);
    return;
  }
  blk.lru_prev = lru_tail_;
  blk.lru_next = -1;
  if (lru_tail_ >= 0) {
    blocks_[static_cast<size_t>(lru_tail_)].lru_next = b;
  } else {
    lru_head_ = b;
  }
  lru_tail_ = b;
  ++n_evictable_;
}

void KvCache::lru_unlink(int32_t b) {
  Block& blk = blocks_[static_cast<size_t>(b)];
  if (blk.lru_prev >= 0) {
    blocks_[static_cast<size_t>(blk.lru_prev)].lru_next = blk.lru_next;
  } else {
    lru_head_ = blk.lru_next;
  }
  if (blk.lru_next >= 0) {
    blocks_[static_cast<size_t>(blk.lru_next)].lru_prev = blk.lru_prev;
  } else {
    lru_tail_ = blk.lru_prev;
  }
  blk.lru_prev = blk.lru_next = -1;
  --n_evictable_;
}

uint64_t KvCache::chain_hash(int32_t parent, std::span<const int32_t> tokens) const {
  uint64_t h = parent < 0 ? kRootHash : blocks_[static_cast<size_t>(parent)].hash;
  for (int32_t t : tokens) h = splitmix64(h ^ static_cast<uint32_t>(t));
  return h;
}

int32_t KvCache::find(uint64_t hash, int32_t parent, std::span<const int32_t> tokens) const {
  const uint32_t parent_gen = parent < 0 ? 0 : blocks_[static_cast<size_t>(parent)].gen;
  const size_t mask = table_.size() - 1;
  for (size_t i = hash & mask; table_[i] >= 0; i = (i + 1) & mask) {
    const int32_t b = table_[i];
    const Block& blk = blocks_[static_cast<size_t>(b)];
    if (blk.hash != hash || blk.parent != parent || blk.parent_gen != parent_gen) continue;
    const auto stored = block_tokens_.begin() + static_cast<ptrdiff_t>(b) * block_size_;
    if (std::equal(tokens.begin(), tokens.end(), stored)) return b;
  }
  return -1;
}

void KvCache::table_insert(int32_t b) {
  const size_t mask = table_.size() - 1;
  size_t i = blocks_[static_cast<size_t>(b)].hash & mask;
  while (table_[i] >= 0) i = (i + 1) & mask;
  table_[i] = b;
}

void KvCache::table_erase(int32_t b) {
  const size_t mask = table_.size() - 1;
  size_t i = blocks_[static_cast<size_t>(b)].hash & mask;
  while (table_[i] != b) i = (i + 1) & mask;
  // Backward-shift deletion: move later entries of the probe run into the hole
  // unless their home slot lies cyclically in (hole, entry].
  for (size_t j = (i + 1) & mask; table_[j] >= 0; j = (j + 1) & mask) {
    const size_t home = blocks_[static_cast<size_t>(table_[j])].hash & mask;
    const bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (stays) continue;
    table_[i] = table_[j];
    i = j;
  }
  table_[i] = -1;
}

int KvCache::walk_prefix(std::span<const int32_t> tokens, int max_tokens, std::vector<int32_t>* blocks) const {
  if (!prefix_cache_) return 0;
  const int n_full = std::min(max_tokens, static_cast<int>(tokens.size())) / block_size_;
  int32_t parent = -1;
  int i = 0;
  for (; i < n_full; ++i) {
    const auto block = tokens.subspan(static_cast<size_t>(i) * static_cast<size_t>(block_size_),
                                      static_cast<size_t>(block_size_));
    parent = find(chain_hash(parent, block), parent, block);
    if (parent < 0) break;
    if (blocks != nullptr) blocks->push_back(parent);
  }
  return i * block_size_;
}

int KvCache::prefix_lookup(std::span<const int32_t> tokens, int max_tokens) const {
  return walk_prefix(tokens, max_tokens, nullptr);
}

int KvCache::seq_reuse_prefix(int seq, std::span<const int32_t> tokens, int max_tokens) {
  Seq& s = live_seq(seq);
  SB_CHECK(s.length == 0);
  s.length = walk_prefix(tokens, max_tokens, &s.blocks);
  for (int32_t b : s.blocks) acquire(b);
  s.n_committed = static_cast<int>(s.blocks.size());
  return s.length;
}

void KvCache::seq_commit(int seq, std::span<const int32_t> tokens, int n) {
  if (!prefix_cache_) return;
  Seq& s = live_seq(seq);
  SB_CHECK(n <= s.length && n <= static_cast<int>(tokens.size()));
  const int n_full = n / block_size_;
  for (int i = s.n_committed; i < n_full; ++i) {
    const int32_t parent = i > 0 ? s.blocks[static_cast<size_t>(i - 1)] : -1;  // committed: cached
    const auto block = tokens.subspan(static_cast<size_t>(i) * static_cast<size_t>(block_size_),
                                      static_cast<size_t>(block_size_));
    const uint64_t hash = chain_hash(parent, block);
    int32_t& own = s.blocks[static_cast<size_t>(i)];  // written by this sequence alone
    const int32_t twin = find(hash, parent, block);
    if (twin >= 0) {
      acquire(twin);
      release(own);
      own = twin;
      continue;
    }
    Block& blk = blocks_[static_cast<size_t>(own)];
    blk.cached = true;
    blk.hash = hash;
    blk.parent = parent;
    blk.parent_gen = parent < 0 ? 0 : blocks_[static_cast<size_t>(parent)].gen;
    std::copy(block.begin(), block.end(), block_tokens_.begin() + static_cast<ptrdiff_t>(own) * block_size_);
    table_insert(own);
    ++n_cached_;
  }
  s.n_committed = std::max(s.n_committed, n_full);
}

}  // namespace sb
