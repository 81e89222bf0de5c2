// The paged KV-cache allocator: block boundaries, "no room", truncation, reuse;
// the prefix cache: exact lookup, shared blocks, twins, LRU eviction order.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "core/kv_cache.h"

namespace {
std::vector<int32_t> iota_tokens(int n, int32_t first) {
  std::vector<int32_t> t(static_cast<size_t>(n));
  std::iota(t.begin(), t.end(), first);
  return t;
}

// A sequence that computed `tokens` (all of them final) and committed them.
int computed_seq(sb::KvCache& kv, const std::vector<int32_t>& tokens) {
  const int s = kv.seq_create();
  REQUIRE(s >= 0);
  REQUIRE(kv.seq_grow(s, static_cast<int>(tokens.size())));
  kv.seq_commit(s, tokens, static_cast<int>(tokens.size()));
  return s;
}
}  // namespace

TEST_CASE("kv cache grows across block boundaries and maps slots") {
  sb::KvCache kv(5, 4, 3, 17);
  CHECK(kv.max_blocks_per_seq() == 5);
  const int a = kv.seq_create();
  REQUIRE(a >= 0);
  CHECK(kv.seq_length(a) == 0);
  REQUIRE(kv.seq_grow(a, 4));  // exactly one block
  CHECK(kv.seq_block_table(a).size() == 1);
  REQUIRE(kv.seq_grow(a, 5));  // first position of the second block
  CHECK(kv.seq_block_table(a).size() == 2);
  CHECK(kv.n_free_blocks() == 3);
  const auto table = kv.seq_block_table(a);
  CHECK(kv.seq_slot(a, 3) == table[0] * 4 + 3);
  CHECK(kv.seq_slot(a, 4) == table[1] * 4 + 0);
  CHECK(table[0] != table[1]);
}

TEST_CASE("kv cache reports no room without changing anything") {
  sb::KvCache kv(3, 4, 2, 40);
  const int a = kv.seq_create(), b = kv.seq_create();
  CHECK(kv.seq_create() == -1);  // all sequence slots in use
  REQUIRE(kv.seq_grow(a, 9));    // 3 blocks: the whole pool
  CHECK(kv.n_free_blocks() == 0);
  CHECK_FALSE(kv.seq_grow(b, 1));
  CHECK(kv.seq_length(b) == 0);
  CHECK_FALSE(kv.seq_grow(a, 13));
  CHECK(kv.seq_length(a) == 9);
  CHECK(kv.seq_block_table(a).size() == 3);
  sb::KvCache small(10, 4, 1, 6);
  const int c = small.seq_create();
  CHECK_FALSE(small.seq_grow(c, 7));  // longer than max_seq_len
  CHECK(small.seq_grow(c, 6));
}

TEST_CASE("kv cache truncation frees whole blocks only, and freed blocks are reused") {
  sb::KvCache kv(4, 4, 2, 16);
  const int a = kv.seq_create();
  REQUIRE(kv.seq_grow(a, 11));  // 3 blocks
  const int32_t second = kv.seq_block_table(a)[1];
  kv.seq_truncate(a, 5);        // still needs 2 blocks
  CHECK(kv.seq_length(a) == 5);
  CHECK(kv.seq_block_table(a).size() == 2);
  CHECK(kv.seq_block_table(a)[1] == second);
  CHECK(kv.n_free_blocks() == 2);
  kv.seq_truncate(a, 4);  // exactly one block
  CHECK(kv.seq_block_table(a).size() == 1);
  kv.seq_truncate(a, 0);
  CHECK(kv.n_free_blocks() == 4);
  REQUIRE(kv.seq_grow(a, 16));
  CHECK(kv.n_free_blocks() == 0);
  kv.seq_free(a);
  CHECK(kv.n_free_blocks() == 4);
  const int b = kv.seq_create();
  CHECK(b == a);  // the slot is reused
  CHECK(kv.seq_length(b) == 0);
}

