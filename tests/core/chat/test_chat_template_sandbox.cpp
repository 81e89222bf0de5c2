// The chat-template sandbox: hostile templates (runaway loops, huge output,
// deep recursion and nesting) stop with an error naming the line, and a
// deterministic fuzz test mutates real templates and random token soups
// through the parser and evaluator, expecting a Status every time, never a
// crash (CI also runs it under ASan + UBSan).
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "core/chat/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "test_util.h"

namespace {

using sb::ChatRequest;
using sb::ChatTemplate;

ChatRequest simple_request() {
  ChatRequest r;
  auto m = sb::parse_chat_messages(R"([{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
      {"role": "assistant", "content": "<think>t</think>a", "tool_calls": [{"function": {"name": "f",
      "arguments": {"x": [1, 2.5, null, true]}}}]}, {"role": "tool", "content": "r"}, {"role": "user", "content": "v"}])");
  REQUIRE(m.ok());
  r.messages = *m;
  r.bos_token = "<s>";
  r.eos_token = "</s>";
  return r;
}

// Renders `source`; the template must parse, and rendering must fail.
std::string render_failure(const std::string& source) {
  auto t = ChatTemplate::parse(source);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  auto out = t->render(simple_request());
  REQUIRE_FALSE_MESSAGE(out.ok(), source);
  return out.status().message();
}

// Renders `source`, which must parse and render.
std::string render_ok(const std::string& source) {
  auto t = ChatTemplate::parse(source);
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  auto out = t->render(simple_request());
  REQUIRE_MESSAGE(out.ok(), source, ": ", out.status().to_string());
  return *out;
}

}  // namespace

TEST_CASE("chat template sandbox: integers at the int64 edges give Python's answers (found by fuzzing)") {
  // These trapped (SIGFPE) or overflowed a signed loop counter before: issue 22, items 2-4.
  CHECK(render_ok("{{ (-9223372036854775807 - 1) is divisibleby(-1) }}") == "True");
  CHECK(render_ok("{{ 7 is divisibleby(-1) }}{{ 7 is divisibleby(2) }}") == "TrueFalse");
  CHECK(render_ok("{{ \"abc\"[1::9223372036854775807] }}") == "b");
  CHECK(render_ok("{{ \"abc\"[::-9223372036854775807 - 1] }}") == "c");
  CHECK(render_ok("{{ [1, 2, 3, 4][-1:0:-9223372036854775807] }}") == "[4]");
  CHECK(render_ok("{{ \"abcde\"[::-2] }}{{ \"abcde\"[1:4:2] }}") == "ecabd");
  CHECK(render_ok("{{ range(-9223372036854775807 - 1, 9223372036854775807, 9223372036854775807) | list }}") ==
        "[-9223372036854775808, -1, 9223372036854775806]");
  CHECK(render_ok("{{ range(9223372036854775807, -9223372036854775807 - 1, -9223372036854775807 - 1) | list }}") ==
        "[9223372036854775807, -1]");
  CHECK(render_ok("{{ range(10, 0, -3) | list }}{{ range(0, 10, 4) | list }}{{ range(3, 3) | list }}") ==
        "[10, 7, 4, 1][0, 4, 8][]");
}

TEST_CASE("chat template sandbox: runaway loops stop") {
  CHECK(render_failure("{% for i in range(10**9) %}x{% endfor %}").find("line 1") != std::string::npos);
  CHECK(render_failure("\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}")
            .find("too much work") != std::string::npos);
  CHECK(render_failure("{% for m in messages %}{% for i in range(1000000) %}{% for j in range(1000) %}{{ '' }}"
                       "{% endfor %}{% endfor %}{% endfor %}")
            .find("line 1") != std::string::npos);
  CHECK(render_failure("{{ range(10**12) | length }}").find("over the limit") != std::string::npos);
}

TEST_CASE("chat template sandbox: huge output and huge values stop") {
  CHECK(render_failure("{{ 'a' * 10**12 }}").find("over the limit") != std::string::npos);
  CHECK(render_failure("{% set ns = namespace(s='xy') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}"
                       "{% endfor %}{{ ns.s }}")
            .find("over the limit") != std::string::npos);
  CHECK(render_failure("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}"
                       "{% endfor %}")
            .find("over the limit") != std::string::npos);
  CHECK(render_failure("{% for i in range(1000000) %}{{ 'x' * 1000 }}{% endfor %}").find("line 1") !=
        std::string::npos);
  CHECK(render_failure("{{ ('a' * 1000000).replace('a', 'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb') }}")
            .find("over the limit") != std::string::npos);
  CHECK(render_failure("{{ 2 ** 100 }}").find("overflow") != std::string::npos);
}

