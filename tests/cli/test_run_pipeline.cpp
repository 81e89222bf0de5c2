// cli/run_pipeline.h end to end: admission and drain. Input order restored through
// the reorder window (or completion order), every record equal to its one-at-a-time
// output; flags as defaults that records override; n samples admitted as n engine
// requests and joined into one line; stop_token_ids; per-record errors in place
// (exit 3); a tiny KV cache that preempts; output constraints (choice, regex,
// schema; refusals; the same text with a drafter); memory that does not grow with
// the input (peak RSS of 200,000 vs 2,000 records, a slow Release-only test).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "cli/cli_test_util.h"

using sb::test::ParsedLines;
using sb::test::ints;
using sb::test::kGreedy;
using sb::test::kStoryPreamble;
using sb::test::parse_output;
using sb::test::run_cli;
using sb::test::split_lines;
using sb::test::stories_model;
using sb::test::with;

namespace {

// 40 records; the first ones generate longest, so they finish last.
std::string mixed_input() {
  std::string in;
  const char* prompts[] = {"Once upon a time", "Tom", "The little dog", "Lily and Ben"};
  for (int i = 0; i < 40; ++i) {
    const int max_tokens = i < 4 ? 60 : 1 + i % 7;
    in += "{\"id\":\"r" + std::to_string(i) + "\",\"prompt\":\"" + prompts[i % 4] + "\",\"max_tokens\":" +
          std::to_string(max_tokens) + (i % 2 ? ",\"temperature\":0.8,\"seed\":" + std::to_string(i) : "") + "}\n";
  }
  return in;
}

// Runs specbatch with stdin from `in_path`, stdout to /dev/null; returns the
// child's peak RSS in KiB (wait4), or -1 when it did not exit 0.
long peak_rss_kib(const std::vector<std::string>& args, const std::string& in_path) {
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int in = open(in_path.c_str(), O_RDONLY);
    const int out = open("/dev/null", O_WRONLY);
    if (in < 0 || out < 0) _exit(127);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    std::vector<char*> argv;
    std::string bin = SPECBATCH_BINARY;
    argv.push_back(bin.data());
    std::vector<std::string> copy = args;
    for (std::string& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  struct rusage ru {};
  REQUIRE(wait4(pid, &status, 0, &ru) == pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return ru.ru_maxrss;
}

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

TEST_CASE("engine run: input order restored; every record equals its one-at-a-time output") {
  const std::string input = mixed_input();
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--threads", "1", "-q"};
  auto alone = run_cli({base[0], base[1], base[2], base[3], base[4], base[5], "--max-seqs", "1"}, input);
  REQUIRE(alone.exit_code == 0);
  auto batched = run_cli({base[0], base[1], base[2], base[3], base[4], base[5], "--max-seqs", "16",
                          "--max-batch-tokens", "24", "--reorder-window", "20"},
                         input);
  REQUIRE(batched.exit_code == 0);
  CHECK(batched.out == alone.out);  // byte for byte, in input order
  const auto lines = parse_output(batched.out);
  REQUIRE(lines.size() == 40);
  for (size_t i = 0; i < lines.size(); ++i) CHECK(lines[i].index == i);

  auto completion = run_cli({base[0], base[1], base[2], base[3], base[4], base[5], "--max-seqs", "16",
                             "--order", "completion"},
                            input);
  REQUIRE(completion.exit_code == 0);
  auto done = parse_output(completion.out);
  REQUIRE(done.size() == 40);
  CHECK(done.front().index != 0);  // record 0 generates 60 tokens: others finish first
  std::vector<std::string> sorted_lines = sb::test::split_lines(completion.out);
  std::sort(sorted_lines.begin(), sorted_lines.end(), [](const std::string& a, const std::string& b) {
    auto idx = [](const std::string& s) { return std::stoul(s.substr(9)); };  // {"index":N
    return idx(a) < idx(b);
  });
  CHECK(sorted_lines == sb::test::split_lines(alone.out));
}

TEST_CASE("seeded sampling repeats; flags set defaults and records override them") {
  const std::string input = "{\"prompt\":\"Once upon a time\",\"max_tokens\":30}\n"
                            "{\"prompt\":\"Once upon a time\",\"max_tokens\":30,\"seed\":5}\n";
  auto a = run_cli({"run", "-m", stories_model(), "--seed", "5", "--temperature", "0.8"}, input);
  auto b = run_cli({"run", "-m", stories_model(), "--seed", "5", "--temperature", "0.8"}, input);
  REQUIRE(a.exit_code == 0);
  CHECK(a.out == b.out);
  auto lines = parse_output(a.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].completion_tokens <= 30);

  auto defaults = run_cli({"run", "-m", stories_model(), "--max-tokens", "3", "--temperature", "0"},
                          "{\"prompt\":\"Once\"}\n{\"prompt\":\"Once\",\"max_tokens\":6}\n");
  auto d = parse_output(defaults.out);
  REQUIRE(d.size() == 2);
  CHECK(d[0].completion_tokens == 3);
  CHECK(d[1].completion_tokens == 6);
}

TEST_CASE("prefix run: --n and \"n\": sample k equals the record run with seed + k, in one line with choices") {
  const std::string input = "{\"prompt\":\"" + kStoryPreamble + " One day\"}\n" +  //
                            "{\"prompt\":\"" + kStoryPreamble + " Her dog\",\"n\":2}\n" +
                            "{\"prompt\":\"" + kStoryPreamble + " Then\",\"n\":1}\n";
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
                             "{\"prompt\":\"" + kStoryPreamble + " One day\"}\n" +  //
                                 "{\"prompt\":\"" + kStoryPreamble + " Her dog\"}\n" +
                                 "{\"prompt\":\"" + kStoryPreamble + " Then\"}\n");
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

TEST_CASE("cli stop_token_ids: generation ends at the first listed id of the unconstrained output") {
  const std::string base = "{\"prompt\":\"Once upon a time\",\"max_tokens\":20,\"return_token_ids\":true";
  auto free_run = run_cli(kGreedy, base + "}\n");
  REQUIRE(free_run.exit_code == 0);
  ParsedLines pf(free_run.out);
  const std::vector<int64_t> ids = ints(pf.docs[0]["token_ids"]);
  REQUIRE(ids.size() == 20);
  const int64_t stop_a = ids[5], stop_b = ids[11];
  size_t first = 0;
  while (ids[first] != stop_a && ids[first] != stop_b) ++first;
  auto r = run_cli(kGreedy, base + ",\"stop_token_ids\":[]}\n" + base + ",\"stop_token_ids\":[" +
                                std::to_string(stop_b) + "," + std::to_string(stop_a) + "]}\n");
  REQUIRE(r.exit_code == 0);
  ParsedLines p(r.out);
  REQUIRE(p.docs.size() == 2);
  CHECK(p.lines[0] == pf.lines[0]);  // an empty list stops nothing
  const std::vector<int64_t> cut = ints(p.docs[1]["token_ids"]);
  CHECK(cut == std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<long>(first) + 1));
  CHECK(std::string_view(p.docs[1]["finish_reason"]) == "stop");
}

TEST_CASE("per-record errors become error records in place; the run goes on; exit 3") {
  const std::string input =
      "{\"id\":\"ok1\",\"prompt\":\"Once\",\"max_tokens\":4}\n"
      "{\"id\":\"broken\",\"prompt\":\n"
      "{\"id\":\"np\",\"text\":\"no prompt here\"}\n"
      "{\"id\":\"hot\",\"prompt\":\"x\",\"temperature\":-1}\n"
      "{\"id\":\"topp\",\"prompt\":\"x\",\"top_p\":0}\n"
      "{\"id\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n"
      "{\"id\":\"utf\",\"prompt\":\"bad \xff byte\"}\n"
      "{\"id\":\"long\",\"prompt\":\"Once upon a time there was a very long story that goes on\"}\n"
      "{\"id\":\"ok2\",\"prompt\":\"Tom\",\"max_tokens\":2}\n";
  auto r = run_cli({"run", "-m", stories_model(), "--ctx", "8", "--temperature", "0"}, input);
  CHECK(r.exit_code == 3);
  auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 9);
  const char* expected[] = {"", "invalid_json", "missing_prompt", "invalid_param", "invalid_param",
                            "unsupported", "invalid_utf8", "prompt_too_long", ""};
  for (size_t i = 0; i < 9; ++i) {
    CAPTURE(i);
    CHECK(lines[i].index == i);
    CHECK(lines[i].is_error == (expected[i][0] != '\0'));
    CHECK(lines[i].error_code == expected[i]);
  }
  CHECK(lines[1].id_json == "null");  // unparseable: no id
  CHECK(lines[2].id_json == "\"np\"");
  CHECK(lines[7].id_json == "\"long\"");
  CHECK(lines[8].completion_tokens <= 2);
  CHECK(r.err.find("9 records (2 ok, 7 failed)") != std::string::npos);
}

