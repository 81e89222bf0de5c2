// cli/engine_replicas.h end to end: `run --replicas 2 --threads 2` (two CPU engines
// of one thread each, stepping at once) against one engine of one thread on
// stories260K. The CPU backend is batch-invariant, so greedy output must be the
// same bytes whichever replica ran a record: in input order, every index once;
// in completion order, every index once; with an n-gram drafter; with error
// records refused by one replica's engine while the others go on; and after a
// SIGTERM, a SIGKILL or a full file mid-run, --resume with replicas completes the
// file to the uninterrupted one-engine output.
#include <signal.h>

#include <chrono>
#include <thread>

#include "cli/cli_test_util.h"

using sb::test::complete_records;
using sb::test::greedy_run_of;
using sb::test::json_number;
using sb::test::numbered_prompts;
using sb::test::read_file;
using sb::test::records_by_index;
using sb::test::run_cli;
using sb::test::shell_quote;
using sb::test::spawn_cli;
using sb::test::stories_model;
using sb::test::wait_exit;
using sb::test::with;
using sb::test::write_file;

namespace {

// greedy_run_of(input) with two replicas of one thread each instead of one engine.
std::vector<std::string> replica_run_of(const std::string& input) {
  return {"run", "-m", stories_model(), input, "--temperature", "0", "--threads", "2", "--replicas", "2",
          "--max-seqs", "8", "-q"};
}

// The output's indices in file order.
std::vector<uint64_t> indices_in_order(const std::string& path) {
  std::vector<uint64_t> out;
  for (const auto& line : sb::test::parse_output(read_file(path))) out.push_back(line.index);
  return out;
}

// Each line's index, id, error code, text, finish reason and token counts.
std::vector<std::string> record_fields(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& l : sb::test::parse_output(read_file(path)))
    out.push_back(std::to_string(l.index) + " " + l.id_json + " " + l.error_code + " " + l.text + " " +
                  l.finish_reason + " " + std::to_string(l.prompt_tokens) + " " + std::to_string(l.completion_tokens));
  return out;
}

// --stats-json's replica_records.
std::vector<int64_t> replica_records(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE_MESSAGE(parser.parse(json).get(doc) == simdjson::SUCCESS, json);
  return sb::test::ints(doc["replica_records"]);
}

}  // namespace

TEST_CASE("replicas: two one-thread engines write one engine's greedy bytes, every index once and in order") {
  const std::string dir = sb::test::scratch_dir("replicas_greedy");
  const int n = 90;
  write_file(dir + "/in.jsonl", numbered_prompts(n));
  REQUIRE(run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", dir + "/one.jsonl", "--stats-json", dir + "/one.json"}))
              .exit_code == 0);
  auto two = run_cli(with(replica_run_of(dir + "/in.jsonl"), {"-o", dir + "/two.jsonl", "--stats-json",
                                                               dir + "/two.json"}));
  REQUIRE(two.exit_code == 0);
  CHECK(read_file(dir + "/two.jsonl") == read_file(dir + "/one.jsonl"));
  std::vector<uint64_t> expected(n);
  for (int i = 0; i < n; ++i) expected[i] = static_cast<uint64_t>(i);
  CHECK(indices_in_order(dir + "/two.jsonl") == expected);
  // Stats sum over the replicas and say how many ran.
  const std::string one_stats = read_file(dir + "/one.json"), two_stats = read_file(dir + "/two.json");
  CHECK(json_number(one_stats, "replicas") == 1);
  CHECK(json_number(two_stats, "replicas") == 2);
  for (const char* field : {"records", "ok", "prompt_tokens", "generated_tokens", "record_steps"})
    CHECK_MESSAGE(json_number(two_stats, field) == json_number(one_stats, field), field);
  // Both replicas ran records, together every record once.
  const std::vector<int64_t> each = replica_records(two_stats);
  REQUIRE(each.size() == 2);
  CHECK(each[0] > 0);
  CHECK(each[1] > 0);
  CHECK(each[0] + each[1] == n);

  // Completion order: each record once, the same lines.
  auto completion = run_cli(with(replica_run_of(dir + "/in.jsonl"), {"-o", dir + "/any.jsonl", "--order",
                                                                      "completion"}));
  REQUIRE(completion.exit_code == 0);
  CHECK(records_by_index(dir + "/any.jsonl") == records_by_index(dir + "/one.jsonl"));
  // The summary names the replicas.
  auto loud = run_cli({"run", "-m", stories_model(), dir + "/in.jsonl", "--temperature", "0", "--threads", "2",
                       "--replicas", "2", "-o", "/dev/null"});
  CHECK(loud.err.find("(2 engine replicas)") != std::string::npos);
}

TEST_CASE("replicas: the flags are checked before anything is opened") {
  const std::string none = "/nonexistent/model.gguf";
  auto few = run_cli({"run", "-m", none, "--threads", "1", "--replicas", "2"});
  CHECK(few.exit_code == 2);
  CHECK(few.err.find("--threads 1 cannot give each of --replicas 2 a thread") != std::string::npos);
  auto gpu = run_cli({"run", "-m", none, "--device", "cuda:0", "--replicas", "2"});
  CHECK(gpu.exit_code == 2);
  CHECK(gpu.err.find("--device cuda:0,1") != std::string::npos);
  CHECK(run_cli({"run", "-m", none, "--replicas", "0"}).exit_code == 2);
}

