// `specbatch run --draft ngram`: greedy records are identical to the run
// without a drafter except for the added "spec" field; --stats-json and the
// summary give the acceptance; bad values are usage errors; bench takes --draft;
// model drafters (self:q8_0, self:q4_0, PATH) keep greedy text, a foreign
// vocabulary is an error.
#include <cstdlib>

#include "cli/cli_test_util.h"
#include "formats/random_model.h"

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
    CHECK(b[i].substr(0, cut) + "}" == a[i]);
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

TEST_CASE("spec bench: --draft adds the speculative columns") {
  auto r = run_cli({"bench", "-m", stories_model(), "--batch", "1,3", "--prompt-len", "8", "--gen-len", "12",
                    "--draft", "ngram", "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("\"spec_ratio\":") != std::string::npos);
  CHECK(r.out.find("\"accepted_draft_tokens\":") != std::string::npos);
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
