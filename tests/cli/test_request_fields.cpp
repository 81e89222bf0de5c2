// The field policy end to end (formats/request_fields.h): refused fields are
// unsupported_param records unless --ignore-unsupported, which runs them
// without and counts them; max_completion_tokens and chat content parts;
// penalties, logit_bias, min_tokens, include_stop_str_in_output and
// truncate_prompt_tokens; per-record chat template settings; unsupported
// OpenAI endpoints; --ctx above the trained context.
#include <algorithm>

#include "cli/cli_test_util.h"

using sb::test::kGreedy;
using sb::test::parse_output;
using sb::test::run_cli;
using sb::test::stories_model;
using sb::test::with;

TEST_CASE("fields run: a refused field is unsupported_param; --ignore-unsupported runs it without, counted") {
  const std::string dir = sb::test::scratch_dir("cli_fields_policy");
  const std::string input = "{\"prompt\":\"Once\",\"max_tokens\":5,\"best_of\":3,\"meta\":{\"k\":1}}\n"
                            "{\"prompt\":\"Once\",\"max_tokens\":5,\"best_of\":1,\"length_penalty\":0.5}\n"
                            "{\"prompt\":\"Once\",\"max_tokens\":5}\n";
  const auto strict = run_cli(kGreedy, input);
  CHECK(strict.exit_code == 3);
  auto lines = parse_output(strict.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].error_code == "unsupported_param");
  CHECK(strict.out.find("best_of: not supported (only 1)") != std::string::npos);
  CHECK(lines[1].error_code == "unsupported_param");
  CHECK(strict.out.find("length_penalty: not supported") != std::string::npos);
  CHECK_FALSE(lines[2].is_error);

  auto args = with(kGreedy, {"--ignore-unsupported", "--stats-json", dir + "/stats.json"});
  args.erase(std::find(args.begin(), args.end(), "-q"));
  const auto lax = run_cli(args, input);
  CHECK(lax.exit_code == 0);
  lines = parse_output(lax.out);
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) CHECK(l.text == lines[2].text);
  CHECK(lax.err.find("warning: best_of is not supported and is ignored") != std::string::npos);
  CHECK(lax.err.find("warning: length_penalty is not supported") != std::string::npos);
  CHECK(lax.err.find("2 unsupported fields ignored") != std::string::npos);
  CHECK(sb::test::read_file(dir + "/stats.json").find("\"ignored_fields\":2") != std::string::npos);
  CHECK(run_cli({"run", "--help"}).out.find("--ignore-unsupported") != std::string::npos);
}

TEST_CASE("fields run: max_completion_tokens limits like max_tokens; chat text parts render as one string") {
  const std::string dir = sb::test::scratch_dir("cli_fields_chat");
  const std::string tpl = dir + "/chat.jinja";
  sb::test::write_file(tpl, "{% for m in messages %}[{{ m.content }}]{% endfor %}");
  const std::string input =
      "{\"messages\":[{\"role\":\"user\",\"content\":\"Tom\\nsat\"}],\"max_completion_tokens\":4}\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Tom\"},"
      "{\"type\":\"text\",\"text\":\"sat\"}]}],\"max_tokens\":4}\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\",\"input_audio\":{}}]}]}\n";
  const auto r = run_cli(with(kGreedy, {"--chat-template", tpl}), input);
  CHECK(r.exit_code == 3);
  const auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].completion_tokens == 4);
  CHECK(lines[1].text == lines[0].text);
  CHECK(lines[1].prompt_tokens == lines[0].prompt_tokens);
  CHECK(lines[2].error_code == "unsupported_param");
  CHECK(r.out.find("part type \\\"input_audio\\\": not supported") != std::string::npos);
}

TEST_CASE("fields run: OpenAI Batch lines for /v1/embeddings are unsupported_endpoint records") {
  const auto r = run_cli(kGreedy, "{\"custom_id\":\"e1\",\"method\":\"POST\",\"url\":\"/v1/embeddings\","
                                  "\"body\":{\"model\":\"m\",\"input\":\"hi\"}}\n");
  CHECK(r.exit_code == 3);
  const auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].error_code == "unsupported_endpoint");
  CHECK(lines[0].id_json == "\"e1\"");
  CHECK(r.out.find("url /v1/embeddings: not supported") != std::string::npos);
}

