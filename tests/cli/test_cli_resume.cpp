// Crash safety end to end on stories260K (greedy, so runs are comparable): kill -9 at
// many moments then --resume, for plain and zstd output, ends with exactly the records
// of an uninterrupted run; SIGTERM exits 143 and resumes; a changed input, model or
// setting is refused; shards 0/3, 1/3, 2/3 merged equal the unsharded run; /dev/full.
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "cli/cli_test_util.h"

using sb::test::read_file;
using sb::test::records_by_index;
using sb::test::run_cli;
using sb::test::spawn_cli;
using sb::test::stories_model;
using sb::test::wait_exit;
using sb::test::write_file;

namespace {

std::string prompts(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "{\"id\":\"r" + std::to_string(i) + "\",\"prompt\":\"Once upon a time " + std::to_string(i) +
         "\",\"max_tokens\":" + std::to_string(8 + i % 40) + "}\n";
  return s;
}

std::vector<std::string> base_args(const std::string& input) {
  return {"run", "-m", stories_model(), input, "--temperature", "0", "--threads", "1", "--max-seqs", "8", "-q"};
}

std::vector<std::string> with(std::vector<std::string> a, const std::vector<std::string>& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

}  // namespace

TEST_CASE("kill -9 at random moments, resume each time: every record exactly once, as an uninterrupted run") {
  const std::string dir = sb::test::scratch_dir("resume_kill");
  const int n = 400;
  write_file(dir + "/in.jsonl", prompts(n));
  // Kill moments are drawn as fractions of an uninterrupted run's duration, so the
  // test kills mid-run on fast and slow (sanitizer) builds alike; nothing asserts time.
  const auto t0 = std::chrono::steady_clock::now();
  auto ref = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", dir + "/ref.jsonl"}));
  const double ref_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(ref.exit_code == 0);
  const std::map<uint64_t, std::string> expected = records_by_index(dir + "/ref.jsonl");
  REQUIRE(expected.size() == n);

  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> fraction(0.03, 0.09);
  for (const std::string& out : {dir + "/out.jsonl", dir + "/out.jsonl.zst"}) {
    CAPTURE(out);
    int kills = 0, trials = 0;
    bool finished = false;
    while (kills < 20 && !finished && trials < 60) {
      ++trials;
      const pid_t pid = spawn_cli(with(base_args(dir + "/in.jsonl"),
                                       {"-o", out, "--resume", "--flush-records", "7", "--sync", "none"}),
                                  dir + "/log");
      std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(fraction(rng) * ref_ms));
      ::kill(pid, SIGKILL);
      const int code = wait_exit(pid);
      if (code == 128 + SIGKILL) ++kills;
      else finished = code == 0;
    }
    auto last = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--resume", "--flush-records", "7"}));
    CAPTURE(read_file(dir + "/log"));
    REQUIRE(last.exit_code == 0);
    const std::map<uint64_t, std::string> got = records_by_index(out);
    uint64_t lost = 0, differ = 0;
    for (const auto& [index, line] : expected) {
      const auto it = got.find(index);
      if (it == got.end()) ++lost;
      else if (it->second != line) ++differ;
    }
    MESSAGE(out << ": " << trials << " runs, " << kills << " killed with SIGKILL; " << got.size() << " of " << n
                << " records, " << lost << " lost, " << differ << " different, duplicates: none (checked)");
    CHECK(kills >= 10);
    CHECK(got == expected);
    // Input order survives resumes: the file equals the uninterrupted one byte for byte.
    std::string bytes = read_file(out);
    if (out.back() == 't') bytes = sb::test::unzstd(bytes);
    CHECK(bytes == read_file(dir + "/ref.jsonl"));
    CHECK(read_file(out + ".manifest.json").find("\"complete\":\"true\"") != std::string::npos);
  }
}

TEST_CASE("SIGTERM: exit 143, a resumable output, nothing lost after resume") {
  const std::string dir = sb::test::scratch_dir("resume_term");
  write_file(dir + "/in.jsonl", prompts(200));
  auto ref = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", dir + "/ref.jsonl"}));
  REQUIRE(ref.exit_code == 0);
  for (const std::string& out : {dir + "/out.jsonl", dir + "/out.jsonl.zst"}) {
    const pid_t pid = spawn_cli(with(base_args(dir + "/in.jsonl"), {"-o", out}), dir + "/log");
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ::kill(pid, SIGTERM);
    const int code = wait_exit(pid);
    CAPTURE(read_file(dir + "/log"));
    CHECK((code == 143 || code == 0));  // 0 only if it finished before the signal
    // What it wrote is whole: a resume has nothing to cut.
    auto last = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--resume"}));
    REQUIRE(last.exit_code == 0);
    CHECK(records_by_index(out) == records_by_index(dir + "/ref.jsonl"));
  }
  // A signal before any work: still 143 and a valid (empty or partial) output.
  const pid_t pid = spawn_cli(with(base_args(dir + "/in.jsonl"), {"-o", dir + "/early.jsonl"}), dir + "/log2");
  ::kill(pid, SIGTERM);
  const int code = wait_exit(pid);
  CHECK(code == 143);  // handled or not yet installed, SIGTERM reads 143
}

