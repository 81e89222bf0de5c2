// `specbatch run --draft ngram`: greedy records are identical to the run
// without a drafter except for the added "spec" field; --stats-json and the
// summary give the acceptance; bad values are usage errors; bench measures
// each speculation policy against off, and can widen its model; model drafters
// (self:q8_0, self:q4_0, PATH) and DSpark drafts (dspark:DIR) keep greedy text, a
// foreign vocabulary is an error.
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "cli/cli_test_util.h"
#include "core/modelgen/random_dspark.h"
#include "core/modelgen/random_model.h"

using sb::test::run_cli;
using sb::test::split_lines;
using sb::test::stories_model;

TEST_CASE("spec run: --draft ngram keeps greedy text and adds the spec field") {
  const std::string dir = sb::test::scratch_dir("cli_spec");
  std::string input;
  const char* prompts[] = {"Tom had a big dog. The dog was happy. Tom had a big", "Once upon a time",
                           "The cat sat. The cat ran. The cat"};
  for (int i = 0; i < 9; ++i)
    input += std::string("{\"prompt\":\"") + prompts[i % 3] + "\",\"max_tokens\":" + std::to_string(10 + 7 * i) +
             (i == 4 ? ",\"stop\":[\".\"]" : "") + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "4"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  std::vector<std::string> with = base;
  // fixed, not the default confidence policy: confidence picks drafts from measured step
  // costs, so how many it verifies (and the acceptance rate) varies run to run.
  for (const char* a : {"--draft", "ngram", "--spec-policy", "fixed", "--spec-max", "5", "--stats-json"})
    with.push_back(a);
  with.push_back(dir + "/stats.json");
  auto spec = run_cli(with, input);
  REQUIRE(spec.exit_code == 0);
  const auto a = split_lines(plain.out), b = split_lines(spec.out);
  REQUIRE(a.size() == 9);
  REQUIRE(b.size() == 9);
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t cut = b[i].find(",\"spec\":{\"drafted\":");
    REQUIRE_MESSAGE(cut != std::string::npos, b[i]);
    CHECK(b[i].substr(0, cut) + b[i].substr(b[i].find('}', cut) + 1) == a[i]);
  }
  const std::string stats = sb::test::read_file(dir + "/stats.json");
  const size_t at = stats.find("\"draft_acceptance_rate\":");
  REQUIRE(at != std::string::npos);
  const double rate = std::strtod(stats.c_str() + at + 24, nullptr);
  CHECK(rate > 0.0);  // these prompts repeat themselves: ngram drafts get accepted
  CHECK(rate <= 1.0);
  CHECK(stats.find("\"mean_accepted_length\":") != std::string::npos);
  CHECK(spec.err.find("draft tokens accepted") != std::string::npos);
  // off: no drafter, no field.
  with = base;
  for (const char* a2 : {"--draft", "ngram", "--spec-policy", "off"}) with.push_back(a2);
  CHECK(run_cli(with, input).out == plain.out);
  CHECK(run_cli({"run", "-m", stories_model(), "--draft", "ngram:0"}, input).exit_code != 0);
  CHECK(run_cli({"run", "-m", stories_model(), "--spec-policy", "sometimes"}, input).exit_code == 2);
  CHECK(run_cli({"run", "-m", stories_model(), "--spec-max", "0"}, input).exit_code == 2);
}

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
  CHECK(r.out.find("\"backend\":\"cpu-") != std::string::npos);
  CHECK(std::filesystem::is_empty(dir));  // the temporary model is gone
  // Its matrices in BF16 (vectors stay F32): the weight bytes a step reads say so.
  std::vector<std::string> bf16 = args;
  bf16.insert(bf16.begin() + 5, {"--widen-dtype", "bf16"});
  auto b = run_cli(bf16);
  REQUIRE_MESSAGE(b.exit_code == 0, b.err);
  const int64_t step_bytes = 6 * ((per_layer - 256) * 2 + 256 * 4) + 128 * 4 + 512 * 128 * 2;
  CHECK(b.out.find("\"widen_dtype\":\"bf16\"") != std::string::npos);
  CHECK(b.out.find("\"weight_bytes_per_step\":" + std::to_string(step_bytes) + ",") != std::string::npos);
  for (const char* field : {"\"copy_gbps\":", "\"read_gbps\":", "\"weight_read_gbps_c1\":"})
    CHECK_MESSAGE(b.out.find(field) != std::string::npos, field);
  CHECK(std::filesystem::is_empty(dir));
  CHECK(run_cli({"bench", "-m", stories_model(), "--widen-dtype", "bf16"}).exit_code == 2);  // needs --widen-model
  args[4] = "100,6,256";                   // 100 is not a multiple of the head dim 64
  auto bad = run_cli(args);
  if (tmpdir != nullptr) {
    ::setenv("TMPDIR", saved.c_str(), 1);
  } else {
    ::unsetenv("TMPDIR");
  }
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("head_dim") != std::string::npos);
  CHECK(std::filesystem::is_empty(dir));
}

