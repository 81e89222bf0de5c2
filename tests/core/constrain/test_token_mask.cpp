// The allowed-token mask against the slow reference (every vocabulary token
// tried on the automaton) at random states reached by allowed tokens, on the
// stories260K SentencePiece vocabulary and the 151k-token Qwen3 byte-level
// BPE vocabulary; rollback restores earlier states exactly.
#include <doctest/doctest.h>

#include <random>

#include "core/constrain/constrain_test_util.h"
#include "core/tokenizer/tokenizer.h"
#include "test_util.h"

namespace {

using sb::constrain::ConstraintKind;
using sb::constrain::ConstraintSpec;

std::shared_ptr<const sb::constrain::Vocabulary> vocabulary_of(const std::string& path) {
  auto tok = sb::Tokenizer::load(sb::test::shared_path(path));
  REQUIRE_MESSAGE(tok.ok(), tok.status().to_string());
  return sb::constrain::Vocabulary::create(**tok, (*tok)->n_vocab() + 3, (*tok)->eos_ids());
}

std::vector<ConstraintSpec> specs() {
  std::vector<ConstraintSpec> out(5);
  out[0].kind = ConstraintKind::kJsonSchema;
  out[0].text = R"({"type":"object","properties":{"name":{"type":"string","maxLength":20},
    "kind":{"enum":["cat","dog","bird"]},"tags":{"type":"array","items":{"type":"string"},"maxItems":3},
    "owner":{"type":"object","properties":{"age":{"type":"integer","minimum":0,"maximum":120},
    "since":{"type":"string","format":"date"}},"required":["age"]}},"required":["name","kind"]})";
  out[1].kind = ConstraintKind::kJsonObject;
  out[2].kind = ConstraintKind::kRegex;
  out[2].text = "(Once upon a time|One day), [a-z ]{3,30}\\.( [A-Z][a-z]+)*\n?";
  out[3].kind = ConstraintKind::kChoice;
  out[3].choices = {"yes", "no", "maybe not", " yes"};
  out[4].kind = ConstraintKind::kGrammar;
  out[4].text = "root ::= item (\", \" item)*\nitem ::= [0-9]+ | \"(\" root \")\" | word\nword ::= [a-zA-Z]{1,8}\n";
  return out;
}

// Walks n_states random allowed tokens, comparing the fast mask with the
// reference at each state, then rolls back and finds the earlier masks again.
void check_walk(const std::shared_ptr<const sb::constrain::Vocabulary>& v, const ConstraintSpec& spec, int n_states,
                std::mt19937_64& rng) {
  CAPTURE(sb::constraint_kind_name(spec.kind));
  const auto t = sb::test::compiled(spec, v);
  sb::constrain::Matcher m(t);
  std::vector<std::vector<uint64_t>> seen;
  std::vector<uint64_t> mask(static_cast<size_t>(t->n_words()));
  for (int step = 0; step < n_states; ++step) {
    m.fill_mask(mask);
    CHECK(mask == sb::test::brute_force_mask(m));
    seen.push_back(mask);
    std::vector<int32_t> ids = sb::test::allowed_ids(mask);
    REQUIRE(!ids.empty());
    // Prefer going on over ending, to reach deeper states.
    std::vector<int32_t> go_on;
    for (int32_t id : ids)
      if (!v->is_end(id)) go_on.push_back(id);
    if (go_on.empty()) break;
    REQUIRE(m.advance(go_on[rng() % go_on.size()]));
  }
  while (m.n_tokens() > 0) {
    const int back = 1 + static_cast<int>(rng() % static_cast<uint64_t>(m.n_tokens()));
    m.rollback(back);
    m.fill_mask(mask);
    CHECK(mask == seen[static_cast<size_t>(m.n_tokens())]);
  }
}

}  // namespace

TEST_CASE("token mask: equals every token tried, stories260K vocabulary") {
  const auto v = vocabulary_of("models/stories260K.gguf");
  std::mt19937_64 rng(1);
  for (const ConstraintSpec& s : specs())
    for (int walk = 0; walk < 6; ++walk) check_walk(v, s, 40, rng);
}

TEST_CASE("token mask: equals every token tried, Qwen3 vocabulary") {
  const auto v = vocabulary_of("tokenizers/qwen3");
  std::mt19937_64 rng(2);
  for (const ConstraintSpec& s : specs()) check_walk(v, s, 6, rng);
}

TEST_CASE("token mask: end tokens exactly when complete, nothing after them") {
  const auto v = vocabulary_of("models/stories260K.gguf");
  ConstraintSpec s;
  s.kind = ConstraintKind::kChoice;
  s.choices = {"a", "ab"};
  sb::constrain::Matcher m(sb::test::compiled(s, v));
  const int32_t eos = v->end_ids()[0];
  CHECK_FALSE(m.is_complete());
  CHECK_FALSE(m.advance(eos));
  std::vector<uint64_t> mask(static_cast<size_t>(m.tables().n_words()));
  int32_t a = -1;
  for (int32_t id = 0; id < v->n_vocab(); ++id)
    if (v->bytes(id) == "a") a = id;
  REQUIRE(a >= 0);
  REQUIRE(m.advance(a));
  CHECK(m.is_complete());
  m.fill_mask(mask);
  CHECK((mask[static_cast<size_t>(eos) >> 6] >> (eos & 63) & 1) == 1);
  REQUIRE(m.advance(eos));
  CHECK(m.is_ended());
  m.fill_mask(mask);
  CHECK(sb::test::allowed_ids(mask).empty());
  // Padded logit rows past the tokenizer's vocabulary are never allowed.
  CHECK_FALSE(v->in_trie(v->n_vocab() - 1));
}
