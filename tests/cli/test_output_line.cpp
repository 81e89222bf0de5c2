// cli/output_line.h: in-process and byte for byte, specbatch lines (n = 1, and
// n > 1 with "choices" and "spec"), OpenAI Batch text and chat completions, error
// records of both shapes, numeric and absent ids, token ids, the logprobs shapes
// and the prompt lines of `tokenize --messages`; then end to end, the same shapes
// out of real runs: token ids as `tokenize` gives them, one logprobs entry per
// token, top-K descending, greedy picks the top, CLI defaults and record
// overrides, the same with --draft ngram, both OpenAI shapes with the same numbers.
#include <memory>
#include <string>
#include <vector>

#include "cli/cli_test_util.h"
#include "cli/output_line.h"

using sb::GenerationResult;
using sb::Record;
using sb::cli::OutputFormat;
using sb::cli::OutputLineFormat;
using sb::cli::OutputLineOptions;

using sb::test::ParsedLines;
using sb::test::greedy_run_of;
using sb::test::ints;
using sb::test::kGreedy;
using sb::test::run_cli;
using sb::test::split_lines;
using sb::test::stories_model;
using sb::test::with;
using sb::test::write_file;
using simdjson::dom::array;
using simdjson::dom::element;

namespace {

const sb::Tokenizer& stories_tokenizer() {
  static const std::unique_ptr<sb::Tokenizer> tok = [] {
    auto t = sb::Tokenizer::load(sb::test::shared_path("models/stories260K.gguf"));
    REQUIRE(t.ok());
    return std::move(t).value();
  }();
  return *tok;
}

Record record(uint64_t index, const std::string& id = "", bool numeric = false) {
  Record r;
  r.index = index;
  r.has_id = !id.empty();
  r.id_is_number = numeric;
  r.id = id;
  return r;
}

GenerationResult sample(const std::string& text, int prompt_tokens, int completion_tokens) {
  GenerationResult g;
  g.text = text;
  g.finish_reason = sb::FinishReason::kLength;
  g.prompt_tokens = prompt_tokens;
  g.completion_tokens = completion_tokens;
  return g;
}

OutputLineOptions openai(std::string model = "stories260K.gguf", int64_t created = 1700000000) {
  OutputLineOptions o;
  o.format = OutputFormat::kOpenAi;
  o.model = std::move(model);
  o.created = created;
  return o;
}

}  // namespace

TEST_CASE("a specbatch line: index, id, text, finish_reason, usage; spec last; n > 1 as choices") {
  OutputLineOptions o;
  const OutputLineFormat plain(o, stories_tokenizer());
  const GenerationResult g = sample("Once", 5, 3);
  CHECK(plain.result(record(12, "req-a"), {&g, 1}, {}) ==
        R"({"index":12,"id":"req-a","text":"Once","finish_reason":"length","usage":{"prompt_tokens":5,"completion_tokens":3}})");
  CHECK(plain.result(record(0, "17", true), {&g, 1}, {}).starts_with(R"({"index":0,"id":17,"text")"));
  CHECK(plain.result(record(0), {&g, 1}, {}).starts_with(R"({"index":0,"id":null,"text")"));

  o.spec = true;
  const OutputLineFormat spec(o, stories_tokenizer());
  GenerationResult two[2] = {sample("a", 5, 2), sample("b", 5, 4)};
  two[0].spec = {3, 1, 2};
  CHECK(spec.result(record(1), {two, 1}, {}) ==
        R"({"index":1,"id":null,"text":"a","finish_reason":"length","usage":{"prompt_tokens":5,"completion_tokens":2},)"
        R"("spec":{"drafted":3,"accepted":1,"steps":2}})");
  CHECK(spec.result(record(1), two, {}) ==
        R"({"index":1,"id":null,"choices":[{"index":0,"text":"a","finish_reason":"length","spec":{"drafted":3,)"
        R"("accepted":1,"steps":2}},{"index":1,"text":"b","finish_reason":"length","spec":{"drafted":0,"accepted":0,)"
        R"("steps":0}}],"usage":{"prompt_tokens":5,"completion_tokens":6}})");
}

