// Chat templates: real templates (Qwen3 from ../shared, and Llama-3, ChatML,
// Mistral and Gemma-3 as published in their tokenizer_config.json) rendered
// against expected prompts written by hand from each model's documented format;
// the language features those templates lean on; loading the template with the
// tokenizer. Hostile templates and the fuzz test: test_chat_template_sandbox.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <string>

#include "core/chat/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/tokenizer_json.h"
#include "test_util.h"

namespace {

using sb::ChatRequest;
using sb::ChatTemplate;

std::string qwen3_template() {
  auto tok = sb::Tokenizer::load(sb::test::shared_path("tokenizers/qwen3"));
  REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
  return (*tok)->chat_template();
}

ChatRequest request(const std::string& messages_json, bool add_generation_prompt = true) {
  ChatRequest r;
  auto m = sb::parse_chat_messages(messages_json);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  r.messages = *m;
  r.add_generation_prompt = add_generation_prompt;
  return r;
}

std::string render(const std::string& source, const ChatRequest& r) {
  auto t = ChatTemplate::parse(source);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  auto out = t->render(r);
  REQUIRE_MESSAGE(out.ok(), out.status().to_string());
  return *out;
}

sb::Status render_error(const std::string& source, const ChatRequest& r) {
  auto t = ChatTemplate::parse(source);
  if (!t.ok()) return t.status();
  auto out = t->render(r);
  REQUIRE_FALSE(out.ok());
  return out.status();
}

// A template that is just one expression or statement list, with no messages.
std::string eval(const std::string& source) {
  ChatRequest r;
  r.messages = sb::jinja::Value::list({});
  return render(source, r);
}

// meta-llama/Meta-Llama-3-8B-Instruct, tokenizer_config.json.
const char* kLlama3 =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

// ChatML, as in teknium/OpenHermes-2.5-Mistral-7B.
const char* kChatMl =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + "
    "'\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// mistralai/Mistral-7B-Instruct-v0.2.
const char* kMistral =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
    "are supported!') }}{% endif %}{% endfor %}";

// google/gemma-3-4b-it.
const char* kGemma3 = R"({{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\n'}}
{%- endif -%}
)";

}  // namespace

