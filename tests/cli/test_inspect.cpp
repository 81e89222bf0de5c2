// `specbatch inspect` end to end: architecture, dimensions, parameters, dtypes
// and tokenizer of stories260K; a missing model is a fatal error.
#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::stories_model;

TEST_CASE("inspect prints architecture, dimensions, parameters, dtypes and tokenizer") {
  auto r = run_cli({"inspect", stories_model()});
  REQUIRE(r.exit_code == 0);
  CAPTURE(r.out);
  for (std::string want : {"architecture: llama (family Llama)", "mlp: SwiGLU", "norms: pre", "dim: 64", "layers: 5",
                           "vocab: 512", "parameters:", "tensors:",
                           "F32", "tokenizer:", "context:", "bos id: 1", "eos ids: 2"}) {
    CAPTURE(want);
    CHECK(r.out.find(want) != std::string::npos);
  }
  auto bad = run_cli({"inspect", "/nonexistent.gguf"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("nonexistent.gguf") != std::string::npos);
}