TEST_CASE("engine run: a tiny KV cache preempts and recomputes; prompt + max_tokens beyond it is prompt_too_long") {
  // stories260K keeps 1,280 bytes of K/V per token: 1 MiB holds 819 tokens.
  std::string input;
  for (int i = 0; i < 24; ++i)
    input += "{\"prompt\":\"Once upon a time\",\"max_tokens\":" + std::to_string(40 + i) + ",\"seed\":" +
             std::to_string(i) + "}\n";
  input += "{\"prompt\":\"Tom\",\"max_tokens\":5000}\n";
  const std::string dir = sb::test::scratch_dir("cli_engine_kv");
  auto big = run_cli({"run", "-m", stories_model(), "-q", "--ignore-eos"}, input);
  auto small = run_cli({"run", "-m", stories_model(), "--ignore-eos", "--kv-cache-mb", "1", "--ctx", "900",
                        "--max-seqs", "24", "--stats-json", dir + "/s.json"},
                       input);
  CHECK(small.exit_code == 3);
  auto a = sb::test::split_lines(big.out), b = sb::test::split_lines(small.out);
  REQUIRE(a.size() == 25);
  REQUIRE(b.size() == 25);
  for (size_t i = 0; i < 24; ++i) CHECK(a[i] == b[i]);
  CHECK(parse_output(b[24])[0].error_code == "prompt_too_long");
  CHECK(sb::test::read_file(dir + "/s.json").find("\"preemptions\":0") == std::string::npos);
}

