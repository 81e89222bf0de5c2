// cli/run_output.h end to end: -o never overwrites without --overwrite; the
// errors file (--errors) takes the error records and follows the same rule;
// resume refuses a changed input, model or setting (--logprobs and
// --return-token-ids included) and accepts an unchanged run; kill -9 after a
// counted number of new records, again and again, then --resume: every record
// exactly once, byte for byte the uninterrupted run (plain and zstd); a full device.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "cli/cli_test_util.h"

using sb::test::complete_records;
using sb::test::greedy_run_of;
using sb::test::kGreedy;
using sb::test::numbered_prompts;
using sb::test::parse_output;
using sb::test::read_file;
using sb::test::records_by_index;
using sb::test::run_cli;
using sb::test::spawn_cli;
using sb::test::stories_model;
using sb::test::wait_exit;
using sb::test::with;
using sb::test::write_file;

TEST_CASE("-o writes the file and never overwrites an existing one without --overwrite") {
  const std::string dir = sb::test::scratch_dir("cli_output");
  const std::string out = dir + "/out.jsonl";
  const std::string input = "{\"prompt\":\"Once\",\"max_tokens\":3}\n";
  auto r = run_cli({"run", "-m", stories_model(), "-o", out}, input);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  const std::string first = sb::test::read_file(out);
  CHECK(parse_output(first).size() == 1);

  sb::test::write_file(out, "precious\n");
  auto refused = run_cli({"run", "-m", stories_model(), "-o", out}, input);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("--overwrite") != std::string::npos);
  CHECK(sb::test::read_file(out) == "precious\n");

  auto replaced = run_cli({"run", "-m", stories_model(), "-o", out, "--overwrite"}, input);
  CHECK(replaced.exit_code == 0);
  CHECK(sb::test::read_file(out) == first);

  // A failed load leaves no empty output behind.
  const std::string out2 = dir + "/out2.jsonl";
  auto failed = run_cli({"run", "-m", dir + "/nope.gguf", "-o", out2}, input);
  CHECK(failed.exit_code == 1);
  CHECK_FALSE(std::filesystem::exists(out2));
}

TEST_CASE("engine run: --errors takes the error records; --stats-json; progress log lines") {
  const std::string dir = sb::test::scratch_dir("cli_engine_errors");
  const std::string input =
      "{\"id\":\"a\",\"prompt\":\"Once\",\"max_tokens\":3}\n"
      "not json\n"
      "{\"id\":\"b\",\"prompt\":\"Tom\",\"max_tokens\":3,\"top_p\":2}\n"
      "{\"id\":\"c\",\"prompt\":\"Lily\",\"max_tokens\":3}\n";
  auto r = run_cli({"run", "-m", stories_model(), "--errors", dir + "/err.jsonl", "--stats-json", dir + "/stats.json",
                    "--progress", "log", "--progress-interval", "0.000001"},
                   input);
  CHECK(r.exit_code == 3);
  const auto ok = parse_output(r.out);
  REQUIRE(ok.size() == 2);
  CHECK(ok[0].index == 0);
  CHECK(ok[1].index == 3);
  const auto errors = parse_output(sb::test::read_file(dir + "/err.jsonl"));
  REQUIRE(errors.size() == 2);
  CHECK(errors[0].index == 1);
  CHECK(errors[0].error_code == "invalid_json");
  CHECK(errors[1].index == 2);
  CHECK(errors[1].error_code == "invalid_param");
  const std::string stats = sb::test::read_file(dir + "/stats.json");
  for (const char* field : {"\"records\":4", "\"ok\":2", "\"failed\":2", "\"generated_tokens\":6",
                            "\"wall_seconds\":", "\"generated_tokens_per_second\":", "\"preemptions\":"})
    CHECK_MESSAGE(stats.find(field) != std::string::npos, field << " in " << stats);
  CHECK(r.err.find("specbatch: progress: ") != std::string::npos);
  CHECK(r.err.find("4 records (2 ok, 2 failed)") != std::string::npos);

  // The errors file follows the output's no-overwrite rule; bad flag values are usage errors.
  auto again = run_cli({"run", "-m", stories_model(), "--errors", dir + "/err.jsonl"}, input);
  CHECK(again.exit_code == 1);
  CHECK(run_cli({"run", "-m", stories_model(), "--order", "sideways"}, input).exit_code == 2);
  CHECK(run_cli({"run", "-m", stories_model(), "--max-seqs", "0"}, input).exit_code == 2);
  CHECK(run_cli({"run", "-m", stories_model(), "--progress", "loud"}, input).exit_code == 2);
}

