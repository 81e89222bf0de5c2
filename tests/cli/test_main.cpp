// cli/main.cpp end to end: the command line as users meet it. --help and
// --version, usage errors (exit 2) in the program's voice ("specbatch: error:",
// the subcommand's --help named), an unknown subcommand named, range errors
// with readable bounds.
#include <utility>

#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::stories_model;

TEST_CASE("--version, --help and subcommand help") {
  auto v = run_cli({"--version"});
  CHECK(v.exit_code == 0);
  CHECK(v.out.find("specbatch 0.1.0") != std::string::npos);

  auto h = run_cli({"--help"});
  CHECK(h.exit_code == 0);
  for (std::string word : {"run", "tokenize", "inspect", "Exit status"}) {
    CAPTURE(word);
    CHECK(h.out.find(word) != std::string::npos);
  }
  auto rh = run_cli({"run", "--help"});
  CHECK(rh.exit_code == 0);
  for (std::string flag : {"--model", "--output", "--overwrite", "--max-tokens", "--temperature", "--top-p",
                           "--top-k", "--min-p", "--seed", "--stop", "--ignore-eos", "--threads", "--device",
                           "--dtype", "--ctx", "--quiet", "--no-profile-cache"}) {
    CAPTURE(flag);
    CHECK(rh.out.find(flag) != std::string::npos);
  }
  auto bh = run_cli({"bench", "--help"});
  CHECK(bh.out.find("--dtype") != std::string::npos);
  const std::string man = sb::test::read_file(std::string(SPECBATCH_SOURCE_DIR) + "/man/specbatch.1");
  CHECK(man.find("\\-\\-dtype") != std::string::npos);
  CHECK(man.find("cuda:all") != std::string::npos);
  auto th = run_cli({"tokenize", "--help"});
  CHECK(th.exit_code == 0);
  CHECK(th.out.find("--no-bos") != std::string::npos);
  CHECK(th.out.find("--text") != std::string::npos);
}

TEST_CASE("usage errors exit 2") {
  CHECK(run_cli({}).exit_code == 2);
  CHECK(run_cli({"frobnicate"}).exit_code == 2);
  CHECK(run_cli({"run"}).exit_code == 2);  // no -m
  const std::string m = stories_model();
  CHECK(run_cli({"run", "-m", m, "--bogus-flag"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--temperature", "-1"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--top-p", "0"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--top-p", "1.5"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--min-p", "2"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--max-tokens", "-5"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--max-tokens", "ten"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--device", "tpu"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--seed", "-1"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", m, "--threads", "-2"}).exit_code == 2);
  auto r = run_cli({"inspect"});
  CHECK(r.exit_code == 2);
  CHECK(!r.err.empty());
}

TEST_CASE("usage errors read as the program's own: prefix, the subcommand named, bounds as written") {
  const std::string m = stories_model();
  auto unknown = run_cli({"frobnicate", "-m", m});
  CHECK(unknown.err ==
        "specbatch: error: unknown subcommand 'frobnicate'; the subcommands are run, bench, merge, tokenize, inspect "
        "(specbatch --help)\n");
  auto flag = run_cli({"run", "-m", m, "--bogus-flag"});
  CHECK(flag.err.starts_with("specbatch: error: "));
  CHECK(flag.err.find("--bogus-flag") != std::string::npos);
  CHECK(flag.err.find("Run 'specbatch run --help' for more information.") != std::string::npos);
  CHECK(run_cli({"run"}).err.starts_with("specbatch: error: --model is required"));
  const std::pair<std::vector<std::string>, std::string> bounds[] = {
      {{"--temperature", "-1"}, "--temperature: must be >= 0, got -1"},
      {{"--top-p", "0"}, "--top-p: must be in (0, 1], got 0"},
      {{"--top-p", "1.5"}, "--top-p: must be in (0, 1], got 1.5"},
      {{"--min-p", "2"}, "--min-p: must be in [0, 1], got 2"},
      {{"--max-tokens", "ten"}, "--max-tokens: expected a number, got 'ten'"},
      {{"--max-seqs", "0"}, "--max-seqs: must be > 0, got 0"},
      {{"--n", "129"}, "--n: must be in [1, 128], got 129"},
      {{"--temperature", "inf"}, "--temperature: expected a number, got 'inf'"},
  };
  for (const auto& [args, message] : bounds) {
    std::vector<std::string> full = {"run", "-m", m};
    full.insert(full.end(), args.begin(), args.end());
    auto r = run_cli(full);
    CAPTURE(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.starts_with("specbatch: error: " + message + "\n"));
  }
  const std::string help = run_cli({"run", "--help"}).out;
  CHECK(help.find("--top-p FLOAT:in (0, 1]=1") != std::string::npos);
  CHECK(help.find("--temperature FLOAT:NONNEGATIVE=1") != std::string::npos);
  CHECK(help.find("[0 - 1]") == std::string::npos);
  CHECK(help.find("179769") == std::string::npos);
}