TEST_CASE("prefix cache: full committed blocks are found again, exactly, and shared") {
  sb::KvCache kv(8, 4, 3, 32, true);
  const auto t = iota_tokens(10, 100);  // two full blocks and a partial one
  const int a = computed_seq(kv, t);
  CHECK(kv.n_cached_blocks() == 2);  // the partial block is not registered
  CHECK(kv.prefix_lookup(t, 10) == 8);
  CHECK(kv.prefix_lookup(t, 7) == 4);  // at most max_tokens, in whole blocks
  auto other = t;
  other[5] = 7;  // differs in the second block
  CHECK(kv.prefix_lookup(other, 10) == 4);
  other[0] = 7;
  CHECK(kv.prefix_lookup(other, 10) == 0);
  // The same second block after a different first block is another prefix.
  auto shifted = iota_tokens(4, 900);
  shifted.insert(shifted.end(), t.begin() + 4, t.begin() + 8);
  CHECK(kv.prefix_lookup(shifted, 8) == 0);

  const int b = kv.seq_create();
  CHECK(kv.seq_reuse_prefix(b, t, 8) == 8);
  CHECK(kv.seq_length(b) == 8);
  CHECK(kv.seq_block_table(b)[0] == kv.seq_block_table(a)[0]);
  CHECK(kv.seq_block_table(b)[1] == kv.seq_block_table(a)[1]);
  const int free_before = kv.n_free_blocks();
  REQUIRE(kv.seq_grow(b, 9));  // its own third block, never a shared one
  CHECK(kv.n_free_blocks() == free_before - 1);
  CHECK(kv.seq_block_table(b)[2] != kv.seq_block_table(a)[2]);
  kv.seq_truncate(b, 8);  // rollback to the shared part keeps the shared blocks
  CHECK(kv.seq_block_table(b).size() == 2);
  kv.seq_free(a);
  kv.seq_free(b);
  // Unreferenced cached blocks count as room and stay findable.
  CHECK(kv.n_free_blocks() == 8);
  CHECK(kv.n_cached_blocks() == 2);
  CHECK(kv.prefix_lookup(t, 10) == 8);
}

TEST_CASE("prefix cache: a block computed twice is swapped for the cached twin") {
  sb::KvCache kv(8, 4, 3, 32, true);
  const auto t = iota_tokens(8, 5);
  const int a = computed_seq(kv, t);
  const int b = computed_seq(kv, t);  // computed privately, at the same time
  CHECK(kv.seq_block_table(b)[0] == kv.seq_block_table(a)[0]);
  CHECK(kv.seq_block_table(b)[1] == kv.seq_block_table(a)[1]);
  CHECK(kv.n_cached_blocks() == 2);
  CHECK(kv.n_free_blocks() == 6);  // b's own copies went back to the pool
  kv.seq_free(a);
  CHECK(kv.n_free_blocks() == 6);  // still referenced by b
  kv.seq_free(b);
  CHECK(kv.n_free_blocks() == 8);
}

TEST_CASE("prefix cache: growth takes free blocks first, then evicts least recently released, deepest first") {
  sb::KvCache kv(6, 2, 3, 12, true);
  const auto x = iota_tokens(4, 10), y = iota_tokens(4, 20);
  kv.seq_free(computed_seq(kv, x));  // released first: evicted first
  kv.seq_free(computed_seq(kv, y));
  CHECK(kv.n_cached_blocks() == 4);
  CHECK(kv.n_free_blocks() == 6);
  const int s = kv.seq_create();
  REQUIRE(kv.seq_grow(s, 4));  // the two free blocks
  CHECK(kv.n_cached_blocks() == 4);
  REQUIRE(kv.seq_grow(s, 6));  // evicts x's second block: x keeps its first
  CHECK(kv.n_cached_blocks() == 3);
  CHECK(kv.prefix_lookup(x, 4) == 2);
  CHECK(kv.prefix_lookup(y, 4) == 4);
  // Reusing y takes its blocks out of the evictable set.
  const int r = kv.seq_create();
  CHECK(kv.seq_reuse_prefix(r, y, 4) == 4);
  CHECK(kv.n_free_blocks() == 1);
  REQUIRE(kv.seq_grow(s, 8));  // evicts x's first block, the only unreferenced one
  CHECK(kv.prefix_lookup(x, 4) == 0);
  CHECK_FALSE(kv.seq_grow(s, 10));  // y is referenced: no room
  CHECK(kv.prefix_lookup(y, 4) == 4);
  // The evicted blocks now hold s's tokens and are found as such.
  const auto z = iota_tokens(8, 50);
  kv.seq_commit(s, z, 8);
  CHECK(kv.prefix_lookup(z, 8) == 8);
  CHECK(kv.n_cached_blocks() == 6);
  kv.seq_free(r);
  kv.seq_free(s);
  CHECK(kv.n_free_blocks() == 6);
}

TEST_CASE("prefix cache off: nothing is registered or reused") {
  sb::KvCache kv(4, 4, 2, 16);
  const auto t = iota_tokens(8, 1);
  const int a = computed_seq(kv, t);
  CHECK(kv.n_cached_blocks() == 0);
  const int b = kv.seq_create();
  CHECK(kv.seq_reuse_prefix(b, t, 8) == 0);
  kv.seq_free(a);
  CHECK(kv.n_free_blocks() == 4);
  CHECK(kv.prefix_lookup(t, 8) == 0);
}
