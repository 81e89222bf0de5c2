// End-to-end token ids, logprobs and stop_token_ids in `specbatch run`: the
// specbatch shape (prompt ids as `tokenize` gives them, one logprobs entry per
// token id, top-K descending, greedy picks the top), the CLI defaults and the
// record overrides, the same fields with --draft ngram, both OpenAI shapes
// carrying the same numbers, stop_token_ids against the unconstrained output,
// the flags in the resume manifest, and errors.
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_test_util.h"

using sb::test::run_cli;
using sb::test::split_lines;
using sb::test::stories_model;
using simdjson::dom::array;
using simdjson::dom::element;

namespace {

std::vector<int64_t> ints(element e) {
  std::vector<int64_t> out;
  array a;
  REQUIRE(e.get_array().get(a) == simdjson::SUCCESS);
  for (element x : a) out.push_back(int64_t(x));
  return out;
}

// The lines of an output, parsed (each must be a JSON object).
struct Parsed {
  std::vector<std::string> lines;
  std::vector<element> docs;
  std::vector<std::unique_ptr<simdjson::dom::parser>> parsers;  // one per line keeps every document alive
  explicit Parsed(const std::string& out) : lines(split_lines(out)) {
    for (const std::string& l : lines) {
      parsers.emplace_back(std::make_unique<simdjson::dom::parser>());
      element doc;
      REQUIRE_MESSAGE(parsers.back()->parse(l).get(doc) == simdjson::SUCCESS, l);
      docs.push_back(doc);
    }
  }
};

const std::vector<std::string> kGreedy = {"run", "-m", stories_model(), "--temperature", "0", "-q", "--max-seqs", "3"};

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("cli logprobs: specbatch shape, token ids, CLI defaults, record overrides, same with ngram drafts") {
  const std::string input =
      "{\"id\":\"a\",\"prompt\":\"Once upon a time\",\"max_tokens\":14,\"logprobs\":3,\"return_token_ids\":true}\n"
      "{\"id\":\"b\",\"prompt\":\"Tom had a big dog. Tom had a big\",\"max_tokens\":9,\"logprobs\":0}\n"
      "{\"id\":\"c\",\"prompt\":\"The sun\",\"max_tokens\":5}\n"
      "{\"id\":\"d\",\"prompt\":\"The sun\",\"max_tokens\":5,\"logprobs\":false,\"return_token_ids\":false}\n";
  auto r = run_cli(kGreedy, input);
  REQUIRE(r.exit_code == 0);
  Parsed p(r.out);
  REQUIRE(p.docs.size() == 4);
  const element a = p.docs[0];
  const std::vector<int64_t> prompt_ids = ints(a["prompt_token_ids"]);
  auto tokenized = run_cli({"tokenize", "-m", stories_model(), "--text", "Once upon a time"});
  std::string want;
  for (int64_t id : prompt_ids) {
    if (!want.empty()) want.push_back(' ');
    want += std::to_string(id);
  }
  CHECK(tokenized.out == want + "\n");
  const std::vector<int64_t> ids = ints(a["token_ids"]);
  REQUIRE(ids.size() == 14);
  CHECK(int64_t(a["usage"]["completion_tokens"]) == 14);
  array lps;
  REQUIRE(a["logprobs"].get_array().get(lps) == simdjson::SUCCESS);
  size_t i = 0;
  for (element e : lps) {
    CAPTURE(i);
    REQUIRE(i < ids.size());
    CHECK(int64_t(e["token"]) == ids[i]);
    CHECK(!std::string_view(e["text"]).empty());
    const double lp = double(e["logprob"]);
    CHECK(lp <= 0);
    array top;
    REQUIRE(e["top"].get_array().get(top) == simdjson::SUCCESS);
    REQUIRE(top.size() == 3);
    CHECK(int64_t(top.at(0)["token"]) == ids[i]);  // greedy takes the most likely token
    CHECK(double(top.at(0)["logprob"]) == lp);
    CHECK(double(top.at(1)["logprob"]) <= double(top.at(0)["logprob"]));
    CHECK(double(top.at(2)["logprob"]) <= double(top.at(1)["logprob"]));
    ++i;
  }
  CHECK(i == ids.size());
  // K = 0: the token's own logprob, no alternatives; no token ids unless asked.
  const element b = p.docs[1];
  REQUIRE(b["logprobs"].get_array().get(lps) == simdjson::SUCCESS);
  CHECK(lps.size() == 9);
  CHECK(array(lps.at(0)["top"]).size() == 0);
  CHECK(b["token_ids"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(b["prompt_token_ids"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(p.docs[2]["logprobs"].error() == simdjson::NO_SUCH_FIELD);

  // CLI defaults apply to records that do not set their own; false turns them off.
  auto d = run_cli(with(kGreedy, {"--logprobs", "2", "--return-token-ids"}), input);
  REQUIRE(d.exit_code == 0);
  Parsed pd(d.out);
  REQUIRE(pd.docs.size() == 4);
  CHECK(pd.lines[0] == p.lines[0]);
  CHECK(pd.docs[1]["token_ids"].error() == simdjson::SUCCESS);
  CHECK(array(pd.docs[2]["logprobs"].at(0)["top"]).size() == 2);
  CHECK(ints(pd.docs[2]["prompt_token_ids"]).size() == size_t(int64_t(pd.docs[2]["usage"]["prompt_tokens"])));
  CHECK(pd.docs[3]["logprobs"].error() == simdjson::NO_SUCH_FIELD);
  CHECK(pd.docs[3]["token_ids"].error() == simdjson::NO_SUCH_FIELD);

  // Speculation changes nothing but adds the spec field.
  auto s = run_cli(with(kGreedy, {"--draft", "ngram", "--spec-policy", "fixed", "--spec-max", "4"}), input);
  REQUIRE(s.exit_code == 0);
  const auto sl = split_lines(s.out);
  REQUIRE(sl.size() == 4);
  for (size_t k = 0; k < sl.size(); ++k) {
    const size_t cut = sl[k].find(",\"spec\":{\"drafted\":");
    REQUIRE(cut != std::string::npos);
    CHECK(sl[k].substr(0, cut) + "}" == p.lines[k]);
  }
}

TEST_CASE("cli logprobs: OpenAI completion and chat shapes carry the same token ids and logprobs") {
  const std::string dir = sb::test::scratch_dir("cli_logprobs_openai");
  const std::string tpl = dir + "/chat.jinja";
  sb::test::write_file(tpl, "{% for m in messages %}{{ m.content }}{% endfor %}");
  const std::string input =
      "{\"custom_id\":\"c\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{\"prompt\":\"Once upon a time\","
      "\"max_tokens\":8,\"logprobs\":4,\"return_token_ids\":true}}\n"
      "{\"custom_id\":\"m\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{\"messages\":[{\"role\":"
      "\"user\",\"content\":\"Once upon a time\"}],\"max_tokens\":8,\"logprobs\":true,\"top_logprobs\":4,"
      "\"return_token_ids\":true}}\n"
      "{\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"logprobs\":4,\"return_token_ids\":true}\n";
  const auto args = with(kGreedy, {"--chat-template", tpl});
  auto plain = run_cli(args, input);
  REQUIRE(plain.exit_code == 0);
  Parsed pp(plain.out);
  REQUIRE(pp.docs.size() == 3);
  auto oa = run_cli(with(args, {"--output-format", "openai"}), input);
  REQUIRE(oa.exit_code == 0);
  Parsed po(oa.out);
  REQUIRE(po.docs.size() == 3);
  for (size_t r = 0; r < 3; ++r) {
    CAPTURE(r);
    const element ref = pp.docs[r];  // specbatch shape, same record
    const element body = po.docs[r]["response"]["body"];
    const element choice = body["choices"].at(0);
    CHECK(ints(body["prompt_token_ids"]) == ints(ref["prompt_token_ids"]));
    CHECK(ints(choice["token_ids"]) == ints(ref["token_ids"]));
    array want;
    REQUIRE(ref["logprobs"].get_array().get(want) == simdjson::SUCCESS);
    if (r == 1) {  // chat: content[i] = {token, logprob, bytes, top_logprobs}
      CHECK(choice["logprobs"]["refusal"].is_null());
      array content;
      REQUIRE(choice["logprobs"]["content"].get_array().get(content) == simdjson::SUCCESS);
      REQUIRE(content.size() == want.size());
      for (size_t i = 0; i < content.size(); ++i) {
        const element got = content.at(i), w = want.at(i);
        CHECK(std::string_view(got["token"]) == std::string_view(w["text"]));
        CHECK(double(got["logprob"]) == double(w["logprob"]));
        std::string bytes;
        for (int64_t c : ints(got["bytes"])) bytes.push_back(static_cast<char>(c));
        CHECK(bytes == std::string_view(w["text"]));  // these pieces are valid UTF-8 alone
        array top;
        REQUIRE(got["top_logprobs"].get_array().get(top) == simdjson::SUCCESS);
        REQUIRE(top.size() == 4);
        for (size_t k = 0; k < 4; ++k) {
          CHECK(std::string_view(top.at(k)["token"]) == std::string_view(w["top"].at(k)["text"]));
          CHECK(double(top.at(k)["logprob"]) == double(w["top"].at(k)["logprob"]));
        }
      }
    } else if (r == 0) {  // completions: tokens, token_logprobs, top_logprobs [{text: logprob}]
      const element lp = choice["logprobs"];
      array tokens, token_lps, tops;
      REQUIRE(lp["tokens"].get_array().get(tokens) == simdjson::SUCCESS);
      REQUIRE(lp["token_logprobs"].get_array().get(token_lps) == simdjson::SUCCESS);
      REQUIRE(lp["top_logprobs"].get_array().get(tops) == simdjson::SUCCESS);
      REQUIRE(tokens.size() == want.size());
      REQUIRE(token_lps.size() == want.size());
      REQUIRE(tops.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const element w = want.at(i);
        CHECK(std::string_view(tokens.at(i)) == std::string_view(w["text"]));
        CHECK(double(token_lps.at(i)) == double(w["logprob"]));
        simdjson::dom::object top;
        REQUIRE(tops.at(i).get_object().get(top) == simdjson::SUCCESS);
        CHECK(top.size() >= 1);
        CHECK(top.size() <= 4);
        for (size_t k = 0; k < 4; ++k) {  // each alternative's text maps to its (first) logprob
          double v = 0;
          REQUIRE(top[std::string_view(w["top"].at(k)["text"])].get(v) == simdjson::SUCCESS);
          CHECK(v >= double(w["top"].at(k)["logprob"]));
        }
      }
    } else {
      CHECK(choice["logprobs"].is_null() == false);  // a prompt record: text completion shape
      CHECK(body["object"].get_string().value() == "text_completion");
    }
  }
  // Without logprobs the OpenAI choice keeps "logprobs": null.
  auto none = run_cli(with(kGreedy, {"--output-format", "openai"}), "{\"prompt\":\"The sun\",\"max_tokens\":2}\n");
  REQUIRE(none.exit_code == 0);
  CHECK(none.out.find("\"logprobs\":null,\"finish_reason\"") != std::string::npos);
  CHECK(none.out.find("token_ids") == std::string::npos);
}

TEST_CASE("cli stop_token_ids: generation ends at the first listed id of the unconstrained output") {
  const std::string base = "{\"prompt\":\"Once upon a time\",\"max_tokens\":20,\"return_token_ids\":true";
  auto free_run = run_cli(kGreedy, base + "}\n");
  REQUIRE(free_run.exit_code == 0);
  Parsed pf(free_run.out);
  const std::vector<int64_t> ids = ints(pf.docs[0]["token_ids"]);
  REQUIRE(ids.size() == 20);
  const int64_t stop_a = ids[5], stop_b = ids[11];
  size_t first = 0;
  while (ids[first] != stop_a && ids[first] != stop_b) ++first;
  auto r = run_cli(kGreedy, base + ",\"stop_token_ids\":[]}\n" + base + ",\"stop_token_ids\":[" +
                                std::to_string(stop_b) + "," + std::to_string(stop_a) + "]}\n");
  REQUIRE(r.exit_code == 0);
  Parsed p(r.out);
  REQUIRE(p.docs.size() == 2);
  CHECK(p.lines[0] == pf.lines[0]);  // an empty list stops nothing
  const std::vector<int64_t> cut = ints(p.docs[1]["token_ids"]);
  CHECK(cut == std::vector<int64_t>(ids.begin(), ids.begin() + static_cast<long>(first) + 1));
  CHECK(std::string_view(p.docs[1]["finish_reason"]) == "stop");
}

TEST_CASE("cli logprobs: bad values are invalid_param records or usage errors; --help lists the flags") {
  const std::string input = "{\"prompt\":\"x\",\"logprobs\":21}\n{\"prompt\":\"x\",\"stop_token_ids\":[-1]}\n"
                            "{\"prompt\":\"x\",\"top_logprobs\":2}\n{\"prompt\":\"x\",\"max_tokens\":1}\n";
  auto r = run_cli(kGreedy, input);
  CHECK(r.exit_code == 3);
  const auto lines = sb::test::parse_output(r.out);
  REQUIRE(lines.size() == 4);
  for (size_t i = 0; i < 3; ++i) CHECK(lines[i].error_code == "invalid_param");
  CHECK(r.out.find("logprobs must be in [0, 20], got 21") != std::string::npos);
  CHECK(r.out.find("stop_token_ids must be a list of non-negative integers") != std::string::npos);
  CHECK_FALSE(lines[3].is_error);
  CHECK(run_cli(with(kGreedy, {"--logprobs", "21"}), input).exit_code == 2);
  CHECK(run_cli(with(kGreedy, {"--logprobs", "-1"}), input).exit_code == 2);
  auto h = run_cli({"run", "--help"});
  CHECK(h.out.find("--logprobs") != std::string::npos);
  CHECK(h.out.find("--return-token-ids") != std::string::npos);
}

TEST_CASE("cli logprobs: --logprobs and --return-token-ids are part of the resume manifest") {
  const std::string dir = sb::test::scratch_dir("cli_logprobs_resume");
  const std::string out = dir + "/out.jsonl";
  const std::string input = "{\"prompt\":\"The sun\",\"max_tokens\":2}\n";
  REQUIRE(run_cli(with(kGreedy, {"-o", out, "--logprobs", "1", "--return-token-ids"}), input).exit_code == 0);
  auto changed = run_cli(with(kGreedy, {"-o", out, "--resume", "--logprobs", "2", "--return-token-ids"}), input);
  CHECK(changed.exit_code == 1);
  CHECK(changed.err.find("logprobs: 1 before, 2 now") != std::string::npos);
  auto dropped = run_cli(with(kGreedy, {"-o", out, "--resume", "--logprobs", "1"}), input);
  CHECK(dropped.exit_code == 1);
  CHECK(dropped.err.find("return_token_ids: true before, not set now") != std::string::npos);
  CHECK(run_cli(with(kGreedy, {"-o", out, "--resume", "--logprobs", "1", "--return-token-ids"}), input).exit_code == 0);
}