TEST_CASE("token ids: prompt_token_ids before the sample, token_ids after finish_reason; the record decides") {
  OutputLineOptions o;
  o.return_token_ids = true;
  const OutputLineFormat lines(o, stories_tokenizer());
  GenerationResult g = sample("x", 2, 1);
  g.tokens = {7};
  const int32_t prompt[] = {1, 403};
  Record r = record(4);
  CHECK(lines.result(r, {&g, 1}, prompt) ==
        R"({"index":4,"id":null,"prompt_token_ids":[1,403],"text":"x","finish_reason":"length","token_ids":[7],)"
        R"("usage":{"prompt_tokens":2,"completion_tokens":1}})");
  r.params.return_token_ids = false;
  CHECK_FALSE(lines.wants_token_ids(r));
  CHECK(lines.result(r, {&g, 1}, {}).find("token_ids") == std::string::npos);
}

TEST_CASE("logprobs: the specbatch list and both OpenAI shapes") {
  const sb::Tokenizer& tok = stories_tokenizer();
  GenerationResult g = sample("", 1, 1);
  g.tokens = {403};
  g.n_top_logprobs = 1;
  g.logprobs = {-0.5f};
  g.top_logprobs = {{403, -0.5f}};
  const std::string t = tok.token_bytes(403);
  REQUIRE(t.find_first_of("\"\\$") == std::string::npos);
  std::string bytes;
  for (char c : t) {
    if (!bytes.empty()) bytes += ',';
    bytes += std::to_string(static_cast<unsigned char>(c));
  }
  // The pattern with $T replaced by the token's text and $B by its bytes.
  auto expect = [&](std::string pattern) {
    for (size_t at; (at = pattern.find('$')) != std::string::npos;)
      pattern.replace(at, 2, pattern[at + 1] == 'T' ? t : bytes);
    return pattern;
  };
  CHECK(OutputLineFormat(OutputLineOptions{}, tok).result(record(0), {&g, 1}, {}).find(expect(
            R"("logprobs":[{"token":403,"text":"$T","logprob":-0.5,"top":[{"token":403,"text":"$T","logprob":-0.5}]}])")) !=
        std::string::npos);
  CHECK(OutputLineFormat(openai(), tok).result(record(0), {&g, 1}, {}).find(expect(
            R"("logprobs":{"tokens":["$T"],"token_logprobs":[-0.5],"top_logprobs":[{"$T":-0.5}]})")) != std::string::npos);
  Record chat = record(0);
  chat.chat = true;
  CHECK(OutputLineFormat(openai(), tok).result(chat, {&g, 1}, {}).find(expect(
            R"("logprobs":{"content":[{"token":"$T","logprob":-0.5,"bytes":[$B],"top_logprobs":[{"token":"$T",)"
            R"("logprob":-0.5,"bytes":[$B]}]}],"refusal":null})")) != std::string::npos);
}

TEST_CASE("an OpenAI completion line has the OpenAI Batch output shape plus index") {
  const GenerationResult g = sample("Once", 5, 3);
  CHECK(OutputLineFormat(openai(), stories_tokenizer()).result(record(12, "req-a"), {&g, 1}, {}) ==
        "{\"index\":12,\"id\":\"batch_req_12\",\"custom_id\":\"req-a\",\"response\":{\"status_code\":200,"
        "\"request_id\":\"req_12\",\"body\":{\"id\":\"cmpl-12\",\"object\":\"text_completion\",\"created\":1700000000,"
        "\"model\":\"stories260K.gguf\",\"choices\":[{\"index\":0,\"text\":\"Once\",\"logprobs\":null,"
        "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}},"
        "\"error\":null}");
}

