// The front ends that compile to the one automaton form: regular expressions
// against PCRE2 (an independent engine) on random strings and on texts drawn
// from the grammar, GBNF grammars and choice lists, and the errors they give.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <doctest/doctest.h>

#include <random>
#include <string>

#include "core/constrain/gbnf.h"
#include "core/constrain/regex.h"
#include "core/constrain/constrain_test_util.h"

namespace {

using sb::constrain::ConstraintKind;
using sb::constrain::ConstraintSpec;

// PCRE2's verdict on a whole-string match, with the options the schema
// validator uses (core/constrain/json_check.cpp).
bool pcre2_full_match(const std::string& pattern, const std::string& s) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_compile_context* ctx = pcre2_compile_context_create(nullptr);
  pcre2_set_compile_extra_options(ctx, PCRE2_EXTRA_ALT_BSUX);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX, &err, &off, ctx);
  pcre2_compile_context_free(ctx);
  REQUIRE_MESSAGE(code != nullptr, pattern);
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), 0,
                             PCRE2_ANCHORED | PCRE2_ENDANCHORED, md, nullptr);
  pcre2_match_data_free(md);
  pcre2_code_free(code);
  return rc >= 0;
}

ConstraintSpec spec(ConstraintKind kind, std::string text) {
  ConstraintSpec s;
  s.kind = kind;
  s.text = std::move(text);
  return s;
}

}  // namespace

TEST_CASE("regex: whole-text matches agree with PCRE2 on random strings and generated texts") {
  const std::vector<std::string> patterns = {
      "[a-c]+x?",      "(ab|a)*b",        "a{2,4}b{0,2}",         "[^x]y",           "\\d{3}-\\d{2}",
      "(?:ab|ba)+c",   ".a.",             "[\\w.]+@[a-c]+\\.x",   "\xc3\xa9+b?",     "(a|b|)c",
      "x*?y+?",        "[0-9a-c]{2}(:[0-9a-c]{2}){1,2}",          "^\\x41\\u00e9$",  "[^\\d\\s]{1,3}",
      "(?<n>a)(?P<m>b)?", "a|b|c{3}",     "[-a]+",                "\\.\\*\\+\\?",    "[\\]a]"};
  const std::string alphabet[] = {"a", "b", "c", "x", "y", "0", "1", "2", "-", ":", ".", "@", " ",
                                  "\xc3\xa9", "A", "_", "*", "+", "?", "]"};
  std::mt19937_64 rng(7);
  const auto bytes = sb::test::byte_vocabulary();
  for (const std::string& p : patterns) {
    CAPTURE(p);
    const auto t = sb::test::compiled(spec(ConstraintKind::kRegex, p), bytes);
    auto agree = [&](const std::string& s) {
      CAPTURE(s);
      CHECK(sb::test::matches(t, s) == pcre2_full_match(p, s));
    };
    for (int i = 0; i < 200; ++i) {
      std::string s;
      const size_t n = rng() % 7;
      for (size_t k = 0; k < n; ++k) s += alphabet[rng() % std::size(alphabet)];
      agree(s);
    }
    // Texts drawn from the grammar match; one-character edits of them are near misses.
    for (int i = 0; i < 30; ++i) {
      const auto text = sb::test::random_text(t, rng, 12);
      REQUIRE(text);
      CAPTURE(*text);
      CHECK(pcre2_full_match(p, *text));
      for (int k = 0; k < 4; ++k) {
        std::string s = *text;
        const size_t at = s.empty() ? 0 : rng() % (s.size() + 1);
        const std::string c = alphabet[rng() % std::size(alphabet)];
        if (k == 0 && !s.empty()) s.erase(std::min(at, s.size() - 1), 1);
        else if (k == 1) s.insert(at, c);
        else if (!s.empty()) s.replace(std::min(at, s.size() - 1), 1, c);
        agree(s);
      }
    }
  }
}

TEST_CASE("regex: what an automaton cannot do is refused with its offset") {
  sb::constrain::GrammarBuilder b;
  for (const char* p : {"(a)\\1", "a(?=b)", "\\bword", "(?i)a", "a++", "\\p{L}", "a^b", "[]a]", "(a", "a)", "*a",
                        "a**", "[z-a]", "\\q"}) {
    CAPTURE(p);
    auto e = sb::constrain::regex_expr(p, sb::constrain::RegexMatch::kFull, b);
    REQUIRE_FALSE(e.ok());
    CHECK(e.status().message().find("regex at offset") == 0);
  }
}