TEST_CASE("chat template sandbox: deep recursion and nesting stop") {
  CHECK(render_failure("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}").find("levels deep") !=
        std::string::npos);
  CHECK(render_failure("{% macro f(n) %}{{ f(n) ~ f(n) }}{% endmacro %}{{ f(0) }}").find("levels deep") !=
        std::string::npos);
  CHECK(render_failure("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}")
            .find("nests more than") != std::string::npos);
  CHECK(render_failure("{% set ns = namespace() %}{% set ns.me = ns %}").find("namespace") != std::string::npos);
  for (const std::string& deep : {std::string(100000, '(') + "1" + std::string(100000, ')'),
                                  std::string(100000, '[') + std::string(100000, ']'),
                                  std::string(50000, '-') + "1", "1" + std::string(20000, '|') + "x",
                                  [] {
                                    std::string s;
                                    for (int i = 0; i < 30000; ++i) s += "not ";
                                    return s + "x";
                                  }()}) {
    auto t = ChatTemplate::parse("{{ " + deep + " }}");
    CHECK_FALSE(t.ok());
  }
  std::string blocks;
  for (int i = 0; i < 20000; ++i) blocks += "{% if true %}";
  auto t = ChatTemplate::parse(blocks);
  REQUIRE_FALSE(t.ok());
  CHECK(t.status().message().find("nested too deeply") != std::string::npos);
  auto deep_json = sb::parse_chat_messages(std::string(100000, '[') + std::string(100000, ']'));
  CHECK_FALSE(deep_json.ok());
}

TEST_CASE("chat template sandbox: fuzzed templates never crash") {
  std::vector<std::string> seeds;
  auto tok = sb::Tokenizer::load(sb::test::shared_path("tokenizers/qwen3"));
  REQUIRE(tok.ok());
  seeds.push_back((*tok)->chat_template());
  seeds.push_back(
      "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
      "{{ raise_exception('roles') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] "
      "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}"
      "{% endfor %}");
  seeds.push_back(
      "{%- set ns = namespace(x=0, l=[]) -%}{%- macro m(a, b=2) -%}{{ a ~ b | string }}{%- endmacro -%}"
      "{%- for k, v in {'a': [1, 2][::-1], 'b': 'xy'[1:]} | items if k != 'z' -%}{{ m(k) }}{{ v | tojson(indent=1) }}"
      "{% set ns.x = ns.x + loop.index %}{%- endfor -%}{{ messages | selectattr('role', 'eq', 'user') | "
      "map(attribute='content') | join(', ') | upper | replace('U', 'w') | trim }}{{ ns.x if ns.x is number else "
      "none }}{{ 'a,b'.split(',') | first | default('-', true) }}{# c #}{%+ set b %}{{ 1.5 // 1 }}{% endset %}{{ b }}");
  const std::vector<std::string> fragments = {
      "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "for", "in", "endfor", "if", "elif", "else",
      "endif", "set", "macro", "endmacro", "endset", "break", "continue", "namespace(", "range(", "10**9", "(", ")",
      "[", "]", "{", "}", ",", ":", ".", "|", "~", "+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", ">", "=",
      "not", "and", "or", "is", "defined", "none", "true", "'s'", "\"q\"", "'", "\"", "0", "-1", "2.5", "loop",
      "loop.index", "messages", "message", "ns", "ns.x", "x", "tojson", "trim", "length", "join", "map", "items",
      "selectattr", "default", "raise_exception(", "[::-1]", "[1:]", "\n", " ", "content", ".split(", ".strip()"};
  std::mt19937 rng(20240607);
  const auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  sb::jinja::RenderLimits limits;
  limits.max_work = 20000;
  limits.max_output_bytes = 1 << 16;
  limits.max_items = 10000;
  const ChatRequest req = simple_request();
  constexpr int kIterations = 20000;  // a fixed count (not a time budget) keeps the test deterministic
  int parsed = 0, rendered = 0;
  for (int iter = 0; iter < kIterations; ++iter) {
    std::string src;
    if (iter % 2 == 0) {  // mutate a real template
      src = seeds[pick(seeds.size())];
      const int edits = 1 + static_cast<int>(pick(4));
      for (int e = 0; e < edits && !src.empty(); ++e) {
        const size_t at = pick(src.size());
        const size_t len = 1 + pick(12);
        switch (pick(4)) {
          case 0: src.erase(at, len); break;
          case 1: src.insert(at, fragments[pick(fragments.size())]); break;
          case 2: src.insert(at, src.substr(pick(src.size()), len)); break;
          default: src[at] = static_cast<char>(pick(256)); break;
        }
      }
    } else {  // token soup, mostly inside tags
      const size_t n = 1 + pick(40);
      src = pick(2) ? "{{ " : "{% ";
      for (size_t i = 0; i < n; ++i) src += fragments[pick(fragments.size())] + " ";
    }
    auto t = ChatTemplate::parse(src);
    if (!t.ok()) {
      CHECK_FALSE(t.status().message().empty());
      continue;
    }
    ++parsed;
    auto out = t->render(req, limits);
    if (out.ok()) {
      ++rendered;
      CHECK(out->size() <= limits.max_output_bytes);
    } else {
      CHECK(out.status().message().find("line ") != std::string::npos);
    }
  }
  MESSAGE("fuzz: " << parsed << " parsed, " << rendered << " rendered of " << kIterations);
  CHECK(parsed > 1000);
  CHECK(rendered > 500);
}
