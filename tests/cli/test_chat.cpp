// cli/chat.h end to end on stories260K (which has no chat template of its own):
// --chat-template renders messages into the same prompt a plain record spells out
// by hand, OpenAI /v1/chat/completions lines, kwargs, template_error and
// unsupported records, bad kwargs (exit 2) and template files (exit 1);
// `tokenize --messages` prints the prompt a record becomes.
#include "cli/cli_test_util.h"

using sb::test::parse_output;
using sb::test::run_cli;
using sb::test::stories_model;

namespace {

const char* kTemplate =
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content | trim }}<|im_end|>\n{% endfor %}\n"
    "{%- if add_generation_prompt %}{{ greeting | default('Once') }}{% endif %}\n"
    "{%- if fail is defined %}{{ raise_exception('asked to fail') }}{% endif %}";

}  // namespace

TEST_CASE("chat records: rendered with --chat-template, as the prompt written out by hand") {
  const std::string dir = sb::test::scratch_dir("cli_chat");
  const std::string tpl = dir + "/chat.jinja";
  sb::test::write_file(tpl, kTemplate);
  const std::string input =
      "{\"id\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\" Tom \"}],\"max_tokens\":6}\n"
      "{\"id\":\"plain\",\"prompt\":\"<|im_start|>user\\nTom<|im_end|>\\nOnce\",\"max_tokens\":6}\n"
      "{\"custom_id\":\"oa\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\","
      "\"body\":{\"messages\":[{\"role\":\"user\",\"content\":\"Tom\"}],\"max_tokens\":6}}\n";
  auto r = run_cli({"run", "-m", stories_model(), "--temperature", "0", "-q", "--chat-template", tpl}, input);
  CHECK(r.exit_code == 0);
  auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 3);
  CHECK_FALSE(lines[0].is_error);
  CHECK(lines[0].text == lines[1].text);
  CHECK(lines[0].prompt_tokens == lines[1].prompt_tokens);
  CHECK(lines[2].text == lines[1].text);
  CHECK(lines[2].id_json == "\"oa\"");

  auto kw = run_cli({"run", "-m", stories_model(), "--temperature", "0", "-q", "--chat-template", tpl,
                     "--chat-template-kwargs", "{\"greeting\": \"Lily\", \"fail\": true}"},
                    "{\"id\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n");
  CHECK(kw.exit_code == 3);
  lines = parse_output(kw.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].error_code == "template_error");
  CHECK(kw.out.find("chat template: line 5: raise_exception: asked to fail") != std::string::npos);
}

TEST_CASE("tokenize --messages prints the prompt run feeds the model, chat or plain; refusals as run's records") {
  const std::string dir = sb::test::scratch_dir("cli_chat_tokenize");
  const std::string tpl = dir + "/chat.jinja";
  sb::test::write_file(tpl, kTemplate);
  const std::string input =
      "{\"id\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\" Tom \"}]}\n"
      "\n"
      "{\"prompt\":\"Once upon\"}\n"
      "{\"messages\":[{\"content\":\"no role\"}]}\n";
  auto r = run_cli({"tokenize", "-m", stories_model(), "--messages", "--chat-template", tpl}, input);
  CHECK(r.exit_code == 3);
  const auto lines = sb::test::split_lines(r.out);
  REQUIRE(lines.size() == 3);
  // The chat record's ids are those of the same text written as a plain prompt.
  auto plain = run_cli({"tokenize", "-m", stories_model(), "--text", "<|im_start|>user\nTom<|im_end|>\nOnce"});
  REQUIRE(plain.exit_code == 0);
  std::string ids = plain.out.substr(0, plain.out.size() - 1);
  for (char& c : ids) c = c == ' ' ? ',' : c;
  CHECK(lines[0] == "{\"index\":0,\"id\":\"chat\",\"prompt\":\"<|im_start|>user\\nTom<|im_end|>\\nOnce\","
                    "\"token_ids\":[" + ids + "]}");
  CHECK(lines[1] == "{\"index\":1,\"id\":null,\"prompt\":\"Once upon\",\"token_ids\":[1,403,407]}");
  CHECK(lines[2].starts_with("{\"index\":2,\"id\":null,\"error\":{\"code\":\"invalid_param\""));
  auto none = run_cli({"tokenize", "-m", stories_model(), "--messages"}, input);
  CHECK(none.exit_code == 3);
  CHECK(none.out.find("\"code\":\"unsupported\"") != std::string::npos);  // stories260K has no template
  CHECK(run_cli({"tokenize", "-m", stories_model(), "--messages", "--text", "x"}).exit_code == 2);
  CHECK(run_cli({"tokenize", "-m", stories_model(), "--chat-template", tpl}).exit_code == 2);
  CHECK(run_cli({"tokenize", "-m", stories_model(), "--messages", "--chat-template-kwargs", "1"}).exit_code == 2);
}

TEST_CASE("chat records: no template is unsupported; bad kwargs are usage errors, bad template files fatal") {
  auto none = run_cli({"run", "-m", stories_model(), "-q"},
                      "{\"id\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n");
  CHECK(none.exit_code == 3);
  auto lines = parse_output(none.out);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].error_code == "unsupported");
  CHECK(none.out.find("--chat-template") != std::string::npos);

  auto bad_kwargs = run_cli({"run", "-m", stories_model(), "--chat-template-kwargs", "[1]"}, "");
  CHECK(bad_kwargs.exit_code == 2);
  CHECK(bad_kwargs.err.find("--chat-template-kwargs") != std::string::npos);
  auto missing = run_cli({"run", "-m", stories_model(), "--chat-template", "/nonexistent/chat.jinja"}, "");
  CHECK(missing.exit_code == 1);  // a file the command line names cannot be used, like a missing model
  CHECK(missing.err.find("/nonexistent/chat.jinja") != std::string::npos);
  const std::string dir = sb::test::scratch_dir("cli_chat_bad");
  sb::test::write_file(dir + "/bad.jinja", "line 1\n{% if %}");
  auto unparsable = run_cli({"run", "-m", stories_model(), "--chat-template", dir + "/bad.jinja"}, "");
  CHECK(unparsable.exit_code == 1);
  CHECK(unparsable.err.find("line 2") != std::string::npos);
}