TEST_CASE("gbnf: a JSON grammar in llama.cpp's style accepts JSON and rejects the rest") {
  const std::string json_gbnf = R"(# JSON, as llama.cpp's grammars/json.gbnf writes it
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws
array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws
string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws
ws ::= | " " | "\n" [ \t]{0,20}
)";
  const auto t = sb::test::compiled(spec(ConstraintKind::kGrammar, json_gbnf), sb::test::byte_vocabulary());
  CHECK(sb::test::matches(t, R"({"a": [1, 2.5e3, "x\n\u00e9"], "b": true, "c": {}})"));
  CHECK(sb::test::matches(t, "{}"));
  CHECK(sb::test::matches(t, "{\n  \"k\": null}"));
  CHECK_FALSE(sb::test::matches(t, "[]"));
  CHECK_FALSE(sb::test::matches(t, R"({"a": })"));
  CHECK_FALSE(sb::test::matches(t, R"({"a": 01x})"));
  CHECK_FALSE(sb::test::matches(t, "{\"a\x01\": 1}"));
}

TEST_CASE("gbnf: repetition, classes, '.', recursion and comments") {
  const std::string g = "root ::= expr \"=\" num # an equation\n"
                        "expr ::= term ((\"+\" | \"-\") term)*\n"
                        "term ::= num | \"(\" expr \")\"\n"
                        "num  ::= [1-9] [0-9]{0,2} | \"0\"\n"
                        "any ::= .\n";
  const auto t = sb::test::compiled(spec(ConstraintKind::kGrammar, g), sb::test::byte_vocabulary());
  CHECK(sb::test::matches(t, "1+(20-3)=18"));
  CHECK(sb::test::matches(t, "((0))=0"));
  CHECK_FALSE(sb::test::matches(t, "1000=1"));
  CHECK_FALSE(sb::test::matches(t, "(1=1"));
  const auto u = sb::test::compiled(spec(ConstraintKind::kGrammar, "root ::= . [^a-c\\x41] \"\\u00e9\"{2,}\n"),
                                    sb::test::byte_vocabulary());
  CHECK(sb::test::matches(u, "\xe2\x82\xac" "d\xc3\xa9\xc3\xa9\xc3\xa9"));
  CHECK_FALSE(sb::test::matches(u, "xA\xc3\xa9\xc3\xa9"));
  CHECK_FALSE(sb::test::matches(u, "xd\xc3\xa9"));
}

TEST_CASE("gbnf: errors name the line and the rule") {
  const std::pair<const char*, const char*> cases[] = {
      {"root ::= a\n", "line 1: rule 'a' is used but not defined"},
      {"start ::= \"x\"\n", "no rule 'root'"},
      {"root ::= root \"a\" | \"b\"\n", "rule 'root' is left-recursive"},
      {"root ::= a\na ::= \"x\" a\n", "matches no text"},
      {"root ::= \"x\"\nroot ::= \"y\"\n", "line 2: rule 'root' is defined twice"},
      {"root ::= \"abc\n", "line 1: unterminated literal"},
      {"root ::= [ab\n", "line 1: unterminated character class"},
      {"root ::= \"a\" b ::= \"c\"\n", "line 1: expected the end of the line before rule 'b'"},
      {"root ::= x{3,1}\nx ::= \"a\"\n", "line 1: a repetition {m,n} with n < m"},
  };
  for (const auto& [text, want] : cases) {
    CAPTURE(text);
    auto g = sb::constrain::compile_gbnf(text);
    REQUIRE_FALSE(g.ok());
    CHECK_MESSAGE(g.status().message().find(want) != std::string::npos, g.status().message());
  }
}

TEST_CASE("choice: exactly one of the strings") {
  ConstraintSpec s;
  s.kind = ConstraintKind::kChoice;
  s.choices = {"yes", "no", "yes, but", "\xe2\x9c\x93"};
  const auto t = sb::test::compiled(s, sb::test::byte_vocabulary());
  for (const std::string& c : s.choices) CHECK(sb::test::matches(t, c));
  CHECK_FALSE(sb::test::matches(t, "ye"));
  CHECK_FALSE(sb::test::matches(t, "yes,"));
  CHECK_FALSE(sb::test::matches(t, ""));
  s.choices.clear();
  CHECK_FALSE(sb::constrain::compile_constraint(s).ok());
}