TEST_CASE("an OpenAI chat completion body; prompt_token_ids before the choices when asked") {
  OutputLineOptions o = openai("m", 1);
  o.return_token_ids = true;
  Record r = record(0, "17", true);
  r.chat = true;
  const GenerationResult g = sample("hi", 9, 1);
  const int32_t prompt[] = {1, 2};
  const std::string line = OutputLineFormat(o, stories_tokenizer()).result(r, {&g, 1}, prompt);
  CHECK(line.find("\"custom_id\":\"17\"") != std::string::npos);  // custom_id is always a string
  CHECK(line.find("\"object\":\"chat.completion\"") != std::string::npos);
  CHECK(line.find("\"id\":\"chatcmpl-0\"") != std::string::npos);
  CHECK(line.find("\"model\":\"m\",\"prompt_token_ids\":[1,2],\"choices\":[{\"index\":0,\"message\":{\"role\":"
                  "\"assistant\",\"content\":\"hi\"},\"logprobs\":null,\"finish_reason\":\"length\",\"token_ids\":[]}],") !=
        std::string::npos);
}

TEST_CASE("error records: {code, message} in both shapes; tokenize --messages prompt lines") {
  const sb::RecordErrorCode code = sb::RecordErrorCode::kInvalidJson;
  CHECK(OutputLineFormat(openai(), stories_tokenizer()).error(record(3), code, "the line is not valid JSON") ==
        "{\"index\":3,\"id\":\"batch_req_3\",\"custom_id\":null,\"response\":null,"
        "\"error\":{\"code\":\"invalid_json\",\"message\":\"the line is not valid JSON\"}}");
  const OutputLineFormat plain(OutputLineOptions{}, stories_tokenizer());
  CHECK(plain.error(record(3, "x"), code, "bad \"line\"") ==
        R"({"index":3,"id":"x","error":{"code":"invalid_json","message":"bad \"line\""}})");
  const int32_t ids[] = {1, 403};
  CHECK(plain.prompt(record(2, "7", true), "a\nb", ids) == R"({"index":2,"id":7,"prompt":"a\nb","token_ids":[1,403]})");
}

TEST_CASE("cli logprobs: specbatch shape, token ids, CLI defaults, record overrides, same with ngram drafts") {
  const std::string input =
      "{\"id\":\"a\",\"prompt\":\"Once upon a time\",\"max_tokens\":14,\"logprobs\":3,\"return_token_ids\":true}\n"
      "{\"id\":\"b\",\"prompt\":\"Tom had a big dog. Tom had a big\",\"max_tokens\":9,\"logprobs\":0}\n"
      "{\"id\":\"c\",\"prompt\":\"The sun\",\"max_tokens\":5}\n"
      "{\"id\":\"d\",\"prompt\":\"The sun\",\"max_tokens\":5,\"logprobs\":false,\"return_token_ids\":false}\n";
  auto r = run_cli(kGreedy, input);
  REQUIRE(r.exit_code == 0);
  ParsedLines p(r.out);
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
  ParsedLines pd(d.out);
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
  ParsedLines pp(plain.out);
  REQUIRE(pp.docs.size() == 3);
  auto oa = run_cli(with(args, {"--output-format", "openai"}), input);
  REQUIRE(oa.exit_code == 0);
  ParsedLines po(oa.out);
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

TEST_CASE("OpenAI output format from a run: text completion and error lines") {
  const std::string dir = sb::test::scratch_dir("resume_openai");
  write_file(dir + "/in.jsonl",
             "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/completions\",\"body\":{\"prompt\":\"Hi\",\"max_tokens\":3}}\n"
             "{\"custom_id\":\"b\",\"body\":{\"prompt\":3}}\n");
  auto r = run_cli(with(greedy_run_of(dir + "/in.jsonl"), {"--output-format", "openai"}));
  CHECK(r.exit_code == 3);
  const auto lines = sb::test::split_lines(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find("{\"index\":0,\"id\":\"batch_req_0\",\"custom_id\":\"a\",\"response\":{\"status_code\":200") == 0);
  CHECK(lines[0].find("\"object\":\"text_completion\"") != std::string::npos);
  CHECK(lines[0].find("\"completion_tokens\":3,\"total_tokens\":") != std::string::npos);
  CHECK(lines[1].find("\"custom_id\":\"b\",\"response\":null,\"error\":{\"code\":\"invalid_param\"") != std::string::npos);
}