// Slow (about a minute of Release time; far more under ASan): skipped by
// default, run by ctest as test_cli_bounded_memory (see tests/CMakeLists.txt).
TEST_CASE("engine run: peak memory does not grow with the input (200,000 vs 2,000 records)" * doctest::skip()) {
  const std::string dir = sb::test::scratch_dir("cli_engine_memory");
  for (int n : {2000, 200000}) {
    std::ofstream f(dir + "/in" + std::to_string(n) + ".jsonl");
    for (int i = 0; i < n; ++i) f << "{\"id\":" << i << ",\"prompt\":\"Once upon a time " << i % 97 << "\",\"max_tokens\":4}\n";
  }
  const std::vector<std::string> args = {"run", "-m", stories_model(), "--threads", "1", "--max-seqs", "256",
                                         "--max-batch-tokens", "2048", "--progress", "none"};
  const long small = peak_rss_kib(args, dir + "/in2000.jsonl");
  const long large = peak_rss_kib(args, dir + "/in200000.jsonl");
  MESSAGE("peak RSS: 2,000 records " << small << " KiB, 200,000 records " << large << " KiB");
  REQUIRE(small > 0);
  REQUIRE(large > 0);
  CHECK(static_cast<double>(large) <= 1.5 * static_cast<double>(small));
}

