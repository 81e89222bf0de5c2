// cli/engine_setup.h end to end, `--spec-profile FILE` (run and bench): written
// after profiling; loaded and used when its key matches (a steep loaded cost
// makes the confidence policy verify no draft, a flat one every draft, as many as
// the fixed policy); re-profiled and overwritten with a note when the key differs;
// a malformed file is an error naming the file and the field; a model drafter's
// pass times saved with the --draft value. Without it, the per-user cache in
// $XDG_CACHE_HOME/specbatch/: written, reused, one file per key, a corrupt file
// rewritten, an unusable directory a note, --no-profile-cache writing nothing.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "cli/cli_test_util.h"

using sb::test::json_number;
using sb::test::kRepetitiveInput;
using sb::test::read_file;
using sb::test::run_cli;
using sb::test::stories_model;
using sb::test::write_file;

namespace {

// `json` with the step_seconds array replaced by `points`.
std::string with_points(const std::string& json, const std::string& points) {
  const size_t at = json.find("\"step_seconds\":");
  const size_t end = json.find(",\"draft_pass_seconds\":", at);
  REQUIRE(end != std::string::npos);
  return json.substr(0, at) + "\"step_seconds\":" + points + json.substr(end);
}

}  // namespace

TEST_CASE("spec profile: run writes, loads, re-profiles on a key change, rejects malformed files") {
  const std::string dir = sb::test::scratch_dir("cli_spec_profile");
  const std::string profile = dir + "/profile.json", stats = dir + "/stats.json";
  std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "4",
                                   "--max-batch-tokens", "128", "--threads", "2", "--draft", "ngram",
                                   "--stats-json", stats};
  std::vector<std::string> confidence = base;
  for (const char* a : {"--spec-policy", "confidence", "--spec-profile"}) confidence.push_back(a);
  confidence.push_back(profile);

  auto first = run_cli(confidence, kRepetitiveInput);
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  const std::string written = read_file(profile);
  CHECK(json_number(written, "threads") == 2);
  CHECK(json_number(written, "max_batch_tokens") == 128);
  CHECK(json_number(written, "kv_block_size") == 16);
  CHECK(written.find("\"step_seconds\":[[1,") != std::string::npos);

  // Steep: each extra token at least doubles the step time, so no draft pays.
  std::string steep = "[";
  for (int b = 1; b <= 128; ++b) {
    char point[64];
    std::snprintf(point, sizeof(point), "%s[%d,%.6g]", b > 1 ? "," : "", b, std::pow(2.5, b));
    steep += point;
  }
  steep += "]";
  write_file(profile, with_points(written, steep));
  auto loaded = run_cli(confidence, kRepetitiveInput);
  REQUIRE_MESSAGE(loaded.exit_code == 0, loaded.err);
  CHECK(loaded.err.find("profiling again") == std::string::npos);
  CHECK(read_file(profile) == with_points(written, steep));  // loaded, not rewritten
  CHECK(json_number(read_file(stats), "draft_tokens") == 0);
  CHECK(json_number(read_file(stats), "no_draft_step_share") == 1);

  // Flat: every draft token looks free, so drafting starts (what the run then
  // times corrects the profile, so how much it drafts is the run's business).
  write_file(profile, with_points(written, "[[1,0.001],[128,0.001]]"));
  REQUIRE(run_cli(confidence, kRepetitiveInput).exit_code == 0);
  CHECK(json_number(read_file(stats), "draft_tokens") > 0);

  // Another thread count: profiled again, overwritten, with a note naming the field.
  std::vector<std::string> other = confidence;
  other[std::find(other.begin(), other.end(), "--threads") - other.begin() + 1] = "1";
  auto reprofiled = run_cli(other, kRepetitiveInput);
  REQUIRE_MESSAGE(reprofiled.exit_code == 0, reprofiled.err);
  CHECK(reprofiled.err.find(profile + ": profiled for other settings (threads (2 in the file, 1 now))") !=
        std::string::npos);
  CHECK(json_number(read_file(profile), "threads") == 1);

  // Malformed: a fatal error naming the file and the field.
  write_file(profile, "{\"specbatch_spec_profile\":2,\"model_size\":\"big\"}");
  auto bad = run_cli(confidence, kRepetitiveInput);
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find(profile) != std::string::npos);
  CHECK(bad.err.find("'model_size'") != std::string::npos);
  CHECK(bad.out.empty());
}

