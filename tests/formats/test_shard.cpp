// Shards: K/N parsing, Slurm array variables (ids not starting at 0, steps, unset),
// and the reader skipping other shards' lines while keeping global indices.
#include <doctest/doctest.h>

#include "formats/jsonl_reader.h"
#include "formats/shard.h"
#include "test_util.h"

using sb::parse_shard;
using sb::SlurmArrayEnv;

TEST_CASE("--shard K/N") {
  auto s = parse_shard("1/3", {});
  REQUIRE(s.ok());
  CHECK(s->index == 1);
  CHECK(s->count == 3);
  CHECK(s->to_string() == "1/3");
  CHECK(s->keeps(4));
  CHECK_FALSE(s->keeps(3));
  CHECK(parse_shard("0/1", {})->keeps(12345));
  for (const char* bad : {"3/3", "1/0", "1", "a/3", "1/3x", "-1/3", "/3", ""}) {
    CAPTURE(bad);
    CHECK_FALSE(parse_shard(bad, {}).ok());
  }
}

TEST_CASE("--shard auto reads the Slurm array variables") {
  SlurmArrayEnv env;
  auto unset = parse_shard("auto", env);
  REQUIRE_FALSE(unset.ok());
  CHECK(unset.status().message().find("SLURM_ARRAY_TASK_ID is not set") != std::string::npos);

  env.task_id = "2";
  env.task_count = "4";
  CHECK(parse_shard("auto", env)->to_string() == "2/4");
  env.task_min = "1";  // --array=1-4: ids 1..4 are shards 0..3
  env.task_id = "4";
  CHECK(parse_shard("auto", env)->to_string() == "3/4");
  env.task_id = "5";
  CHECK_FALSE(parse_shard("auto", env).ok());

  SlurmArrayEnv stepped;  // --array=0-8:4: ids 0,4,8, no COUNT variable (older Slurm)
  stepped.task_id = "8";
  stepped.task_min = "0";
  stepped.task_max = "8";
  stepped.task_step = "4";
  CHECK(parse_shard("auto", stepped)->to_string() == "2/3");
  stepped.task_id = "6";
  CHECK_FALSE(parse_shard("auto", stepped).ok());

  SlurmArrayEnv no_count;
  no_count.task_id = "0";
  CHECK(parse_shard("auto", no_count).status().message().find("SLURM_ARRAY_TASK_COUNT") != std::string::npos);
  no_count.task_count = "x";
  CHECK(parse_shard("auto", no_count).status().message().find("not a number") != std::string::npos);
}

TEST_CASE("the reader keeps one shard's lines with their global indices, across files and blank lines") {
  const std::string dir = sb::test::scratch_dir("shard_reader");
  sb::test::write_file(dir + "/a.jsonl", "l0\n\nl1\nl2\n");
  sb::test::write_file(dir + "/b.jsonl", "l3\nl4\n\nl5\nl6");
  for (uint64_t k = 0; k < 3; ++k) {
    sb::JsonlReaderOptions opt;
    opt.shard = sb::Shard{k, 3};
    auto reader = sb::JsonlReader::open({dir + "/a.jsonl", dir + "/b.jsonl"}, opt);
    REQUIRE(reader.ok());
    sb::JsonlLine line;
    std::vector<uint64_t> got;
    while (*(*reader)->next(&line)) {
      CHECK(line.text == "l" + std::to_string(line.index));
      got.push_back(line.index);
    }
    std::vector<uint64_t> want;
    for (uint64_t i = k; i < 7; i += 3) want.push_back(i);
    CHECK(got == want);
    CHECK((*reader)->n_lines_seen() == 7);
  }
}