TEST_CASE("output constraints per record: choice, regex and schema text follows them; refusals are error records") {
  const std::string schema =
      "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"maxLength\":8},"
      "\"age\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":120}},\"required\":[\"name\",\"age\"]}";
  const std::string input =
      "{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"guided_choice\":[\"yes\",\"no\",\"maybe\"]}\n"
      "{\"prompt\":\"Once upon a time\",\"max_tokens\":16,\"guided_regex\":\"[0-9]{3}-[a-z]{2}\"}\n"
      "{\"prompt\":\"Lily\",\"max_tokens\":64,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":"
      "{\"name\":\"person\",\"schema\":" + schema + "}}}\n"
      "{\"prompt\":\"x\",\"guided_json\":{\"properties\":{\"a\":{\"type\":\"integer\",\"multipleOf\":3}}}}\n"
      "{\"prompt\":\"x\",\"guided_regex\":\"(\"}\n"
      "{\"prompt\":\"x\",\"guided_choice\":[\"a\"],\"ignore_eos\":true}\n"
      "{\"prompt\":\"Tom\",\"max_tokens\":6,\"response_format\":{\"type\":\"text\"}}\n"
      "{\"prompt\":\"Tom\",\"max_tokens\":6}\n";
  auto r = run_cli(kGreedy, input);
  CHECK(r.exit_code == 3);
  ParsedLines p(r.out);
  REQUIRE(p.docs.size() == 8);
  const auto lines = parse_output(r.out);
  const std::string choice = lines[0].text;
  CHECK((choice == "yes" || choice == "no" || choice == "maybe"));
  CHECK(lines[0].finish_reason == "stop");
  const std::string code = lines[1].text;
  REQUIRE(code.size() == 6);
  for (size_t i : {0, 1, 2}) CHECK(std::isdigit(static_cast<unsigned char>(code[i])));
  CHECK(code[3] == '-');
  for (size_t i : {4, 5}) CHECK(std::islower(static_cast<unsigned char>(code[i])));
  simdjson::dom::parser parser;
  simdjson::dom::element person;
  CAPTURE(lines[2].text);
  REQUIRE(parser.parse(lines[2].text).get(person) == simdjson::SUCCESS);
  std::string_view name;
  int64_t age = -1;
  REQUIRE(person["name"].get(name) == simdjson::SUCCESS);
  REQUIRE(person["age"].get(age) == simdjson::SUCCESS);
  CHECK(name.size() <= 8);
  CHECK((age >= 0 && age <= 120));
  CHECK(lines[3].error_code == "unsupported");
  CHECK(std::string_view(p.docs[3]["error"]["message"]) ==
        "guided_json: /properties/a: keyword 'multipleOf' is not supported");
  CHECK(lines[4].error_code == "invalid_param");
  CHECK(std::string_view(p.docs[4]["error"]["message"]).starts_with("guided_regex: "));
  CHECK(lines[5].error_code == "invalid_param");
  CHECK(lines[6].text == lines[7].text);  // "text" is no constraint
  // Logprobs are the constrained distribution's: forbidden tokens are no alternatives.
  auto lp = run_cli(kGreedy, "{\"prompt\":\"Once upon a time\",\"guided_choice\":[\"yes\",\"no\"],\"logprobs\":3}\n");
  REQUIRE(lp.exit_code == 0);
  CHECK(lp.out.find("\"logprob\":null") == std::string::npos);
  CHECK(lp.out.find("\"top\":[{") != std::string::npos);
  // Greedy with a drafter is the same text, constrained or not.
  auto drafted = run_cli(with(kGreedy, {"--draft", "ngram", "--spec-policy", "fixed"}), input);
  CHECK(drafted.exit_code == 3);
  const auto spec_lines = parse_output(drafted.out);
  REQUIRE(spec_lines.size() == lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(i);
    CHECK(spec_lines[i].text == lines[i].text);
    CHECK(spec_lines[i].error_code == lines[i].error_code);
  }
}