TEST_CASE("fields run: --ctx above the trained context is a usage error naming both, unless --ctx-override") {
  const auto inspect = run_cli({"inspect", stories_model()});
  REQUIRE(inspect.exit_code == 0);
  const size_t at = inspect.out.find("context:");
  REQUIRE(at != std::string::npos);
  const long trained = std::strtol(inspect.out.c_str() + at + 8, nullptr, 10);
  REQUIRE(trained > 0);
  const std::string above = std::to_string(trained + 1);
  const auto refused = run_cli(with(kGreedy, {"--ctx", above}), "{\"prompt\":\"Once\",\"max_tokens\":2}\n");
  CHECK(refused.exit_code == 2);
  CHECK(refused.err.find("--ctx " + above + " is above the model's trained context of " + std::to_string(trained)) !=
        std::string::npos);
  CHECK(refused.out.empty());
  CHECK(run_cli(with(kGreedy, {"--ctx", std::to_string(trained)}), "{\"prompt\":\"Once\",\"max_tokens\":2}\n")
            .exit_code == 0);
  CHECK(run_cli(with(kGreedy, {"--ctx", above, "--ctx-override"}), "{\"prompt\":\"Once\",\"max_tokens\":2}\n")
            .exit_code == 0);
  CHECK(run_cli({"run", "--help"}).out.find("--ctx-override") != std::string::npos);
}

TEST_CASE("fields run: per-record chat_template_kwargs, add_generation_prompt, continue_final_message") {
  const std::string dir = sb::test::scratch_dir("cli_fields_template");
  const std::string tpl = dir + "/chat.jinja";
  sb::test::write_file(tpl, "{% for m in messages %}[{{ m.content }}]{% endfor %}"
                            "{% if add_generation_prompt %}{{ greeting | default('Once') }}{% endif %}");
  // Each chat record, then the prompt it must render to, written out by hand.
  const std::string input =
      "{\"messages\":[{\"role\":\"user\",\"content\":\"Tom\"}],\"chat_template_kwargs\":{\"greeting\":\"Lily\"}}\n"
      "{\"prompt\":\"[Tom]Lily\"}\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":\"Tom\"}],\"add_generation_prompt\":false}\n"
      "{\"prompt\":\"[Tom]\"}\n"
      "{\"messages\":[{\"role\":\"user\",\"content\":\"Tom\"},{\"role\":\"assistant\",\"content\":\"Once upon\"}],"
      "\"continue_final_message\":true}\n"
      "{\"prompt\":\"[Tom][Once upon\"}\n";
  const auto r = run_cli(with(kGreedy, {"--chat-template", tpl, "--max-tokens", "4", "--chat-template-kwargs",
                                        "{\"greeting\":\"Tim\"}"}),
                         input);
  CHECK(r.exit_code == 0);
  const auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 6);
  for (size_t i = 0; i < 6; i += 2) {
    CAPTURE(i);
    CHECK(lines[i].prompt_tokens == lines[i + 1].prompt_tokens);
    CHECK(lines[i].text == lines[i + 1].text);
  }
}

TEST_CASE("fields run: penalties change the output; a logit_bias id outside the vocabulary is invalid_param") {
  const std::string girl = "{\"prompt\":\"Once upon a time, there was a little girl\",\"max_tokens\":40";
  const std::string input = girl + "}\n" + girl + ",\"frequency_penalty\":1}\n" + girl +
                            ",\"repetition_penalty\":2}\n" + girl + ",\"logit_bias\":{\"99999\":1}}\n" +
                            "{\"prompt\":\"Once\",\"max_tokens\":4,\"min_tokens\":5}\n";
  const auto r = run_cli(kGreedy, input);
  CHECK(r.exit_code == 3);
  const auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 5);
  CHECK_FALSE(lines[1].is_error);
  CHECK(lines[1].text != lines[0].text);
  CHECK_FALSE(lines[2].is_error);
  CHECK(lines[2].text != lines[0].text);
  CHECK(lines[2].text != lines[1].text);
  CHECK(lines[3].error_code == "invalid_param");
  CHECK(r.out.find("logit_bias: token id 99999 is outside the vocabulary") != std::string::npos);
  CHECK(lines[4].error_code == "invalid_param");
  CHECK(r.out.find("min_tokens must be in [0, max_tokens]") != std::string::npos);
}

