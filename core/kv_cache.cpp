#include "core/kv_cache.h"

#include "core/status.h"

namespace sb {

KvCache::KvCache(int n_blocks, int block_size, int max_seqs, int max_seq_len)
    : n_blocks_(n_blocks),
      block_size_(block_size),
      max_seq_len_(max_seq_len),
      max_blocks_per_seq_((max_seq_len + block_size - 1) / block_size),
      seqs_(static_cast<size_t>(max_seqs)) {
  SB_CHECK(n_blocks > 0 && block_size > 0 && max_seqs > 0 && max_seq_len > 0);
  for (Seq& s : seqs_) s.blocks.reserve(static_cast<size_t>(max_blocks_per_seq_));
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 is taken first
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
      return static_cast<int>(i);
    }
  }
  return -1;
}

void KvCache::seq_free(int seq) {
  seq_truncate(seq, 0);
  seqs_[static_cast<size_t>(seq)].live = false;
}

bool KvCache::seq_grow(int seq, int len) {
  Seq& s = live_seq(seq);
  SB_CHECK(len >= s.length);
  if (len > max_seq_len_) return false;
  const size_t need = static_cast<size_t>((len + block_size_ - 1) / block_size_);
  if (need > s.blocks.size() + free_.size()) return false;
  while (s.blocks.size() < need) {
    s.blocks.push_back(free_.back());
    free_.pop_back();
  }
  s.length = len;
  return true;
}

void KvCache::seq_truncate(int seq, int len) {
  Seq& s = live_seq(seq);
  SB_CHECK(len >= 0 && len <= s.length);
  const size_t keep = static_cast<size_t>((len + block_size_ - 1) / block_size_);
  while (s.blocks.size() > keep) {
    free_.push_back(s.blocks.back());
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

}  // namespace sb