TEST_CASE("chat template: Qwen3 system + user, with and without the generation prompt") {
  const std::string tpl = qwen3_template();
  REQUIRE_FALSE(tpl.empty());
  const std::string msgs = R"([{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hello"}])";
  CHECK(render(tpl, request(msgs)) ==
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n");
  CHECK(render(tpl, request(msgs, false)) ==
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n");

  ChatRequest no_think = request(R"([{"role": "user", "content": "Hi"}])");
  auto kwargs = sb::parse_chat_kwargs(R"({"enable_thinking": false})");
  REQUIRE(kwargs.ok());
  no_think.kwargs = *kwargs;
  CHECK(render(tpl, no_think) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  kwargs = sb::parse_chat_kwargs(R"({"enable_thinking": true})");
  REQUIRE(kwargs.ok());
  no_think.kwargs = *kwargs;
  CHECK(render(tpl, no_think) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("chat template: Qwen3 multi-turn drops <think> from history but keeps it after the last query") {
  const std::string tpl = qwen3_template();
  // An assistant turn before the last user query loses its reasoning.
  CHECK(render(tpl, request(R"([{"role": "user", "content": "What is 2+2?"},
                                {"role": "assistant", "content": "<think>\nsimple math\n</think>\n\n4"},
                                {"role": "user", "content": "And 3+3?"}])")) ==
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n"
        "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n");
  // The final assistant turn (after the last query) keeps it, normalised.
  CHECK(render(tpl, request(R"([{"role": "user", "content": "What is 2+2?"},
                                {"role": "assistant", "content": "<think>\nsimple math\n</think>\n\n4"}])",
                            false)) ==
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nsimple math\n</think>\n\n4<|im_end|>\n");
  // reasoning_content given as a field.
  CHECK(render(tpl, request(R"([{"role": "user", "content": "Q"},
                                {"role": "assistant", "content": "A", "reasoning_content": "\nR\n"}])",
                            false)) ==
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nR\n</think>\n\nA<|im_end|>\n");
}

TEST_CASE("chat template: Qwen3 tools, tool calls and tool responses") {
  const std::string tpl = qwen3_template();
  ChatRequest r = request(R"([{"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": "", "tool_calls": [{"type": "function",
          "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "content": "{\"temp\": 18}"}])");
  CHECK(render(tpl, r) ==
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n"
        "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call><|im_end|>\n"
        "<|im_start|>user\n<tool_response>\n{\"temp\": 18}\n</tool_response><|im_end|>\n<|im_start|>assistant\n");

  ChatRequest with_tools = request(R"([{"role": "user", "content": "hi"}])");
  auto tools = sb::jinja::parse_json(R"([{"type": "function", "function": {"name": "f", "parameters": {}}}])");
  REQUIRE(tools.ok());
  with_tools.tools = *tools;
  CHECK(render(tpl, with_tools) ==
        "<|im_start|>system\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {}}}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

TEST_CASE("chat template: Llama-3") {
  ChatRequest r = request(R"([{"role": "system", "content": "You are helpful."},
                              {"role": "user", "content": "  Hello \n"}])");
  r.bos_token = "<|begin_of_text|>";
  CHECK(render(kLlama3, r) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  r.add_generation_prompt = false;
  CHECK(render(kLlama3, r) ==
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are helpful.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>");
}

TEST_CASE("chat template: ChatML multi-turn") {
  const std::string msgs = R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Bye"}])";
  const std::string body =
      "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
      "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n";
  CHECK(render(kChatMl, request(msgs)) == body + "<|im_start|>assistant\n");
  CHECK(render(kChatMl, request(msgs, false)) == body);
}

TEST_CASE("chat template: Mistral [INST] and its role-order check") {
  ChatRequest r = request(R"([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                              {"role": "user", "content": "How are you?"}])");
  r.bos_token = "<s>";
  r.eos_token = "</s>";
  CHECK(render(kMistral, r) == "<s>[INST] Hi [/INST]Hello!</s>[INST] How are you? [/INST]");

  ChatRequest bad = request(R"([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])");
  const sb::Status st = render_error(kMistral, bad);
  CHECK(st.message().find("Conversation roles must alternate user/assistant/user/assistant/...") != std::string::npos);
  CHECK(st.message().find("line 1") != std::string::npos);
  ChatRequest system = request(R"([{"role": "system", "content": "s"}, {"role": "assistant", "content": "b"}])");
  CHECK(render_error(kMistral, system).message().find("Conversation roles must alternate") != std::string::npos);
}

TEST_CASE("chat template: Gemma-3 folds the system prompt into the first user turn") {
  ChatRequest r = request(R"([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"},
                              {"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Bye"}])");
  r.bos_token = "<bos>";
  CHECK(render(kGemma3, r) ==
        "<bos><start_of_turn>user\nYou are terse.\n\nHello<end_of_turn>\n<start_of_turn>model\nHi.<end_of_turn>\n"
        "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n");
  ChatRequest parts = request(R"([{"role": "user", "content": [{"type": "text", "text": " Describe "},
                                                                {"type": "image"}]}])",
                              false);
  parts.bos_token = "<bos>";
  CHECK(render(kGemma3, parts) == "<bos><start_of_turn>user\nDescribe<start_of_image><end_of_turn>\n");
  ChatRequest bad = request(R"([{"role": "assistant", "content": "x"}])");
  const sb::Status st = render_error(kGemma3, bad);
  CHECK(st.message().find("line 15") != std::string::npos);
  CHECK(st.message().find("Conversation roles must alternate") != std::string::npos);
}

TEST_CASE("chat template: Phi-3 templates give llama.cpp's published prompts") {
  // llama.cpp's tests/test-chat-template.cpp: its conversation, templates and expected
  // outputs (Phi-3-small and Phi-3-vision, which have a system turn of their own).
  ChatRequest r = request(R"([{"role": "system", "content": "You are a helpful assistant"},
    {"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there"},
    {"role": "user", "content": "Who are you"}, {"role": "assistant", "content": "   I am an assistant   "},
    {"role": "user", "content": "Another question"}])");
  const std::string want =
      "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
      "<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n"
      "<|assistant|>\n";
  const char* small =
      "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + "
      "'<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}"
      "{% endif %}";
  const char* vision =
      "{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + '<|end|>\n' }}"
      "{% endfor %}{% if add_generation_prompt and messages[-1]['role'] != 'assistant' %}{{- '<|assistant|>\n' -}}"
      "{% endif %}";
  CHECK(render(small, r) == want);
  CHECK(render(vision, r) == want);
  r.add_generation_prompt = false;
  r.eos_token = "<|endoftext|>";
  CHECK(render(small, r) == want.substr(0, want.size() - std::string("<|assistant|>\n").size()) + "<|endoftext|>");
}