namespace {

// The JSON array text after "key": in an output line.
std::string array_of(const std::string& line, const std::string& key) {
  const size_t at = line.find("\"" + key + "\":[");
  REQUIRE(at != std::string::npos);
  const size_t open = line.find('[', at);
  return line.substr(open, line.find(']', open) - open + 1);
}

}  // namespace

TEST_CASE("fields run: include_stop_str_in_output keeps the stop string; truncate_prompt_tokens keeps the last N") {
  const std::string girl = "{\"prompt\":\"Once upon a time, there was a little girl\",\"max_tokens\":40";
  const std::string input = girl + ",\"stop\":\",\"}\n" + girl + ",\"stop\":\",\",\"include_stop_str_in_output\":true}\n" +
                            girl + "}\n" + girl + ",\"truncate_prompt_tokens\":4}\n" + girl +
                            ",\"truncate_prompt_tokens\":-1}\n" + girl + ",\"truncate_prompt_tokens\":0}\n";
  const auto r = run_cli(with(kGreedy, {"--return-token-ids"}), input);
  CHECK(r.exit_code == 3);
  const auto lines = parse_output(r.out);
  const auto raw = sb::test::split_lines(r.out);
  REQUIRE(lines.size() == 6);
  CHECK(lines[0].finish_reason == "stop");
  CHECK(lines[1].finish_reason == "stop");
  CHECK(lines[1].text == lines[0].text + ",");
  CHECK(lines[3].prompt_tokens == 4);
  const std::string full = array_of(raw[2], "prompt_token_ids");
  const std::string last4 = array_of(raw[3], "prompt_token_ids");
  CHECK(full.size() > last4.size());
  CHECK(full.substr(full.size() - last4.size() + 1) == last4.substr(1));  // the same tail
  CHECK(full[full.size() - last4.size()] == ',');
  CHECK(lines[3].text != lines[2].text);
  CHECK(lines[4].prompt_tokens == lines[2].prompt_tokens);  // -1: the context holds it all
  CHECK(lines[4].text == lines[2].text);
  CHECK(lines[5].error_code == "invalid_param");
}

TEST_CASE("fields run: skip_special_tokens false writes generated control tokens as their text") {
  // logit_bias makes stories260K generate its BOS token, a control token.
  const std::string bos = "{\"prompt\":\"Once\",\"max_tokens\":3,\"logit_bias\":{\"1\":100}";
  const auto r = run_cli(kGreedy, bos + "}\n" + bos + ",\"skip_special_tokens\":false}\n" + bos +
                                      ",\"skip_special_tokens\":true}\n");
  CHECK(r.exit_code == 0);
  const auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].text.empty());
  CHECK(lines[0].completion_tokens == 3);
  CHECK(lines[1].text == "<s><s><s>");
  CHECK(lines[2].text.empty());
}

TEST_CASE("fields run: typical_p changes sampled output; out of range is invalid_param") {
  const std::string rec = "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,\"temperature\":1,\"seed\":3";
  const auto r = run_cli(kGreedy, rec + "}\n" + rec + ",\"typical_p\":0.2}\n" + rec + ",\"typical_p\":1.5}\n");
  CHECK(r.exit_code == 3);
  const auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 3);
  CHECK_FALSE(lines[1].is_error);
  CHECK(lines[1].text != lines[0].text);
  CHECK(lines[2].error_code == "invalid_param");
}