TEST_CASE("resume refuses a changed input, model or max_tokens, and accepts an unchanged run") {
  const std::string dir = sb::test::scratch_dir("resume_refuse");
  write_file(dir + "/in.jsonl", prompts(6));
  const std::string out = dir + "/out.jsonl";
  auto first = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5"}));
  REQUIRE(first.exit_code == 0);
  const std::string before = read_file(out);

  auto refused = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out}));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("--resume") != std::string::npos);

  auto same = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5", "--resume"}));
  CHECK(same.exit_code == 0);
  CHECK(read_file(out) == before);  // everything was done already

  auto tokens = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "6", "--resume"}));
  CHECK(tokens.exit_code == 1);
  CHECK(tokens.err.find("max_tokens: 5 before, 6 now") != std::string::npos);

  write_file(dir + "/in.jsonl", prompts(7));
  auto input = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5", "--resume"}));
  CHECK(input.exit_code == 1);
  CHECK(input.err.find("input.0.hash (" + dir + "/in.jsonl)") != std::string::npos);
  write_file(dir + "/in.jsonl", prompts(6));

  std::filesystem::copy_file(stories_model(), dir + "/model.gguf");
  {
    std::fstream f(dir + "/model.gguf", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  std::vector<std::string> args = with(base_args(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5", "--resume"});
  args[2] = dir + "/model.gguf";
  auto model = run_cli(args);
  CHECK(model.exit_code == 1);
  CHECK(model.err.find("model.hash") != std::string::npos);
  CHECK(read_file(out) == before);
}

TEST_CASE("shards 0/3, 1/3, 2/3 merged equal the unsharded run; a deleted record is reported") {
  const std::string dir = sb::test::scratch_dir("resume_shards");
  write_file(dir + "/in.jsonl", prompts(20));
  auto whole = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", dir + "/all.jsonl"}));
  REQUIRE(whole.exit_code == 0);
  std::vector<std::string> shards;
  for (int k = 0; k < 3; ++k) {
    const std::string out = dir + "/s" + std::to_string(k) + (k == 1 ? ".jsonl.zst" : ".jsonl");
    auto r = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", out, "--shard", std::to_string(k) + "/3"}));
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

  auto bad = run_cli(with(base_args(dir + "/in.jsonl"), {"--shard", "3/3"}));
  CHECK(bad.exit_code == 2);
  auto unset = run_cli(with(base_args(dir + "/in.jsonl"), {"--shard", "auto"}));
  CHECK(unset.exit_code == 2);
  CHECK(unset.err.find("SLURM_ARRAY_TASK_ID") != std::string::npos);
}

TEST_CASE("OpenAI output format from a run; a full device is a clear error") {
  const std::string dir = sb::test::scratch_dir("resume_openai");
  write_file(dir + "/in.jsonl",
             "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{\"prompt\":\"Hi\",\"max_tokens\":3}}\n"
             "{\"custom_id\":\"b\",\"body\":{\"prompt\":3}}\n");
  auto r = run_cli(with(base_args(dir + "/in.jsonl"), {"--output-format", "openai"}));
  CHECK(r.exit_code == 3);
  const auto lines = sb::test::split_lines(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("{\"index\":0,\"id\":\"batch_req_0\",\"custom_id\":\"a\",\"response\":{\"status_code\":200") == 0);
  CHECK(lines[0].find("\"object\":\"text_completion\"") != std::string::npos);
  CHECK(lines[0].find("\"completion_tokens\":3,\"total_tokens\":") != std::string::npos);
  CHECK(lines[1].find("\"custom_id\":\"b\",\"response\":null,\"error\":{\"code\":\"invalid_param\"") != std::string::npos);

  if (std::filesystem::exists("/dev/full")) {
    auto full = run_cli(with(base_args(dir + "/in.jsonl"), {"-o", "/dev/full"}));
    CHECK(full.exit_code == 1);
    CHECK(full.err.find("No space left on device") != std::string::npos);
  }
}
