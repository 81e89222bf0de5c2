// The engine's per-request constraint on hand-made logit rows and drafts over
// the stories260K vocabulary: drafts cut at the first refused token, rows
// masked to the allowed tokens, q restricted and renormalised, stop tokens only
// at the end, no leading space where the detokenizer would drop it.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "core/request_constraint.h"
#include "core/tokenizer/tokenizer.h"
#include "test_util.h"

namespace {

struct Fixture {
  std::unique_ptr<sb::Tokenizer> tok;
  std::shared_ptr<const sb::constrain::Vocabulary> vocab;
  sb::constrain::ConstraintCache cache;
  explicit Fixture(std::unique_ptr<sb::Tokenizer> t)
      : tok(std::move(t)), vocab(sb::constrain::Vocabulary::create(*tok, tok->n_vocab(), tok->eos_ids())), cache(vocab) {}

  std::shared_ptr<const sb::constrain::Constraint> choice(std::vector<std::string> choices) {
    sb::ConstraintSpec s;
    s.kind = sb::ConstraintKind::kChoice;
    s.choices = std::move(choices);
    auto c = cache.get(s);
    REQUIRE_MESSAGE(c.ok(), c.status().to_string());
    return *c;
  }
  int32_t id_of(std::string_view bytes) const {
    for (int32_t id = 0; id < vocab->n_vocab(); ++id)
      if (vocab->bytes(id) == bytes) return id;
    FAIL("no token " << bytes);
    return -1;
  }
};

Fixture stories() {
  auto t = sb::Tokenizer::load(sb::test::shared_path("models/stories260K.gguf"));
  REQUIRE_MESSAGE(t.ok(), t.status().to_string());
  return Fixture(std::move(t).value());
}

}  // namespace

TEST_CASE("request constraint: drafts cut at the first refused token, rows masked, q renormalised") {
  Fixture f = stories();
  const int n = f.vocab->n_vocab();
  sb::RequestConstraint rc(f.choice({" Once upon", " One"}), {}, false);
  const int32_t once = f.id_of(" Once"), upon = f.id_of(" upon"), one = f.id_of(" One"), dot = f.id_of(".");
  CHECK(rc.valid_prefix(std::vector<int32_t>{once, upon, dot}) == 2);
  CHECK(rc.valid_prefix(std::vector<int32_t>{dot}) == 0);

  std::mt19937 rng(1);
  std::normal_distribution<float> noise;
  std::vector<float> logits(static_cast<size_t>(4 * n)), before;
  for (float& x : logits) x = noise(rng);
  before = logits;
  auto at = [&](int row, int32_t id) { return logits[static_cast<size_t>(row * n + id)]; };
  auto was = [&](int row, int32_t id) { return before[static_cast<size_t>(row * n + id)]; };
  sb::Draft draft, masked;
  draft.clear();
  draft.push(once, 0.9f, std::vector<sb::Sampler::Candidate>{{once, 0.5f}, {dot, 0.3f}, {one, 0.2f}});
  draft.push(upon, 0.8f, std::vector<sb::Sampler::Candidate>{{upon, 0.6f}, {dot, 0.4f}});
  draft.push(dot, 0.7f, std::vector<sb::Sampler::Candidate>{{dot, 1.0f}});  // " Once upon." is refused
  auto kept = rc.mask_rows(logits.data(), n, &draft, 3, &masked);
  REQUIRE(kept.ok());
  CHECK(*kept == 2);
  REQUIRE(masked.size() == 2);
  CHECK(at(0, once) == was(0, once));
  CHECK(at(0, one) == was(0, one));
  CHECK(std::isinf(at(0, dot)));
  CHECK(std::isinf(at(0, upon)));
  CHECK(at(1, upon) == was(1, upon));
  CHECK(std::isinf(at(1, one)));
  const int32_t eos = f.vocab->end_ids()[0];
  CHECK(at(2, eos) == was(2, eos));  // " Once upon" is complete: only the end is left
  CHECK(std::isinf(at(2, upon)));
  for (int32_t id = 0; id < n; ++id) CHECK(at(3, id) == was(3, id));  // beyond the kept draft: untouched
  // q restricted to the allowed tokens and renormalised.
  REQUIRE(masked.q_of(0).size() == 2);
  CHECK(masked.q_of(0)[0].id == once);
  CHECK(masked.q_of(0)[0].p == doctest::Approx(0.5 / 0.7));
  CHECK(masked.q_of(0)[1].p == doctest::Approx(0.2 / 0.7));
  REQUIRE(masked.q_of(1).size() == 1);
  CHECK(masked.q_of(1)[0].p == doctest::Approx(1.0));
  CHECK(masked.confidence[1] == 0.8f);
}