TEST_CASE("replicas: with an n-gram drafter, and with error records among the records, as one engine") {
  const std::string dir = sb::test::scratch_dir("replicas_draft_errors");
  std::string input = sb::test::kRepetitiveInput;
  const std::string prompts = numbered_prompts(30);
  // Refused by the parser, by the engine a replica was given (too long for --ctx), or run.
  const std::string bad[] = {"{\"id\":\"broken\",\"prompt\":\n",
                             "{\"id\":\"hot\",\"prompt\":\"x\",\"temperature\":-1}\n",
                             "{\"id\":\"long\",\"prompt\":\"" + std::string(200, 'a') + "\"}\n"};
  size_t at = 0;
  for (int i = 0; at < prompts.size(); ++i) {
    const size_t end = prompts.find('\n', at) + 1;
    input += prompts.substr(at, end - at);
    if (i % 4 == 1) input += bad[i % 3];
    at = end;
  }
  write_file(dir + "/in.jsonl", input);
  for (const bool draft : {false, true}) {
    CAPTURE(draft);
    const std::vector<std::string> ctx = {"--ctx", "64", "--overwrite"};
    std::vector<std::string> more = with(ctx, {"--stats-json", dir + "/two.json"});
    if (draft) more = with(more, {"--draft", "ngram", "--spec-policy", "fixed"});
    auto one = run_cli(with(greedy_run_of(dir + "/in.jsonl"), with(ctx, {"-o", dir + "/one.jsonl"})));
    auto two = run_cli(with(replica_run_of(dir + "/in.jsonl"), with(more, {"-o", dir + "/two.jsonl"})));
    CHECK(one.exit_code == 3);
    CHECK(two.exit_code == 3);
    // With a drafter each line also counts its draft tokens: the rest is the same.
    if (!draft) CHECK(read_file(dir + "/two.jsonl") == read_file(dir + "/one.jsonl"));
    CHECK(record_fields(dir + "/two.jsonl") == record_fields(dir + "/one.jsonl"));
    const std::string out = read_file(dir + "/two.jsonl");
    CHECK(out.find("\"prompt_too_long\"") != std::string::npos);
    CHECK(out.find("\"invalid_param\"") != std::string::npos);
    CHECK(json_number(read_file(dir + "/two.json"), "ok") == 36);
    if (draft) CHECK(json_number(read_file(dir + "/two.json"), "accepted_draft_tokens") > 0);
  }
}

TEST_CASE("replicas: a SIGTERM or SIGKILL mid-run, then --resume with replicas: the uninterrupted one-engine file") {
  const std::string dir = sb::test::scratch_dir("replicas_resume");
  const int n = 200;
  write_file(dir + "/in.jsonl", numbered_prompts(n));
  REQUIRE(run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", dir + "/ref.jsonl"})).exit_code == 0);
  for (const int sig : {SIGTERM, SIGKILL}) {
    CAPTURE(sig);
    const std::string out = dir + "/out" + std::to_string(sig) + ".jsonl";
    const std::vector<std::string> args = with(replica_run_of(dir + "/in.jsonl"), {"-o", out, "--flush-records", "1"});
    const pid_t pid = spawn_cli(args, dir + "/log");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (complete_records(out) < 3 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    ::kill(pid, sig);
    CAPTURE(read_file(dir + "/log"));
    CHECK(wait_exit(pid) == 128 + sig);
    const uint64_t written = complete_records(out);
    CHECK(written >= 3);
    CHECK(written < n / 2);
    CHECK(read_file(out + ".manifest.json").find("\"complete\":\"false\"") != std::string::npos);
    auto last = run_cli(with(args, {"--resume"}));
    REQUIRE(last.exit_code == 0);
    CHECK(read_file(out) == read_file(dir + "/ref.jsonl"));
  }
}

TEST_CASE("replicas: a write that fails mid-run stops every replica with exit 1, and the file resumes") {
  const std::string dir = sb::test::scratch_dir("replicas_full");
  write_file(dir + "/in.jsonl", numbered_prompts(120));
  REQUIRE(run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"-o", dir + "/ref.jsonl"})).exit_code == 0);
  // A file size limit (EFBIG) of about half the output.
  std::string cmd = shell_quote(SPECBATCH_BINARY);
  const std::vector<std::string> args = {"-o", dir + "/out.jsonl", "--flush-records", "5"};
  for (const std::string& a : with(replica_run_of(dir + "/in.jsonl"), args)) cmd += ' ' + shell_quote(a);
  const std::string script = "trap '' XFSZ; ulimit -f 16; " + cmd + " 2>" + shell_quote(dir + "/err") + "; echo $? >" +
                             shell_quote(dir + "/rc");
  REQUIRE(std::system(("sh -c " + shell_quote(script)).c_str()) == 0);
  CHECK(read_file(dir + "/rc") == "1\n");
  CHECK(read_file(dir + "/err").find("File too large") != std::string::npos);
  const auto kept = records_by_index(dir + "/out.jsonl");
  CHECK(kept.size() > 0);
  CHECK(kept.size() < 120);
  auto resumed = run_cli(with(replica_run_of(dir + "/in.jsonl"), {"-o", dir + "/out.jsonl", "--resume"}));
  CHECK(resumed.exit_code == 0);
  CHECK(read_file(dir + "/out.jsonl") == read_file(dir + "/ref.jsonl"));
}
