// End-to-end: --help/--version, usage errors (exit 2), `tokenize` against the
// published vocabulary vectors, `inspect`, and --device / --dtype checking.
#include <fstream>
#include <sstream>

#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::shared_path;
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
                           "--dtype", "--ctx", "--quiet"}) {
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

TEST_CASE("--device cuda without CUDA or a GPU is a clear fatal error, not a crash") {
  for (const char* device : {"cuda", "cuda:0", "cuda:all"}) {
    CAPTURE(device);
    auto r = run_cli({"run", "-m", stories_model(), "--device", device, "--max-tokens", "4"}, "{\"prompt\":\"x\"}\n");
    if (r.exit_code == 0) {  // a CUDA build on a machine with a GPU: it simply runs
      CHECK(r.out.find("\"finish_reason\"") != std::string::npos);
      continue;
    }
    CHECK(r.exit_code == 1);
    CHECK(r.out.empty());
    const bool clear = r.err.find("built without CUDA (nvcc not found at build time)") != std::string::npos ||
                       r.err.find("no CUDA device found") != std::string::npos;
    CHECK_MESSAGE(clear, r.err);
  }
}

TEST_CASE("--device and --dtype: malformed values are usage errors naming the flag") {
  const std::string m = stories_model();
  for (const char* device : {"gpu", "cuda:", "cuda:x", "cuda:0,", "cuda:0,0", "cuda0", "cuda:-1"}) {
    CAPTURE(device);
    auto r = run_cli({"run", "-m", m, "--device", device}, "{\"prompt\":\"x\"}\n");
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--device") != std::string::npos);
  }
  auto bad_dtype = run_cli({"run", "-m", m, "--dtype", "f16"}, "{\"prompt\":\"x\"}\n");
  CHECK(bad_dtype.exit_code == 2);
  auto cpu_bf16 = run_cli({"run", "-m", m, "--dtype", "bf16"}, "{\"prompt\":\"x\"}\n");
  CHECK(cpu_bf16.exit_code == 2);
  CHECK(cpu_bf16.err.find("--dtype bf16 needs --device cuda") != std::string::npos);
  auto bench = run_cli({"bench", "-m", m, "--device", "cuda:a"});
  CHECK(bench.exit_code == 2);
  for (const char* dtype : {"auto", "f32"}) {
    auto ok = run_cli({"run", "-m", m, "--device", "cpu", "--dtype", dtype, "--max-tokens", "2"},
                      "{\"prompt\":\"x\"}\n");
    CHECK(ok.exit_code == 0);
  }
}

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

TEST_CASE("inspect prints architecture, dimensions, parameters, dtypes and tokenizer") {
  auto r = run_cli({"inspect", stories_model()});
  REQUIRE(r.exit_code == 0);
  CAPTURE(r.out);
  for (std::string want : {"architecture: llama (family Llama)", "mlp: SwiGLU", "norms: pre", "dim: 64", "layers: 5", "vocab: 512", "parameters:", "tensors:",
                           "F32", "tokenizer:", "context:", "bos id: 1", "eos ids: 2"}) {
    CAPTURE(want);
    CHECK(r.out.find(want) != std::string::npos);
  }
  auto bad = run_cli({"inspect", "/nonexistent.gguf"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("nonexistent.gguf") != std::string::npos);
}
