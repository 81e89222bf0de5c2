// `specbatch merge` on hand-made shard outputs: input order restored from plain and
// zstd shards (in order or not), duplicates dropped and reported, missing indices
// listed with exit 3, totals from manifests or --expect, mismatched manifests
// refused; and on real runs: shards 0/3, 1/3, 2/3 merged equal the unsharded run.
#include <zstd.h>

#include <filesystem>

#include "cli/cli_test_util.h"

using sb::test::greedy_run_of;
using sb::test::numbered_prompts;
using sb::test::read_file;
using sb::test::records_by_index;
using sb::test::run_cli;
using sb::test::with;
using sb::test::write_file;

namespace {

std::string rec(uint64_t i) { return "{\"index\":" + std::to_string(i) + ",\"id\":null,\"text\":\"t" + std::to_string(i) + "\"}\n"; }

std::string lines(const std::vector<uint64_t>& indices) {
  std::string s;
  for (uint64_t i : indices) s += rec(i);
  return s;
}

// Two independent zstd frames, the way `run -o X.zst` writes them.
std::string zstd_frames(const std::string& a, const std::string& b) {
  std::string out;
  for (const std::string* part : {&a, &b}) {
    std::string z(ZSTD_compressBound(part->size()), '\0');
    z.resize(ZSTD_compress(z.data(), z.size(), part->data(), part->size(), 3));
    out += z;
  }
  return out;
}

void write_manifest(const std::string& out, const std::string& shard, const std::string& max_tokens, int total) {
  write_file(out + ".manifest.json",
             "{\"specbatch_manifest\":1,\"fingerprint\":{\"max_tokens\":\"" + max_tokens + "\",\"shard\":\"" + shard +
                 "\"},\"info\":{" + (total >= 0 ? "\"input_records\":\"" + std::to_string(total) + "\"" : "") + "}}\n");
}

}  // namespace