TEST_CASE("spec profile: bench writes it once and every concurrency reuses it") {
  const std::string dir = sb::test::scratch_dir("cli_spec_profile_bench");
  const std::string profile = dir + "/profile.json";
  const std::vector<std::string> args = {"bench", "-m", stories_model(), "--batch", "1,2", "--prompt-len", "8",
                                         "--gen-len", "6", "--threads", "2", "--draft", "ngram", "--spec-policy",
                                         "confidence", "--spec-profile", profile, "--json"};
  auto r = run_cli(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string written = read_file(profile);
  CHECK(json_number(written, "threads") == 2);
  auto again = run_cli(args);
  REQUIRE(again.exit_code == 0);
  CHECK(again.err.find("profiling again") == std::string::npos);
  CHECK(read_file(profile) == written);
}

TEST_CASE("spec profile: a model drafter's pass times are saved with the --draft value") {
  const std::string dir = sb::test::scratch_dir("cli_spec_profile_draft");
  const std::string profile = dir + "/profile.json";
  std::vector<std::string> args = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "2",
                                   "--max-batch-tokens", "64", "--threads", "2", "--draft", "self:q8_0",
                                   "--spec-profile", profile};
  auto r = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  const std::string written = read_file(profile);
  CHECK(written.find("\"draft\":\"self:q8_0\"") != std::string::npos);
  CHECK(written.find("\"draft_pass_seconds\":[[1,") != std::string::npos);
  // Another drafter: profiled again, the note naming the draft.
  args[args.size() - 3] = "self:q4_0";
  auto other = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(other.exit_code == 0, other.err);
  CHECK(other.err.find("draft (self:q8_0 in the file, self:q4_0 now)") != std::string::npos);
}

TEST_CASE("profile cache: written on the first run, reused, keyed, rewritten when corrupt, off on request") {
  const std::string dir = sb::test::scratch_dir("cli_profile_cache");
  const sb::test::ScopedEnv env("XDG_CACHE_HOME", (dir + "/xdg").c_str());
  const std::string cache = dir + "/xdg/specbatch";
  const auto files = [&cache] {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(cache, ec)) names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  std::vector<std::string> args = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "2",
                                   "--max-batch-tokens", "32", "--threads", "2", "--draft", "ngram"};

  auto first = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  REQUIRE(files().size() == 1);
  const std::string file = files()[0];
  CHECK(first.err.find("step cost profiled and cached in " + file) != std::string::npos);
  const std::string written = read_file(file);
  CHECK(json_number(written, "threads") == 2);

  auto second = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(second.exit_code == 0, second.err);
  CHECK(second.err.find("step cost profile loaded from " + file) != std::string::npos);
  CHECK(second.err.find("profiled and cached") == std::string::npos);
  CHECK(read_file(file) == written);

  // Another key: a file of its own beside the first.
  std::vector<std::string> other = args;
  other[std::find(other.begin(), other.end(), "--threads") - other.begin() + 1] = "1";
  REQUIRE(run_cli(other, kRepetitiveInput).exit_code == 0);
  CHECK(files().size() == 2);
  CHECK(read_file(file) == written);

  // Corrupt: ignored with a note, profiled again and rewritten.
  write_file(file, "{\"specbatch_spec_profile\":2,");
  auto corrupt = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(corrupt.exit_code == 0, corrupt.err);
  CHECK(corrupt.err.find("ignoring the cached " + file) != std::string::npos);
  CHECK(corrupt.err.find("step cost profiled and cached in " + file) != std::string::npos);
  CHECK(json_number(read_file(file), "threads") == 2);

  // --no-profile-cache: nothing read or written.
  std::filesystem::remove_all(cache);
  args.push_back("--no-profile-cache");
  auto off = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(off.exit_code == 0, off.err);
  CHECK(files().empty());
  CHECK(off.err.find("step cost") == std::string::npos);

  // An unusable cache directory (a file is in the way): a note, and the run goes on.
  args.pop_back();
  std::filesystem::remove_all(dir + "/xdg");
  write_file(dir + "/xdg", "");
  auto unwritable = run_cli(args, kRepetitiveInput);
  REQUIRE_MESSAGE(unwritable.exit_code == 0, unwritable.err);
  CHECK(unwritable.err.find("the step cost profile is not cached: ") != std::string::npos);
  CHECK(sb::test::split_lines(unwritable.out).size() == 6);
}
