// `specbatch run` with the prefix cache and n samples per record: sample k of a
// record equals the record run alone with seed + k; n > 1 writes one line with
// "choices" (both output formats); --no-prefix-cache changes no output; the
// hit rate reaches the summary and --stats-json; bad n values are refused.
#include <cstdlib>

#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::split_lines;
using sb::test::stories_model;

namespace {

const std::string kPreamble = "Once upon a time there was a little girl named Lily. She liked to play in the park.";

// Texts of a plain-format line: its "text", or each choice's text in order.
std::vector<std::string> sample_texts(const std::string& line, int64_t* completion_tokens) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
  REQUIRE(doc["usage"]["completion_tokens"].get(*completion_tokens) == simdjson::SUCCESS);
  std::vector<std::string> texts;
  simdjson::dom::array choices;
  if (doc["choices"].get(choices) != simdjson::SUCCESS) {
    std::string_view text;
    REQUIRE(doc["text"].get(text) == simdjson::SUCCESS);
    texts.emplace_back(text);
    return texts;
  }
  CHECK(doc["text"].error() == simdjson::NO_SUCH_FIELD);
  int64_t k = 0;
  for (simdjson::dom::element c : choices) {
    int64_t index = -1;
    std::string_view text, reason;
    REQUIRE(c["index"].get(index) == simdjson::SUCCESS);
    CHECK(index == k++);
    REQUIRE(c["text"].get(text) == simdjson::SUCCESS);
    REQUIRE(c["finish_reason"].get(reason) == simdjson::SUCCESS);
    texts.emplace_back(text);
  }
  return texts;
}

}  // namespace

TEST_CASE("prefix run: --n and \"n\": sample k equals the record run with seed + k, in one line with choices") {
  const std::string input = "{\"prompt\":\"" + kPreamble + " One day\"}\n" +  //
                            "{\"prompt\":\"" + kPreamble + " Her dog\",\"n\":2}\n" +
                            "{\"prompt\":\"" + kPreamble + " Then\",\"n\":1}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0.9",
                                         "--max-tokens", "24", "--ignore-eos"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const auto many = run_cli(with({"--n", "4", "--seed", "5"}), input);
  REQUIRE(many.exit_code == 0);
  const auto lines = split_lines(many.out);
  REQUIRE(lines.size() == 3);
  std::vector<std::vector<std::string>> single(4);  // [k][record]: n = 1 runs with seed 5 + k
  std::vector<std::vector<int64_t>> single_tokens(4);
  for (int k = 0; k < 4; ++k) {
    const auto one = run_cli(with({"--seed", std::to_string(5 + k)}),
                             "{\"prompt\":\"" + kPreamble + " One day\"}\n" +  //
                                 "{\"prompt\":\"" + kPreamble + " Her dog\"}\n" +
                                 "{\"prompt\":\"" + kPreamble + " Then\"}\n");
    REQUIRE(one.exit_code == 0);
    for (const std::string& l : split_lines(one.out)) {
      int64_t tokens = 0;
      single[static_cast<size_t>(k)].push_back(sample_texts(l, &tokens).at(0));
      single_tokens[static_cast<size_t>(k)].push_back(tokens);
    }
  }
  const size_t want_n[] = {4, 2, 1};
  for (size_t r = 0; r < 3; ++r) {
    CAPTURE(r);
    int64_t completion = 0;
    const auto texts = sample_texts(lines[r], &completion);
    REQUIRE(texts.size() == want_n[r]);
    int64_t want_completion = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      CHECK(texts[k] == single[k][r]);
      want_completion += single_tokens[k][r];
    }
    CHECK(completion == want_completion);
  }
  CHECK(lines[2].find("\"choices\"") == std::string::npos);
  CHECK(single[0][0] != single[1][0]);  // the seeds differ, so do the samples

  // OpenAI shape: one choice per sample, the same texts.
  const auto openai = run_cli(with({"--n", "4", "--seed", "5", "--output-format", "openai"}), input);
  REQUIRE(openai.exit_code == 0);
  const auto olines = split_lines(openai.out);
  REQUIRE(olines.size() == 3);
  CHECK(olines[0].find("\"choices\":[{\"index\":0,\"text\":") != std::string::npos);
  CHECK(olines[0].find("{\"index\":3,\"text\":") != std::string::npos);
  CHECK(olines[1].find("{\"index\":1,\"text\":") != std::string::npos);
  CHECK(olines[1].find("{\"index\":2,\"text\":") == std::string::npos);
}

TEST_CASE("prefix run: --no-prefix-cache gives the same lines; the hit rate is reported") {
  const std::string dir = sb::test::scratch_dir("cli_prefix");
  std::string input;
  for (int i = 0; i < 6; ++i)
    input += "{\"prompt\":\"" + kPreamble + (i % 2 ? " Lily" : " The sun") + "\",\"seed\":" + std::to_string(i) + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--max-tokens", "20", "--max-seqs", "3"};
  auto args = base;
  for (const char* a : {"--n", "2", "--stats-json"}) args.push_back(a);
  args.push_back(dir + "/on.json");
  const auto on = run_cli(args, input);
  REQUIRE(on.exit_code == 0);
  args.back() = dir + "/off.json";
  args.push_back("--no-prefix-cache");
  const auto off = run_cli(args, input);
  REQUIRE(off.exit_code == 0);
  CHECK(on.out == off.out);
  auto rate = [](const std::string& path) {
    const std::string stats = sb::test::read_file(path);
    const size_t at = stats.find("\"prefix_cache_hit_rate\":");
    REQUIRE(at != std::string::npos);
    return std::strtod(stats.c_str() + at + 24, nullptr);
  };
  CHECK(rate(dir + "/on.json") > 0.5);  // 12 samples of 6 prompts sharing a 2-block preamble
  CHECK(rate(dir + "/off.json") == 0.0);
  CHECK(on.err.find("prefix cache hit rate") != std::string::npos);
}

TEST_CASE("prefix run: n out of range is an error record, --n out of range a usage error; --help lists the flags") {
  const auto bad = run_cli({"run", "-m", stories_model(), "--max-tokens", "2"},
                           "{\"prompt\":\"a\",\"n\":0}\n{\"prompt\":\"a\",\"n\":129}\n{\"prompt\":\"a\",\"n\":1.5}\n");
  CHECK(bad.exit_code == 3);
  const auto lines = sb::test::parse_output(bad.out);
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) CHECK(l.error_code == "invalid_param");
  CHECK(run_cli({"run", "-m", stories_model(), "--n", "0"}, "").exit_code == 2);
  const auto help = run_cli({"run", "--help"});
  CHECK(help.out.find("--n") != std::string::npos);
  CHECK(help.out.find("--no-prefix-cache") != std::string::npos);
}