TEST_CASE("merge restores input order from 3 shards, plain and zstd, with totals from manifests") {
  const std::string dir = sb::test::scratch_dir("merge_ok");
  write_file(dir + "/s0.jsonl", lines({0, 3, 6, 9}));
  write_file(dir + "/s1.jsonl.zst", zstd_frames(lines({1, 4}), lines({7})));
  write_file(dir + "/s2.jsonl", lines({2, 5, 8}));
  write_manifest(dir + "/s0.jsonl", "0/3", "8", 10);
  write_manifest(dir + "/s1.jsonl.zst", "1/3", "8", 10);
  write_manifest(dir + "/s2.jsonl", "2/3", "8", 10);
  auto r = run_cli({"merge", dir + "/s2.jsonl", dir + "/s0.jsonl", dir + "/s1.jsonl.zst", "-o", dir + "/all.jsonl"});
  CHECK(r.exit_code == 0);
  CAPTURE(r.err);
  CHECK(read_file(dir + "/all.jsonl") == lines({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  CHECK(r.err.find("merged 10 records from 3 file(s)") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir + "/all.jsonl.tmp"));
  // The merged file gets a manifest of an unsharded run.
  const std::string m = read_file(dir + "/all.jsonl.manifest.json");
  CHECK(m.find("\"shard\":\"0/1\"") != std::string::npos);
  CHECK(m.find("\"input_records\":\"10\"") != std::string::npos);

  // An existing output is not replaced without --overwrite; zstd and stdout outputs.
  auto again = run_cli({"merge", dir + "/s0.jsonl", "-o", dir + "/all.jsonl"});
  CHECK(again.exit_code == 1);
  CHECK(again.err.find("--overwrite") != std::string::npos);
  auto z = run_cli({"merge", dir + "/s0.jsonl", dir + "/s1.jsonl.zst", dir + "/s2.jsonl", "-o", dir + "/all.zst"});
  CHECK(z.exit_code == 0);
  const std::string zbytes = read_file(dir + "/all.zst");
  std::string plain(ZSTD_getFrameContentSize(zbytes.data(), zbytes.size()), '\0');
  CHECK(ZSTD_decompress(plain.data(), plain.size(), zbytes.data(), zbytes.size()) == plain.size());
  CHECK(plain == lines({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  auto out = run_cli({"merge", dir + "/s0.jsonl", dir + "/s1.jsonl.zst", dir + "/s2.jsonl"});
  CHECK(out.exit_code == 0);
  CHECK(out.out == lines({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST_CASE("merge drops and reports duplicates, lists missing indices and exits 3") {
  const std::string dir = sb::test::scratch_dir("merge_missing");
  write_file(dir + "/a.jsonl", lines({0, 2, 3, 3, 9}));
  write_file(dir + "/b.jsonl", lines({1, 2, 5}));
  auto r = run_cli({"merge", dir + "/a.jsonl", dir + "/b.jsonl", "--expect", "12"});
  CHECK(r.exit_code == 3);
  CHECK(r.out == lines({0, 1, 2, 3, 5, 9}));
  CHECK(r.err.find("dropped 2 duplicate record(s)") != std::string::npos);
  CHECK(r.err.find("6 of 12 records missing, indices 4, 6-8, 10-11") != std::string::npos);

  // Without a total only gaps below the largest index are found, with a note.
  auto g = run_cli({"merge", dir + "/a.jsonl", dir + "/b.jsonl"});
  CHECK(g.exit_code == 3);
  CHECK(g.err.find("indices 4, 6-8") != std::string::npos);
  CHECK(g.err.find("--expect") != std::string::npos);
}

TEST_CASE("merge handles shards written in completion order") {
  const std::string dir = sb::test::scratch_dir("merge_unordered");
  write_file(dir + "/a.jsonl", lines({4, 0, 2}));
  write_file(dir + "/b.jsonl.zst", zstd_frames(lines({5, 3}), lines({1, 3})));
  auto r = run_cli({"merge", dir + "/a.jsonl", dir + "/b.jsonl.zst", "--expect", "6"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == lines({0, 1, 2, 3, 4, 5}));
  CHECK(r.err.find("dropped 1 duplicate") != std::string::npos);
}

TEST_CASE("merge refuses shards of different runs, and damaged inputs") {
  const std::string dir = sb::test::scratch_dir("merge_refuse");
  write_file(dir + "/a.jsonl", lines({0}));
  write_file(dir + "/b.jsonl", lines({1}));
  write_manifest(dir + "/a.jsonl", "0/2", "8", 2);
  write_manifest(dir + "/b.jsonl", "1/2", "16", 2);
  auto r = run_cli({"merge", dir + "/a.jsonl", dir + "/b.jsonl"});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("different inputs or settings") != std::string::npos);
  CHECK(r.err.find("max_tokens: 8 before, 16 now") != std::string::npos);

  write_manifest(dir + "/b.jsonl", "1/2", "8", 3);
  auto t = run_cli({"merge", dir + "/a.jsonl", dir + "/b.jsonl"});
  CHECK(t.exit_code == 1);
  CHECK(t.err.find("input records") != std::string::npos);

  write_file(dir + "/c.jsonl", rec(0) + "{\"index\":1,\"te");
  auto torn = run_cli({"merge", dir + "/c.jsonl", "-o", dir + "/m.jsonl"});
  CHECK(torn.exit_code == 1);
  CHECK(torn.err.find("c.jsonl:2") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir + "/m.jsonl"));
}

TEST_CASE("shards 0/3, 1/3, 2/3 merged equal the unsharded run; a deleted record is reported") {
  const std::string dir = sb::test::scratch_dir("resume_shards");
  write_file(dir + "/in.jsonl", numbered_prompts(20));
  auto whole = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", dir + "/all.jsonl"}));
  REQUIRE(whole.exit_code == 0);
  std::vector<std::string> shards;
  for (int k = 0; k < 3; ++k) {
    const std::string out = dir + "/s" + std::to_string(k) + (k == 1 ? ".jsonl.zst" : ".jsonl");
    auto r = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--shard", std::to_string(k) + "/3"}));
    REQUIRE(r.exit_code == 0);
    for (const auto& [index, line] : records_by_index(out)) CHECK(index % 3 == static_cast<uint64_t>(k));
    shards.push_back(out);
  }
  auto merged = run_cli({"merge", shards[2], shards[0], shards[1], "-o", dir + "/merged.jsonl"});
  CHECK(merged.exit_code == 0);
  CHECK(read_file(dir + "/merged.jsonl") == read_file(dir + "/all.jsonl"));

  // Delete index 5 from the plain shard 2/3.
  std::string s2;
  for (const auto& [index, line] : records_by_index(shards[2]))
    if (index != 5) s2 += line + "\n";
  write_file(shards[2], s2);
  auto missing = run_cli({"merge", shards[0], shards[1], shards[2], "-o", dir + "/m2.jsonl"});
  CHECK(missing.exit_code == 3);
  CHECK(missing.err.find("1 of 20 records missing, indices 5") != std::string::npos);

  auto bad = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"--shard", "3/3"}));
  CHECK(bad.exit_code == 2);
  auto unset = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"--shard", "auto"}));
  CHECK(unset.exit_code == 2);
  CHECK(unset.err.find("SLURM_ARRAY_TASK_ID") != std::string::npos);
}
