// Runs the built specbatch binary (SPECBATCH_BINARY) as a child process with a
// given stdin, capturing stdout, stderr and the exit status, or in the background;
// parses JSONL output (plain or zstd files).
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "formats/zstd_test_util.h"
#include "test_util.h"

extern char** environ;

namespace sb::test {

struct CliResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') q += "'\\''";
    else q.push_back(c);
  }
  return q + "'";
}

// Runs `specbatch args...` with `stdin_bytes` on stdin (never the terminal).
// A run longer than 120 s is killed and reported as exit 124.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_bytes = "") {
  static int counter = 0;
  const std::string dir = scratch_dir("cli_run_" + std::to_string(counter++));
  write_file(dir + "/stdin", stdin_bytes);
  // A hung child becomes a failure (exit 124 from timeout), never a hung suite.
  std::string cmd = "timeout -k 5 120 " + shell_quote(SPECBATCH_BINARY);
  for (const std::string& a : args) {
    cmd += ' ';
    cmd += shell_quote(a);
  }
  for (const char* redirect : {" <", " >", " 2>"}) {
    cmd += redirect;
    cmd += shell_quote(dir + (redirect[1] == '<' ? "/stdin" : redirect[1] == '>' ? "/stdout" : "/stderr"));
  }
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(dir + "/stdout");
  r.err = read_file(dir + "/stderr");
  return r;
}

inline std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    lines.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

// One output line, parsed and checked to be a JSON object.
struct OutputLine {
  uint64_t index = 0;
  std::string id_json;  // "null", "\"abc\"", "17"
  bool is_error = false;
  std::string error_code;
  std::string text;
  std::string finish_reason;
  int64_t prompt_tokens = -1;
  int64_t completion_tokens = -1;
};

inline std::vector<OutputLine> parse_output(const std::string& out) {
  std::vector<OutputLine> result;
  simdjson::dom::parser parser;
  for (const std::string& line : split_lines(out)) {
    CAPTURE(line);
    simdjson::dom::element doc;
    REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
    REQUIRE(doc.is_object());
    OutputLine o;
    REQUIRE(doc["index"].get(o.index) == simdjson::SUCCESS);
    simdjson::dom::element id;
    REQUIRE(doc["id"].get(id) == simdjson::SUCCESS);
    o.id_json = simdjson::minify(id);
    simdjson::dom::element err;
    if (doc["error"].get(err) == simdjson::SUCCESS) {
      o.is_error = true;
      std::string_view code, message;
      REQUIRE(err["code"].get(code) == simdjson::SUCCESS);
      REQUIRE(err["message"].get(message) == simdjson::SUCCESS);
      CHECK(!message.empty());
      o.error_code = std::string(code);
      CHECK(doc["text"].error() == simdjson::NO_SUCH_FIELD);
    } else {
      std::string_view text, reason;
      REQUIRE(doc["text"].get(text) == simdjson::SUCCESS);
      REQUIRE(doc["finish_reason"].get(reason) == simdjson::SUCCESS);
      REQUIRE(doc["usage"]["prompt_tokens"].get(o.prompt_tokens) == simdjson::SUCCESS);
      REQUIRE(doc["usage"]["completion_tokens"].get(o.completion_tokens) == simdjson::SUCCESS);
      o.text = std::string(text);
      o.finish_reason = std::string(reason);
    }
    result.push_back(std::move(o));
  }
  return result;
}

inline std::string stories_model() { return shared_path("models/stories260K.gguf"); }

// Runs specbatch in the background (stdout and stderr appended to `log`; stdin
// /dev/null, or `stdin_fd` when given).
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log, int stdin_fd = -1) {
  std::vector<std::string> argv_s = {SPECBATCH_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  pid_t pid = -1;
  REQUIRE(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ) == 0);
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

// Exit status as the shell reports it (128 + signal for a killed process).
inline int wait_exit(pid_t pid) {
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// The output's lines (zstd decoded) by index; every index must appear once.
inline std::map<uint64_t, std::string> records_by_index(const std::string& path) {
  std::string bytes = read_file(path);
  if (path.size() > 4 && path.substr(path.size() - 4) == ".zst") bytes = unzstd(bytes);
  std::map<uint64_t, std::string> out;
  for (const std::string& line : split_lines(bytes)) {
    const auto parsed = parse_output(line + "\n");
    REQUIRE(parsed.size() == 1);
    CAPTURE(line);
    CHECK(out.emplace(parsed[0].index, line).second);  // no duplicates
  }
  return out;
}

}  // namespace sb::test
