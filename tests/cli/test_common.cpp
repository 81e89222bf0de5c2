// cli/common.h: --device, --dtype and --replicas (malformed values are usage
// errors naming the flag; a CUDA device that cannot be used is a clear fatal
// error; CPU replicas split --threads) and the output-directory check.
#include <thread>

#include "cli/cli_test_util.h"
#include "cli/common.h"

using sb::test::run_cli;
using sb::test::stories_model;

TEST_CASE("--device cuda without CUDA or a GPU is a clear fatal error, not a crash") {
  for (const char* device : {"cuda", "cuda:0", "cuda:all", "cuda:0,1"}) {
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

TEST_CASE("--replicas splits --threads between CPU replicas, the first ones taking the remainder") {
  auto split = [](int threads, int replicas) {
    auto c = sb::cli::parse_device("cpu", "auto", threads, replicas);
    REQUIRE(c.ok());
    std::vector<int> each;
    for (int i = 0; i < replicas; ++i) each.push_back(c->replica_threads(i));
    return each;
  };
  CHECK(split(0, 1) == std::vector<int>{0});  // one replica: as given (0 = all cores)
  CHECK(split(2, 2) == std::vector<int>{1, 1});
  CHECK(split(3, 2) == std::vector<int>{2, 1});
  CHECK(split(7, 3) == std::vector<int>{3, 2, 2});
  int all = 0;
  for (int n : split(0, 2)) {
    CHECK(n >= 1);
    all += n;
  }
  CHECK(all == std::max(2, static_cast<int>(std::thread::hardware_concurrency())));
  CHECK(!sb::cli::parse_device("cpu", "auto", 2, 3).ok());
  CHECK(!sb::cli::parse_device("cpu", "auto", 0, 0).ok());
  CHECK(!sb::cli::parse_device("cuda:0,1", "auto", 0, 2).ok());
  auto two = sb::cli::parse_device("cuda:0,1", "auto", 0);
  REQUIRE(two.ok());
  CHECK(two->cuda_devices == std::vector<int>{0, 1});
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
