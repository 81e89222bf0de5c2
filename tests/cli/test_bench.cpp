// `specbatch bench` end to end: with --draft it measures off, fixed and
// confidence with ratios to off; --widen-model measures a widened,
// function-equivalent model (a shape that does not fit the model exits 1).
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::stories_model;

TEST_CASE("spec bench: --draft measures off, fixed and confidence with ratios to off") {
  auto r = run_cli({"bench", "-m", stories_model(), "--batch", "1,3", "--prompt-len", "8", "--gen-len", "40",
                    "--draft", "ngram", "--json"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(r.out).get(doc) == simdjson::SUCCESS);
  simdjson::dom::array results;
  REQUIRE(doc["results"].get(results) == simdjson::SUCCESS);
  REQUIRE(results.size() == 2);
  for (simdjson::dom::element row : results) {
    simdjson::dom::array policies;
    REQUIRE(row["policies"].get(policies) == simdjson::SUCCESS);
    std::vector<std::string> names;
    double off_tps = 0;
    for (simdjson::dom::element p : policies) {
      std::string_view name;
      double tps = 0, ratio = 0;
      REQUIRE(p["policy"].get(name) == simdjson::SUCCESS);
      REQUIRE(p["generated_tokens_per_second"].get(tps) == simdjson::SUCCESS);
      REQUIRE(p["ratio_to_off"].get(ratio) == simdjson::SUCCESS);
      if (name == "off") off_tps = tps;
      CHECK(ratio == doctest::Approx(tps / off_tps));
      names.emplace_back(name);
      if (name == "off") {
        CHECK(p["mean_accepted_length"].error() == simdjson::NO_SUCH_FIELD);
        continue;
      }
      double drafted = 0, accepted = 0, mean = 0, share = -1;
      REQUIRE(p["draft_tokens"].get(drafted) == simdjson::SUCCESS);
      REQUIRE(p["accepted_draft_tokens"].get(accepted) == simdjson::SUCCESS);
      REQUIRE(p["mean_accepted_length"].get(mean) == simdjson::SUCCESS);
      REQUIRE(p["no_draft_step_share"].get(share) == simdjson::SUCCESS);
      CHECK(accepted <= drafted);
      CHECK(share >= 0);
      CHECK(share < 1 + 1e-12);
      if (name == "fixed") CHECK(drafted > 0);
    }
    CHECK(names == std::vector<std::string>{"off", "fixed", "confidence"});
  }
  // A chosen list; off, the baseline, is always measured.
  auto fixed = run_cli({"bench", "-m", stories_model(), "--batch", "2", "--prompt-len", "8", "--gen-len", "6",
                        "--draft", "ngram", "--spec-policy", "fixed"});
  REQUIRE_MESSAGE(fixed.exit_code == 0, fixed.err);
  CHECK(fixed.out.find(" off ") != std::string::npos);
  CHECK(fixed.out.find(" fixed ") != std::string::npos);
  CHECK(fixed.out.find("confidence") == std::string::npos);
  CHECK(fixed.out.find("vs off") != std::string::npos);
  CHECK(run_cli({"bench", "-m", stories_model(), "--spec-policy", "fixed"}).exit_code == 2);
  CHECK(run_cli({"bench", "-m", stories_model(), "--spec-policy", "often", "--draft", "ngram"}).exit_code == 2);
  // --repeat: the same table, every measurement the fastest of N runs.
  auto twice = run_cli({"bench", "-m", stories_model(), "--batch", "2", "--prompt-len", "8", "--gen-len", "6",
                        "--draft", "ngram", "--repeat", "2", "--json"});
  REQUIRE_MESSAGE(twice.exit_code == 0, twice.err);
  CHECK(twice.out.find("\"repeat\":2") != std::string::npos);
  CHECK(twice.out.find("\"policy\":\"confidence\"") != std::string::npos);
  CHECK(run_cli({"bench", "-m", stories_model(), "--repeat", "0"}).exit_code == 2);
}

TEST_CASE("spec bench: --widen-model measures the widened, function-equivalent model") {
  const std::string dir = sb::test::scratch_dir("cli_spec_widen");
  const std::vector<std::string> common = {"--batch", "1", "--prompt-len", "6", "--gen-len", "4", "--json"};
  std::vector<std::string> args = {"bench", "-m", stories_model(), "--widen-model", "128,6,256,16"};
  args.insert(args.end(), common.begin(), common.end());
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string saved = tmpdir != nullptr ? tmpdir : "";
  ::setenv("TMPDIR", dir.c_str(), 1);  // inherited by the child
  auto r = run_cli(args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // dim 128, 6 layers of 8 heads of 16 (4 kv heads), ffn 256, vocab 512, untied output.
  const int64_t per_layer = 2 * 128 + 128 * 128 * 2 + 64 * 128 * 2 + 3 * 128 * 256;
  CHECK(r.out.find("\"params\":" + std::to_string(6 * per_layer + 128 + 2 * 512 * 128) + ",") != std::string::npos);
  CHECK(r.out.find("\"widen_model\":\"128,6,256,16\"") != std::string::npos);
  CHECK(std::filesystem::is_empty(dir));  // the temporary model is gone
  args[4] = "100,6,256";                   // 100 is not a multiple of the head dim 64
  auto bad = run_cli(args);
  if (tmpdir != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  CHECK(bad.exit_code == 1);  // well-formed, but not a widening of this model
  CHECK(bad.err.find("head_dim") != std::string::npos);
  CHECK(std::filesystem::is_empty(dir));
}