TEST_CASE("resume refuses a changed input, model or max_tokens, and accepts an unchanged run") {
  const std::string dir = sb::test::scratch_dir("resume_refuse");
  write_file(dir + "/in.jsonl", numbered_prompts(6));
  const std::string out = dir + "/out.jsonl";
  auto first = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5"}));
  REQUIRE(first.exit_code == 0);
  const std::string before = read_file(out);

  auto refused = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out}));
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("--resume") != std::string::npos);

  auto same = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5", "--resume"}));
  CHECK(same.exit_code == 0);
  CHECK(read_file(out) == before);  // everything was done already

  auto tokens = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "6", "--resume"}));
  CHECK(tokens.exit_code == 1);
  CHECK(tokens.err.find("max_tokens: 5 before, 6 now") != std::string::npos);

  write_file(dir + "/in.jsonl", numbered_prompts(7));
  auto input = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5", "--resume"}));
  CHECK(input.exit_code == 1);
  CHECK(input.err.find("input.0.hash (" + dir + "/in.jsonl)") != std::string::npos);
  write_file(dir + "/in.jsonl", numbered_prompts(6));

  std::filesystem::copy_file(stories_model(), dir + "/model.gguf");
  {
    std::fstream f(dir + "/model.gguf", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x7f');
  }
  std::vector<std::string> args = with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--max-tokens", "5", "--resume"});
  args[2] = dir + "/model.gguf";
  auto model = run_cli(args);
  CHECK(model.exit_code == 1);
  CHECK(model.err.find("model.hash") != std::string::npos);
  CHECK(read_file(out) == before);
}

TEST_CASE("cli logprobs: --logprobs and --return-token-ids are part of the resume manifest") {
  const std::string dir = sb::test::scratch_dir("cli_logprobs_resume");
  const std::string out = dir + "/out.jsonl";
  const std::string input = "{\"prompt\":\"The sun\",\"max_tokens\":2}\n";
  REQUIRE(run_cli(with(kGreedy, {"-o", out, "--logprobs", "1", "--return-token-ids"}), input).exit_code == 0);
  auto changed = run_cli(with(kGreedy, {"-o", out, "--resume", "--logprobs", "2", "--return-token-ids"}), input);
  CHECK(changed.exit_code == 1);
  CHECK(changed.err.find("logprobs: 1 before, 2 now") != std::string::npos);
  auto dropped = run_cli(with(kGreedy, {"-o", out, "--resume", "--logprobs", "1"}), input);
  CHECK(dropped.exit_code == 1);
  CHECK(dropped.err.find("return_token_ids: true before, not set now") != std::string::npos);
  CHECK(run_cli(with(kGreedy, {"-o", out, "--resume", "--logprobs", "1", "--return-token-ids"}), input).exit_code == 0);
}

// Each kill lands once the output holds a drawn number (1 to 10) of new whole
// records, so every run is killed mid-run, wherever its writes are, on a fast or
// a slow (sanitizer, loaded) machine alike: the test counts records, not time.
TEST_CASE("kill -9 after counted new records, resume each time: every record exactly once, as an uninterrupted run") {
  const std::string dir = sb::test::scratch_dir("resume_kill");
  const int n = 400, n_kills = 12;
  write_file(dir + "/in.jsonl", numbered_prompts(n));
  auto ref = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", dir + "/ref.jsonl"}));
  REQUIRE(ref.exit_code == 0);
  const std::map<uint64_t, std::string> expected = records_by_index(dir + "/ref.jsonl");
  REQUIRE(expected.size() == n);

  std::mt19937 rng(12345);
  std::uniform_int_distribution<uint64_t> new_records(1, 10);
  for (const std::string& out : {dir + "/out.jsonl", dir + "/out.jsonl.zst"}) {
    CAPTURE(out);
    int kills = 0;
    uint64_t written = 0;
    while (kills < n_kills) {
      const uint64_t kill_at = written + new_records(rng);
      const pid_t pid = spawn_cli(with(greedy_run_of(dir + "/in.jsonl"),
                                       {"-o", out, "--resume", "--flush-records", "7", "--sync", "none"}),
                                  dir + "/log");
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while ((written = complete_records(out)) < kill_at && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      ::kill(pid, SIGKILL);
      CAPTURE(read_file(dir + "/log"));
      REQUIRE_MESSAGE(written >= kill_at, "no new records within 60 s");
      REQUIRE(written < n);  // killed mid-run, records still to go
      REQUIRE(wait_exit(pid) == 128 + SIGKILL);
      ++kills;
      written = complete_records(out);  // what the next run resumes from (its torn tail cut)
    }
    auto last = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", out, "--resume", "--flush-records", "7"}));
    CAPTURE(read_file(dir + "/log"));
    REQUIRE(last.exit_code == 0);
    const std::map<uint64_t, std::string> got = records_by_index(out);
    uint64_t lost = 0, differ = 0;
    for (const auto& [index, line] : expected) {
      const auto it = got.find(index);
      if (it == got.end()) ++lost;
      else if (it->second != line) ++differ;
    }
    MESSAGE(out << ": " << kills << " runs killed with SIGKILL after counted new records; " << got.size() << " of "
                << n << " records, " << lost << " lost, " << differ << " different, duplicates: none (checked)");
    CHECK(got == expected);
    // Input order survives resumes: the file equals the uninterrupted one byte for byte.
    std::string bytes = read_file(out);
    if (out.back() == 't') bytes = sb::test::unzstd(bytes);
    CHECK(bytes == read_file(dir + "/ref.jsonl"));
    CHECK(read_file(out + ".manifest.json").find("\"complete\":\"true\"") != std::string::npos);
  }
}

TEST_CASE("a full device is a clear error") {
  if (!std::filesystem::exists("/dev/full")) return;
  const std::string dir = sb::test::scratch_dir("run_output_full");
  write_file(dir + "/in.jsonl", "{\"prompt\":\"Hi\",\"max_tokens\":3}\n");
  auto full = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", "/dev/full"}));
  CHECK(full.exit_code == 1);
  CHECK(full.err.find("No space left on device") != std::string::npos);
}
