// `specbatch tokenize` end to end: BOS by the model's settings, --no-bos, stdin
// taken whole, and the published vocabulary vectors of llama.cpp's vocab-only
// GGUFs. (`tokenize --messages` is tested with the prompts it prints: test_chat.cpp.)
#include <fstream>
#include <sstream>

#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::shared_path;
using sb::test::stories_model;

TEST_CASE("tokenize: BOS by the model's settings, --no-bos, stdin taken whole") {
  const std::string m = stories_model();
  auto with_bos = run_cli({"tokenize", "-m", m, "--text", "Once upon a time"});
  REQUIRE(with_bos.exit_code == 0);
  auto no_bos = run_cli({"tokenize", "-m", m, "--no-bos", "--text", "Once upon a time"});
  REQUIRE(no_bos.exit_code == 0);
  REQUIRE(!no_bos.out.empty());
  CHECK(no_bos.out.back() == '\n');
  CHECK(no_bos.out.find("  ") == std::string::npos);
  CHECK(with_bos.out == "1 " + no_bos.out);  // stories260K: BOS id 1, added by default

  auto from_stdin = run_cli({"tokenize", "-m", m, "--no-bos"}, "Once upon a time");
  CHECK(from_stdin.out == no_bos.out);
  auto with_newline = run_cli({"tokenize", "-m", m, "--no-bos"}, "Once upon a time\n");
  CHECK(with_newline.out != no_bos.out);  // the newline is part of the text
  CHECK(with_newline.out.rfind(no_bos.out.substr(0, no_bos.out.size() - 1), 0) == 0);

  auto empty = run_cli({"tokenize", "-m", m, "--no-bos", "--text", ""});
  CHECK(empty.exit_code == 0);
  CHECK(empty.out == "\n");

  auto missing = run_cli({"tokenize", "-m", "/nonexistent/model.gguf", "--text", "x"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("/nonexistent/model.gguf") != std::string::npos);
}

// The vocabulary test vectors (inputs separated by __ggml_vocab_test__ lines,
// one line of ids per input), run through the CLI with the text on stdin.
TEST_CASE("tokenize reproduces the published vectors of vocab-only GGUFs") {
  for (const char* vocab : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-qwen2.gguf"}) {
    CAPTURE(vocab);
    const std::string gguf = shared_path(std::string("vectors/") + vocab);
    const std::string inp = sb::test::read_file(gguf + ".inp");
    const std::string out = sb::test::read_file(gguf + ".out");
    REQUIRE(!inp.empty());
    std::vector<std::string> inputs;
    const std::string sep = "\n__ggml_vocab_test__\n";
    size_t start = 0;
    for (size_t pos; (pos = inp.find(sep, start)) != std::string::npos; start = pos + sep.size())
      inputs.push_back(inp.substr(start, pos - start));
    const std::vector<std::string> expected = sb::test::split_lines(out);
    REQUIRE(inputs.size() == expected.size());
    for (size_t i = 0; i < inputs.size(); ++i) {
      CAPTURE(i);
      CAPTURE(inputs[i]);
      auto r = run_cli({"tokenize", "-m", gguf, "--no-bos"}, inputs[i]);
      REQUIRE(r.exit_code == 0);
      std::string want = expected[i];
      while (!want.empty() && want.front() == ' ') want.erase(0, 1);
      CHECK(r.out == want + "\n");
    }
  }
}