TEST_CASE("request constraint: end and stop tokens only when complete, no dropped leading space") {
  Fixture f = stories();
  const int n = f.vocab->n_vocab();
  const int32_t eos = f.vocab->end_ids()[0], stop = f.id_of("!"), o = f.id_of("O"), sp_one = f.id_of(" One");
  sb::RequestConstraint rc(f.choice({"O", "On", " One"}), std::vector<int32_t>{stop}, true);
  std::vector<float> logits(static_cast<size_t>(n), 0.0f);
  sb::Draft none, masked;
  REQUIRE(rc.mask_rows(logits.data(), n, &none, 0, &masked).ok());
  CHECK(std::isinf(logits[static_cast<size_t>(sp_one)]));  // the detokenizer would drop its space
  CHECK(std::isinf(logits[static_cast<size_t>(stop)]));
  CHECK(std::isinf(logits[static_cast<size_t>(eos)]));
  CHECK(logits[static_cast<size_t>(o)] == 0.0f);
  rc.advance(o);
  CHECK(rc.complete());
  std::fill(logits.begin(), logits.end(), 0.0f);
  REQUIRE(rc.mask_rows(logits.data(), n, &none, 0, &masked).ok());
  CHECK(logits[static_cast<size_t>(eos)] == 0.0f);
  CHECK(logits[static_cast<size_t>(stop)] == 0.0f);
  CHECK(logits[static_cast<size_t>(f.id_of("n"))] == 0.0f);
  CHECK(std::isinf(logits[static_cast<size_t>(o)]));

  // A text that must start with a space the detokenizer drops: nothing can begin it.
  sb::RequestConstraint dead(f.choice({" Once"}), {}, true);
  auto r = dead.mask_rows(logits.data(), n, &none, 0, &masked);
  CHECK(r.status().code() == sb::StatusCode::kOutOfRange);
}

TEST_CASE("request constraint: as a draft rule it masks after the draft so far, then steps back") {
  Fixture f = stories();
  const int n = f.vocab->n_vocab();
  sb::RequestConstraint rc(f.choice({" Once upon", " One"}), {}, false);
  const int32_t once = f.id_of(" Once"), upon = f.id_of(" upon"), one = f.id_of(" One");
  std::vector<float> logits(static_cast<size_t>(n), 0.0f);
  REQUIRE(rc.mask(std::vector<int32_t>{once}, logits.data(), n));
  CHECK(logits[static_cast<size_t>(upon)] == 0.0f);
  CHECK(std::isinf(logits[static_cast<size_t>(one)]));
  std::fill(logits.begin(), logits.end(), 0.0f);
  REQUIRE(rc.mask(std::vector<int32_t>{once, upon}, logits.data(), n));  // complete: only the end is left
  CHECK(std::isinf(logits[static_cast<size_t>(upon)]));
  CHECK(logits[static_cast<size_t>(f.vocab->end_ids()[0])] == 0.0f);
  std::fill(logits.begin(), logits.end(), 0.0f);
  REQUIRE(rc.mask(std::vector<int32_t>{}, logits.data(), n));  // a new draft: back at the start
  CHECK(logits[static_cast<size_t>(one)] == 0.0f);
  REQUIRE(rc.mask(std::vector<int32_t>{once}, logits.data(), n));
  // The request itself has emitted nothing: the draft's moves are undone.
  CHECK(rc.valid_prefix(std::vector<int32_t>{one}) == 1);
  rc.advance(one);
  CHECK(rc.complete());
}
