// Fixtures shared by the tests of cli/: runs the built specbatch binary
// (SPECBATCH_BINARY) as a child process, in the foreground with a given stdin or
// in the background to be signalled; parses JSONL output (line by line, whole
// records by index, records complete so far while a run writes them); common
// argument lists and inputs.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/wait.h>
#include <zstd.h>

#include <cstdlib>
#include <map>
#include <memory>
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

// Sets an environment variable (null: unsets it) for this scope; children
// started meanwhile (run_cli) inherit it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* old = std::getenv(name);
    had_ = old != nullptr;
    if (had_) old_ = old;
    if (value) ::setenv(name, value, 1);
    else ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (had_) ::setenv(name_.c_str(), old_.c_str(), 1);
    else ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, old_;
  bool had_ = false;
};

// Runs `specbatch args...` with `stdin_bytes` on stdin (never the terminal).
// A run longer than 120 s is killed and reported as exit 124.
inline CliResult run_cli(const std::vector<std::string>& args, const std::string& stdin_bytes = "") {
  static int counter = 0;
  const std::string dir = scratch_dir("cli_run_" + std::to_string(counter++));
  write_file(dir + "/stdin", stdin_bytes);
  // A hung child becomes a failure (exit 124 from timeout), never a hung suite.
  std::string cmd = "timeout -k 5 120 " + shell_quote(SPECBATCH_BINARY);
  // The step cost profile cache in scratch, never the user's (ctest sets it too).
  if (std::getenv("XDG_CACHE_HOME") == nullptr) cmd = "XDG_CACHE_HOME=" + shell_quote(dir + "/xdg-cache") + " " + cmd;
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

// `args` followed by `more`.
inline std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

// Greedy runs on stories260K, quiet: small batches (records of one run share steps).
inline const std::vector<std::string> kGreedy = {"run", "-m", stories_model(), "--temperature", "0", "-q",
                                                 "--max-seqs", "3"};

// A greedy run of `input` on one thread, as the resume and signal tests repeat it.
inline std::vector<std::string> greedy_run_of(const std::string& input) {
  return {"run", "-m", stories_model(), input, "--temperature", "0", "--threads", "1", "--max-seqs", "8", "-q"};
}

// n records "r0", "r1", ... with different prompts and 8 to 47 tokens each.
inline std::string numbered_prompts(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += "{\"id\":\"r" + std::to_string(i) + "\",\"prompt\":\"Once upon a time " + std::to_string(i) +
         "\",\"max_tokens\":" + std::to_string(8 + i % 40) + "}\n";
  return s;
}

// Two sentences of story, a prompt prefix that fills whole KV blocks.
inline const std::string kStoryPreamble =
    "Once upon a time there was a little girl named Lily. She liked to play in the park.";

// Six records whose continuations repeat their prompts, so n-gram drafts get accepted.
inline const std::string kRepetitiveInput = [] {
  std::string s;
  const char* prompts[] = {"Tom had a big dog. The dog was happy. Tom had a big", "The cat sat. The cat ran. The cat"};
  for (int i = 0; i < 6; ++i) s += std::string("{\"prompt\":\"") + prompts[i % 2] + "\",\"max_tokens\":24}\n";
  return s;
}();

// The elements of a JSON array of integers.
inline std::vector<int64_t> ints(simdjson::dom::element e) {
  std::vector<int64_t> out;
  simdjson::dom::array a;
  REQUIRE(e.get_array().get(a) == simdjson::SUCCESS);
  for (simdjson::dom::element x : a) out.push_back(int64_t(x));
  return out;
}

// The lines of an output, parsed (each must be a JSON object).
struct ParsedLines {
  std::vector<std::string> lines;
  std::vector<simdjson::dom::element> docs;
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers;  // one per line keeps every document alive
  explicit ParsedLines(const std::string& out) : lines(split_lines(out)) {
    for (const std::string& l : lines) {
      parsers.emplace_back(std::make_unique<simdjson::dom::parser>());
      simdjson::dom::element doc;
      REQUIRE_MESSAGE(parsers.back()->parse(l).get(doc) == simdjson::SUCCESS, l);
      docs.push_back(doc);
    }
  }
};

// A number field of a JSON document.
inline double json_number(const std::string& json, const char* field) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE_MESSAGE(parser.parse(json).get(doc) == simdjson::SUCCESS, json);
  double v = 0;
  REQUIRE_MESSAGE(doc[field].get_double().get(v) == simdjson::SUCCESS, field);
  return v;
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

// Whole records in an output a run is still writing: the newlines of a plain
// file, or of the zstd frames complete so far (a frame being written is not yet
// a frame). Never fails on a torn tail.
inline uint64_t complete_records(const std::string& path) {
  const std::string bytes = read_file(path);
  const bool zstd = path.size() > 4 && path.substr(path.size() - 4) == ".zst";
  std::string text;
  for (size_t at = 0; zstd && at < bytes.size();) {
    const size_t n = ZSTD_findFrameCompressedSize(bytes.data() + at, bytes.size() - at);
    if (ZSTD_isError(n)) break;
    const unsigned long long size = ZSTD_getFrameContentSize(bytes.data() + at, n);
    if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR) break;
    std::string frame(size, '\0');
    if (ZSTD_isError(ZSTD_decompress(frame.data(), frame.size(), bytes.data() + at, n))) break;
    text += frame;
    at += n;
  }
  const std::string& lines = zstd ? text : bytes;
  uint64_t n = 0;
  for (char c : lines) n += c == '\n';
  return n;
}

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

}  // namespace sb::test
