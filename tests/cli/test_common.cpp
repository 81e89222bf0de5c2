// cli/common.h: --device and --dtype (malformed values are usage errors naming
// the flag; a CUDA device that cannot be used is a clear fatal error) and the
// output-directory check.
#include "cli/cli_test_util.h"
#include "cli/common.h"

using sb::test::run_cli;
using sb::test::stories_model;

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

TEST_CASE("check_output_directory: a missing or unwritable directory is named with the flag") {
  const std::string dir = sb::test::scratch_dir("cli_common_dir");
  CHECK(sb::cli::check_output_directory(dir + "/out.jsonl", "-o").ok());
  CHECK(sb::cli::check_output_directory("relative.jsonl", "-o").ok());  // the current directory
  CHECK(sb::cli::check_output_directory("/dev/null", "--stats-json").ok());  // a device needs no directory
  const sb::Status missing = sb::cli::check_output_directory(dir + "/no/out.jsonl", "--errors");
  CHECK(missing.message() == "--errors " + dir + "/no/out.jsonl: its directory " + dir +
                                 "/no cannot be used: No such file or directory");
  sb::test::write_file(dir + "/file", "x");
  const sb::Status file = sb::cli::check_output_directory(dir + "/file/out.jsonl", "-o");
  CHECK_FALSE(file.ok());
  CHECK(file.message().find(dir + "/file") != std::string::npos);
}
