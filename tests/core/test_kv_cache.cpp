// The paged KV-cache allocator: block boundaries, "no room", truncation, reuse.
#include <doctest/doctest.h>

#include "core/kv_cache.h"

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