TEST_CASE("chat template: expressions print and compare as Python does") {
  CHECK(eval("{{ true }} {{ none }} {{ 1 }} {{ 1.0 }} {{ 2.5 }} {{ [1, 'a', none] }} {{ {'k': true} }}") ==
        "True None 1 1.0 2.5 [1, 'a', None] {'k': True}");
  CHECK(eval("{{ undefined_name }}|{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }}") ==
        "|3 -4 2 3.5 1024");
  CHECK(eval("{{ (-1) ** 3 }} {{ (-1) ** 10**18 }} {{ 0 ** 0 }} {{ 1 ** 10**18 }} {{ 2 ** -1 }}") == "-1 1 1 1 0.5");
  CHECK(eval("{{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ 'b' in 'abc' }} {{ 3 not in [1, 2] }}") ==
        "True True True True True");
  CHECK(eval("{{ 'a' ~ 1 ~ none }} {{ 'x' + 'y' }} {{ [1] + [2] }} {{ 'ab' * 3 }}") == "a1None xy [1, 2] ababab");
  CHECK(eval("{{ 0 or 'z' }} {{ 1 and 'y' }} {{ not [] }} {{ 'y' if 0 else 'n' }}{{ 'never' if false }}") ==
        "z y True n");
  CHECK(eval("{{ [1, 2, 3][::-1] }} {{ 'héllo'[1:3] }} {{ [1, 2, 3, 4][1:-1] }} {{ 'abc'[-1] }} {{ [1, 2][5] }}") ==
        "[3, 2, 1] él [2, 3] c ");
  CHECK(eval("{{ 'a' 'b' }} {{ \"q\\\"\\n\" | length }} {{ 'é' | length }}") == "ab 3 1");
}

TEST_CASE("chat template: filters, tests and methods templates use") {
  CHECK(eval("{{ '  x ' | trim }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|{{ [3, 1] | first }}{{ [3, 1] | last }}") ==
        "x|ABab|31");
  CHECK(eval("{{ nothing | default('d') }} {{ '' | default('e', true) }} {{ ['a', 'b'] | join(', ') }}") ==
        "d e a, b");
  CHECK(eval("{{ {'a': 1, 'b': [1, 'x']} | tojson }} {{ 'q\"<' | tojson }} {{ {'a': 1} | tojson(indent=2) }}") ==
        "{\"a\": 1, \"b\": [1, \"x\"]} \"q\\\"<\" {\n  \"a\": 1\n}");
  CHECK(eval("{{ 'a-b-c' | replace('-', '+') }} {{ 'ab' | list }} {{ 3 | string }} "
             "{% for k, v in {'k': 1} | items %}{{ k }}{{ v }}{% endfor %}") == "a+b+c ['a', 'b'] 3 k1");
  CHECK(eval("{{ '42' | int + 1 }} {{ 'x' | int }} {{ '2.5' | float }} {{ [1, 2, 3] | length }}") == "43 0 2.5 3");
  const std::string people = "{% set ps = [{'n': 'a', 'r': 'u'}, {'n': 'b', 'r': 's'}, {'n': 'c', 'r': 'u'}] %}";
  CHECK(eval(people + "{{ ps | selectattr('r', 'equalto', 'u') | map(attribute='n') | join }}") == "ac");
  CHECK(eval(people + "{{ ps | rejectattr('r', 'eq', 'u') | map(attribute='n') | list }}") == "['b']");
  CHECK(eval(people + "{{ ps | map(attribute='missing', default='-') | join }}") == "---");
  CHECK(eval("{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }}") ==
        "False True True True True");
  CHECK(eval("{{ {} is mapping }} {{ [] is iterable }} {{ 'a' is sequence }} {{ false is false }} {{ 1 is not none }}") ==
        "True True True True True");
  CHECK(eval("{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith(['x', 'c']) }} {{ ' a '.strip() }}|{{ 'xxaxx'.lstrip('x') }}") ==
        "True True a|axx");
  CHECK(eval("{{ 'a b  c'.split() }} {{ 'a,b'.split(',') }} {{ 'a</think>b'.split('</think>')[-1] }}") ==
        "['a', 'b', 'c'] ['a', 'b'] b");
  CHECK(eval("{{ 'Ab'.upper() }} {{ 'aXa'.replace('a', 'b') }} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 2) }}") ==
        "AB bXb 1 2");
  CHECK(eval("{% for k, v in {'x': 1, 'y': 2}.items() %}{{ k }}={{ v }};{% endfor %}") == "x=1;y=2;");
}