TEST_CASE("spec flags: --help and the man page document them") {
  const std::string man = sb::test::read_file(std::string(SPECBATCH_SOURCE_DIR) + "/man/specbatch.1");
  const auto troff = [](std::string flag) {
    std::string out;
    for (char c : flag) out += c == '-' ? std::string("\\-") : std::string(1, c);
    return out;
  };
  for (const char* cmd : {"run", "bench"}) {
    auto h = run_cli({cmd, "--help"});
    REQUIRE(h.exit_code == 0);
    std::vector<std::string> flags = {"--draft", "--spec-policy", "--spec-max", "--spec-profile"};
    if (std::string(cmd) == "bench") flags.push_back("--widen-model");
    for (const std::string& flag : flags) {
      CAPTURE(cmd);
      CAPTURE(flag);
      CHECK(h.out.find(flag) != std::string::npos);
      CHECK(man.find(".BI " + troff(flag) + " ") != std::string::npos);
    }
  }
  for (const char* field : {"no_draft_step_share", "record_steps_with_draft", "ratio_to_off", "step_seconds"})
    CHECK_MESSAGE(man.find(field) != std::string::npos, field);
}

TEST_CASE("spec run: --draft self:q8_0 and a draft model PATH keep greedy text; bad drafts are clear errors") {
  const std::string dir = sb::test::scratch_dir("cli_spec_model");
  std::string input;
  for (int i = 0; i < 5; ++i)
    input += "{\"prompt\":\"Once upon a time\",\"max_tokens\":" + std::to_string(6 + 5 * i) + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "3"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  // The model itself as a draft file: a PATH drafter whose vocabulary matches.
  for (const std::string& draft : {std::string("self:q8_0"), std::string("self:q4_0"), stories_model()}) {
    INFO(draft);
    std::vector<std::string> with = base;
    for (const std::string& a : {std::string("--draft"), draft, std::string("--spec-policy"), std::string("fixed")})
      with.push_back(a);
    auto spec = run_cli(with, input);
    REQUIRE(spec.exit_code == 0);
    const auto a = split_lines(plain.out), b = split_lines(spec.out);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      const size_t cut = b[i].find(",\"spec\":{\"drafted\":");
      REQUIRE_MESSAGE(cut != std::string::npos, b[i]);
      CHECK(b[i].substr(0, cut) + "}" == a[i]);
    }
  }
  sb::RandomModelShape shape;  // stories260K's vocabulary size, other pieces
  REQUIRE(sb::write_random_model(dir + "/other.gguf", shape, 3).ok());
  auto mismatch = run_cli({"run", "-m", stories_model(), "--draft", dir + "/other.gguf"}, input);
  CHECK(mismatch.exit_code == 1);
  CHECK(mismatch.err.find("vocabulary differs from the target's at token id") != std::string::npos);
  auto bad_kind = run_cli({"run", "-m", stories_model(), "--draft", "self:q5_1"}, input);
  CHECK(bad_kind.exit_code == 1);
  CHECK(bad_kind.err.find("self:q8_0 or self:q4_0") != std::string::npos);
  auto bench = run_cli({"bench", "-m", stories_model(), "--batch", "2", "--prompt-len", "8", "--gen-len", "10",
                        "--draft", "self:q4_0", "--spec-policy", "fixed", "--json"});
  REQUIRE(bench.exit_code == 0);
  CHECK(bench.out.find("\"accepted_draft_tokens\":") != std::string::npos);
}

TEST_CASE("spec run: --draft dspark:DIR keeps greedy text, bench measures it, a bad checkpoint is an error") {
  const std::string dir = sb::test::scratch_dir("cli_spec_dspark");
  sb::RandomDSparkShape shape;  // random weights for stories260K's shape
  shape.n_vocab = 512;
  shape.dim = 64;
  shape.target_n_layer = 5;
  REQUIRE(sb::write_random_dspark(dir + "/dspark", shape, 5).ok());
  std::string input;
  for (int i = 0; i < 5; ++i)
    input += "{\"prompt\":\"Once upon a time\",\"max_tokens\":" + std::to_string(6 + 5 * i) + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "3"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  std::vector<std::string> with = base;
  for (const std::string& a : {std::string("--draft"), "dspark:" + dir + "/dspark", std::string("--spec-policy"),
                              std::string("fixed")})
    with.push_back(a);
  auto spec = run_cli(with, input);
  REQUIRE_MESSAGE(spec.exit_code == 0, spec.err);
  const auto a = split_lines(plain.out), b = split_lines(spec.out);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t cut = b[i].find(",\"spec\":{\"drafted\":");
    REQUIRE_MESSAGE(cut != std::string::npos, b[i]);
    CHECK(b[i].find(",\"spec\":{\"drafted\":0,") == std::string::npos);  // records of 6+ tokens draft
    CHECK(b[i].substr(0, cut) + "}" == a[i]);
  }
  auto missing = run_cli({"run", "-m", stories_model(), "--draft", "dspark:" + dir + "/none"}, input);
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find(dir + "/none") != std::string::npos);
  auto bench = run_cli({"bench", "-m", stories_model(), "--batch", "2", "--prompt-len", "8", "--gen-len", "10",
                        "--draft", "dspark:" + dir + "/dspark", "--json"});
  REQUIRE_MESSAGE(bench.exit_code == 0, bench.err);
  CHECK(bench.out.find("\"accepted_draft_tokens\":") != std::string::npos);
  for (const char* cmd : {"run", "bench"}) CHECK(run_cli({cmd, "--help"}).out.find("dspark:DIR") != std::string::npos);
}
