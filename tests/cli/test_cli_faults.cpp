// Faults end to end on stories260K (greedy, so runs compare byte for byte): a second
// writer is refused by the output's lock; hostile outputs (an index far beyond the
// input, repeated indices, a missing or damaged manifest) are refused with what to
// do; a run that fails before its first record leaves nothing behind; a full disk is
// a fatal error that leaves a resumable file; damaged inputs give an error record or
// a fatal error naming the byte offset; a merged incomplete set resumes into order.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <thread>
#include <tuple>

#include "cli/cli_test_util.h"

using sb::test::read_file;
using sb::test::records_by_index;
using sb::test::run_cli;
using sb::test::shell_quote;
using sb::test::stories_model;
using sb::test::write_file;

namespace {

std::string prompts(int n, int first = 0) {
  std::string s;
  for (int i = first; i < first + n; ++i)
    s += "{\"id\":\"r" + std::to_string(i) + "\",\"prompt\":\"Once upon a time " + std::to_string(i) +
         "\",\"max_tokens\":" + std::to_string(4 + i % 13) + "}\n";
  return s;
}

std::vector<std::string> run_args(const std::string& input, const std::string& out,
                                  const std::vector<std::string>& more = {}) {
  std::vector<std::string> a = {"run", "-m", stories_model(), input, "-o", out, "--temperature", "0",
                                "--threads", "1", "--max-seqs", "4", "-q"};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

bool exists(const std::string& p) { return std::filesystem::exists(p); }

}  // namespace

TEST_CASE("one writer per output: a second run or a merge is refused at once while a run holds the output") {
  const std::string dir = sb::test::scratch_dir("faults_lock");
  const std::string out = dir + "/out.jsonl";
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  // The first run reads stdin, which stays open: it holds the lock until the test lets it end.
  const pid_t first = sb::test::spawn_cli(run_args("-", out), dir + "/log", pipe_fds[0]);
  ::close(pipe_fds[0]);
  const std::string lines = prompts(6);
  REQUIRE(::write(pipe_fds[1], lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
  // The manifest is written after the lock is taken and the model loaded.
  while (!exists(out + ".manifest.json")) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  write_file(dir + "/in.jsonl", prompts(6));
  for (const std::vector<std::string>& flags :
       std::vector<std::vector<std::string>>{{"--resume"}, {"--overwrite"}, {}}) {
    auto second = run_cli(run_args(dir + "/in.jsonl", out, flags));
    CAPTURE(second.err);
    CHECK(second.exit_code == 1);
    CHECK(second.err.find(out + ": another specbatch run is writing this output") != std::string::npos);
  }
  write_file(dir + "/other.jsonl", "");
  auto merge = run_cli({"merge", dir + "/other.jsonl", "-o", out, "--overwrite"});
  CHECK(merge.exit_code == 1);
  CHECK(merge.err.find("another specbatch run is writing this output") != std::string::npos);
  ::close(pipe_fds[1]);  // end of input: the first run finishes alone
  CHECK(sb::test::wait_exit(first) == 0);
  CHECK(records_by_index(out).size() == 6);  // each index once
  for (const auto& e : std::filesystem::directory_iterator(dir))  // no temporaries left behind
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
}

TEST_CASE("resume and merge refuse hostile outputs quickly and say what to do (issue 22, items 1, 8, 9)") {
  const std::string dir = sb::test::scratch_dir("faults_hostile");
  const std::string in = dir + "/in.jsonl", out = dir + "/out.jsonl", manifest = out + ".manifest.json";
  write_file(in, prompts(3));
  REQUIRE(run_cli(run_args(in, dir + "/ref.jsonl")).exit_code == 0);
  REQUIRE(run_cli(run_args(in, out)).exit_code == 0);
  const std::vector<std::string> ref = sb::test::split_lines(read_file(dir + "/ref.jsonl"));
  const std::string good_manifest = read_file(manifest);
  const auto resume = [&] { return run_cli(run_args(in, out, {"--resume"})); };

  // Item 1: an index of 2^64 - 1 was a dense set that size (std::bad_alloc); 4e9 cost 1 GB and was accepted.
  write_file(out, "{\"index\":18446744073709551615}\n");
  auto huge = resume();
  CHECK(huge.exit_code == 1);
  CHECK(huge.err.find("index 18446744073709551615, above any input's record count") != std::string::npos);
  write_file(out, ref[0] + "\n{\"index\":4000000000}\n");
  auto beyond = resume();
  CHECK(beyond.exit_code == 1);
  CHECK(beyond.err.find("holds a record with index 4000000000, but the input has only 3 records") != std::string::npos);
  auto merge_huge = run_cli({"merge", out, dir + "/ref.jsonl", "-o", dir + "/m.jsonl"});
  CHECK(merge_huge.exit_code == 3);  // beyond the 3 records its manifest counts
  CHECK(merge_huge.err.find("indices up to 4000000000 but only 3 were expected") != std::string::npos);

  // Item 8: repeated indices (two writers at once) are refused; merge keeps one line each, then resume fills in.
  write_file(manifest, good_manifest);
  write_file(out, ref[0] + "\n" + ref[0] + "\n" + ref[1] + "\n");
  auto dup = resume();
  CHECK(dup.exit_code == 1);
  CHECK(dup.err.find("1 records repeat an index written earlier in it") != std::string::npos);
  CHECK(dup.err.find("`specbatch merge " + out + " -o NEW`") != std::string::npos);
  auto fixed = run_cli({"merge", out, "-o", dir + "/fixed.jsonl"});
  CHECK(fixed.exit_code == 3);  // index 2 missing
  CHECK(read_file(dir + "/fixed.jsonl.manifest.json").find("\"complete\":\"false\"") != std::string::npos);
  CHECK(run_cli(run_args(in, dir + "/fixed.jsonl", {"--resume"})).exit_code == 0);
  CHECK(read_file(dir + "/fixed.jsonl") == read_file(dir + "/ref.jsonl"));

  // A missing, damaged or ambiguous manifest: refused, with what to do.
  write_file(out, ref[0] + "\n");
  std::filesystem::remove(manifest);
  auto missing = resume();
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("its manifest " + manifest + " is missing") != std::string::npos);
  CHECK(missing.err.find("Use --overwrite to start over") != std::string::npos);
  write_file(manifest, good_manifest.substr(0, good_manifest.size() / 2));
  auto damaged = resume();
  CHECK(damaged.exit_code == 1);
  CHECK(damaged.err.find("its manifest is damaged (" + manifest + ": not valid JSON)") != std::string::npos);
  CHECK(damaged.err.find("Restore the manifest, or use --overwrite to start over") != std::string::npos);
  std::string twice = good_manifest;
  twice.replace(twice.find("\"max_tokens\""), 0, "\"max_tokens\":\"1\",");
  write_file(manifest, twice);
  auto ambiguous = resume();
  CHECK(ambiguous.exit_code == 1);
  CHECK(ambiguous.err.find("key \"max_tokens\" appears twice in \"fingerprint\"") != std::string::npos);
  write_file(manifest, good_manifest);
  CHECK(resume().exit_code == 0);
  CHECK(read_file(out) == read_file(dir + "/ref.jsonl"));
}

TEST_CASE("a run that fails before its first record leaves nothing that blocks the retry") {
  const std::string dir = sb::test::scratch_dir("faults_early");
  const std::string out = dir + "/out.jsonl";
  // A plain file named .zst: the input fails at its first read, after the output was set up.
  write_file(dir + "/in.jsonl.zst", prompts(3));
  auto wrong = run_cli(run_args(dir + "/in.jsonl.zst", out));
  CHECK(wrong.exit_code == 1);
  CHECK(wrong.err.find("not a zstd stream") != std::string::npos);
  CHECK_FALSE(exists(out));
  CHECK_FALSE(exists(out + ".manifest.json"));
  // A model that does not load.
  write_file(dir + "/bad.gguf", "GGUF not really");
  write_file(dir + "/in.jsonl", prompts(3));
  std::vector<std::string> bad_model = run_args(dir + "/in.jsonl", out, {"--errors", dir + "/err.jsonl"});
  bad_model[2] = dir + "/bad.gguf";
  CHECK(run_cli(bad_model).exit_code == 1);
  CHECK_FALSE(exists(out));
  CHECK_FALSE(exists(dir + "/err.jsonl"));
  // An empty leftover without a manifest (a run killed before it wrote anything) holds nothing.
  write_file(out, "");
  CHECK(run_cli(run_args(dir + "/in.jsonl", out)).exit_code == 0);
  CHECK(records_by_index(out).size() == 3);
  // --overwrite with a bad input: the old output was to be replaced; nothing half-made remains.
  auto replaced = run_cli(run_args(dir + "/in.jsonl.zst", out, {"--overwrite"}));
  CHECK(replaced.exit_code == 1);
  CHECK_FALSE(exists(out));
  CHECK_FALSE(exists(out + ".manifest.json"));
  // A refused run changes nothing it found.
  REQUIRE(run_cli(run_args(dir + "/in.jsonl", out)).exit_code == 0);
  const std::string before = read_file(out);
  CHECK(run_cli(run_args(dir + "/in.jsonl", out)).exit_code == 1);
  CHECK(read_file(out) == before);
}

TEST_CASE("a full disk mid-run: exit 1 with a clear error, and the file resumes to the uninterrupted output") {
  const std::string dir = sb::test::scratch_dir("faults_full");
  write_file(dir + "/in.jsonl", prompts(120));
  REQUIRE(run_cli(run_args(dir + "/in.jsonl", dir + "/ref.jsonl")).exit_code == 0);
  // Room for about half of the output (16 KB plain, 5 KB as zstd) besides the manifest.
  for (const auto& [name, tmpfs_kib, ulimit_blocks] :
       {std::tuple<std::string, int, int>{"out.jsonl", 12, 24}, {"out.jsonl.zst", 8, 4}}) {
    CAPTURE(name);
    const std::string small = dir + "/small", copy = dir + "/copy";
    std::filesystem::remove_all(small);
    std::filesystem::remove_all(copy);
    std::filesystem::create_directories(small);
    std::filesystem::create_directories(copy);
    std::string cmd = shell_quote(SPECBATCH_BINARY);
    for (const std::string& a : run_args(dir + "/in.jsonl", small + "/" + name, {"--flush-records", "5"})) {
      cmd += ' ';
      cmd += shell_quote(a);
    }
    // A tiny tmpfs in a private mount namespace (a real ENOSPC); where namespaces are
    // not allowed, a file size limit (EFBIG) takes its place.
    const std::string script = "cd " + shell_quote(small) + " && " + cmd + " 2>" + shell_quote(dir + "/err") +
                               "; echo $? >" + shell_quote(dir + "/rc") + "; cp " + shell_quote(small) + "/* " +
                               shell_quote(copy) + "/";
    const std::string tmpfs = "unshare -rm sh -c " + shell_quote("mount -t tmpfs -o size=" + std::to_string(tmpfs_kib) +
                                                                  "k none " + shell_quote(small) + " && " + script);
    const bool namespaced = std::system((tmpfs + " 2>/dev/null").c_str()) == 0 && exists(dir + "/rc");
    if (!namespaced) {
      std::filesystem::remove_all(small);
      std::filesystem::create_directories(small);
      const std::string limited = "trap '' XFSZ; ulimit -f " + std::to_string(ulimit_blocks) + "; " + script;
      REQUIRE(std::system(("sh -c " + shell_quote(limited)).c_str()) == 0);
    }
    const std::string err = read_file(dir + "/err");
    MESSAGE(name << ": " << std::string(namespaced ? "a full tmpfs: " : "a file size limit: ") << err);
    CHECK(read_file(dir + "/rc") == "1\n");
    CHECK(err.find("cannot write " + small + "/" + name) != std::string::npos);
    CHECK(err.find(namespaced ? "No space left on device" : "File too large") != std::string::npos);
    const auto kept = records_by_index(copy + "/" + name);  // whole records only
    CHECK(kept.size() > 0);
    CHECK(kept.size() < 120);
    auto resumed = run_cli(run_args(dir + "/in.jsonl", copy + "/" + name, {"--resume"}));
    CHECK(resumed.exit_code == 0);
    CHECK(resumed.err.find("nothing to repair") != std::string::npos);
    CHECK(records_by_index(copy + "/" + name) == records_by_index(dir + "/ref.jsonl"));
  }
}

TEST_CASE("damaged inputs: a torn last line is an error record") {
  const std::string dir = sb::test::scratch_dir("faults_input");
  const std::string whole = prompts(8);
  write_file(dir + "/torn.jsonl", whole.substr(0, whole.size() - 20));
  auto torn = run_cli(run_args(dir + "/torn.jsonl", dir + "/torn.out.jsonl"));
  CHECK(torn.exit_code == 3);
  const auto lines = sb::test::parse_output(read_file(dir + "/torn.out.jsonl"));
  REQUIRE(lines.size() == 8);
  CHECK(lines[7].error_code == "invalid_json");
  for (int i = 0; i < 7; ++i) CHECK_FALSE(lines[i].is_error);
}

TEST_CASE("merge of an incomplete set is not marked complete; resuming the merged file restores input order") {
  const std::string dir = sb::test::scratch_dir("faults_merge");
  const std::string in = dir + "/in.jsonl";
  write_file(in, prompts(20));
  REQUIRE(run_cli(run_args(in, dir + "/all.jsonl")).exit_code == 0);
  for (int k = 0; k < 2; ++k)
    REQUIRE(run_cli(run_args(in, dir + "/s" + std::to_string(k) + ".jsonl", {"--shard", std::to_string(k) + "/2"}))
                .exit_code == 0);
  // Shard 1/2 lost its last records (as if it had been stopped).
  const std::vector<std::string> s1 = sb::test::split_lines(read_file(dir + "/s1.jsonl"));
  write_file(dir + "/s1.jsonl", s1[0] + "\n" + s1[1] + "\n" + s1[2] + "\n");
  auto merged = run_cli({"merge", dir + "/s0.jsonl", dir + "/s1.jsonl", "-o", dir + "/m.jsonl"});
  CHECK(merged.exit_code == 3);
  CHECK(merged.err.find("7 of 20 records missing, indices 7, 9, 11, 13, 15, 17, 19") != std::string::npos);
  CHECK(read_file(dir + "/m.jsonl.manifest.json").find("\"complete\":\"false\"") != std::string::npos);
  auto resumed = run_cli(run_args(in, dir + "/m.jsonl", {"--resume"}));
  CHECK(resumed.exit_code == 0);
  CHECK(read_file(dir + "/m.jsonl") == read_file(dir + "/all.jsonl"));
  CHECK(read_file(dir + "/m.jsonl.manifest.json").find("\"complete\":\"true\"") != std::string::npos);
  // A single shard's file keeps its shard, so it resumes as that shard.
  REQUIRE(run_cli({"merge", dir + "/s1.jsonl", "-o", dir + "/one.jsonl"}).exit_code == 3);
  CHECK(run_cli(run_args(in, dir + "/one.jsonl", {"--resume", "--shard", "1/2"})).exit_code == 0);
  CHECK(records_by_index(dir + "/one.jsonl").size() == 10);
}