TEST_CASE("chat template: statements, loops, scoping and whitespace control") {
  CHECK(eval("{% for x in [1, 2, 3] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}"
             "{{ loop.length }}{{ loop.revindex }} {% endfor %}") ==
        "10TrueFalse33 21FalseFalse32 32FalseTrue31 ");
  CHECK(eval("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{% endfor %}") == "2142");
  CHECK(eval("{% for x in [] %}a{% else %}empty{% endfor %}") == "empty");
  CHECK(eval("{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 3 %}{% break %}{% endif %}"
             "{{ x }}{% endfor %}") == "1");
  CHECK(eval("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}") == "1");
  CHECK(eval("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}") ==
        "4");
  CHECK(eval("{% if false %}a{% elif 1 %}b{% else %}c{% endif %}") == "b");
  CHECK(eval("{% set a, b = [1, 2] %}{{ b }}{{ a }}") == "21");
  CHECK(eval("{% set block %}in{{ 1 }}{% endset %}[{{ block }}]") == "[in1]");
  CHECK(eval("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }}"
             "{{ greet('B', punct='?') }}") == "Hi A!Hi B?");
  CHECK(eval("{# comment #}a  {{- ' b ' -}}  c") == "a b c");
  // trim_blocks and lstrip_blocks, as Hugging Face renders templates.
  CHECK(eval("{% if true %}\n  yes\n  {% endif %}\nend") == "  yes\nend");
  CHECK(eval("  {%+ if true %}x{% endif %}") == "  x");
  CHECK(eval("{% generation %}g{% endgeneration %}") == "g");
}

TEST_CASE("chat template: errors name the line") {
  auto t = ChatTemplate::parse("line one\n{% if x %}\n{{ 1 + }}\n{% endif %}");
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().message().find("line 3") != std::string::npos);
  t = ChatTemplate::parse("{% for x in y %}\nno end");
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().message().find("line 1") != std::string::npos);
  CHECK(render_error("a\n\n{{ x.y }}", ChatRequest{}).message().find("line 3: 'x' is undefined") != std::string::npos);
  CHECK(render_error("{{ 1 | nosuch }}", ChatRequest{}).message().find("unknown filter 'nosuch'") != std::string::npos);
  CHECK(render_error("{{ 'a' + 1 }}", ChatRequest{}).message().find("line 1") != std::string::npos);
  CHECK(render_error("\n{{ raise_exception('boom') }}", ChatRequest{}).message() ==
        "chat template: line 2: raise_exception: boom");
  CHECK_FALSE(sb::parse_chat_messages(R"([{"content": "no role"}])").ok());
  CHECK_FALSE(sb::parse_chat_messages(R"({"role": "user"})").ok());
  CHECK_FALSE(sb::parse_chat_kwargs("[1]").ok());
}

TEST_CASE("chat template: loaded with the tokenizer; its special tokens tokenize as specials") {
  auto tok = sb::Tokenizer::load(sb::test::shared_path("tokenizers/qwen3"));
  REQUIRE(tok.ok());
  CHECK((*tok)->eos_token() == "<|im_end|>");
  CHECK((*tok)->bos_token().empty());
  auto t = ChatTemplate::parse((*tok)->chat_template());
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  ChatRequest r = request(R"([{"role": "user", "content": "Hi"}])");
  r.eos_token = (*tok)->eos_token();
  auto text = t->render(r);
  REQUIRE(text.ok());
  const std::vector<int32_t> ids = (*tok)->encode(*text, false, true);
  REQUIRE(ids.size() > 3);
  CHECK((*tok)->token_piece(ids.front()) == "<|im_start|>");
  CHECK(std::count(ids.begin(), ids.end(), ids.front()) == 2);  // user turn + generation prompt

  // tokenizer_config.json: a list of named templates picks "default".
  const std::string json = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  auto d = sb::parse_tokenizer_json(
      json, R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})", "t");
  REQUIRE(d.ok());
  CHECK(d->chat_template == "D");
  d = sb::parse_tokenizer_json(json, R"({"chat_template": "S"})", "t");
  REQUIRE(d.ok());
  CHECK(d->chat_template == "S");
  CHECK_FALSE(sb::parse_tokenizer_json(json, R"({"chat_template": 3})", "t").ok());
}
