// --draft and --spec-policy values parsed into typed values: every kind, and
// errors that name the bad value and what is accepted.
#include <doctest/doctest.h>

#include <string>

#include "core/spec/draft_spec.h"

TEST_CASE("draft spec: none, ngram[:N], self:q8_0/q4_0, dspark:DIR and model paths") {
  const auto parse = [](const std::string& v) {
    auto d = sb::parse_draft_spec(v);
    REQUIRE_MESSAGE(d.ok(), d.status().to_string());
    CHECK(d->text == v);
    return *d;
  };
  CHECK(parse("").none());
  CHECK(!parse("").needs_model());
  sb::DraftSpec d = parse("ngram");
  CHECK(d.kind == sb::DraftSpec::Kind::kNgram);
  CHECK(d.ngram_max == 3);
  CHECK(parse("ngram:1").ngram_max == 1);
  CHECK(parse("ngram:64").ngram_max == 64);
  CHECK(!parse("ngram:5").needs_model());
  d = parse("self:q4_0");
  CHECK(d.kind == sb::DraftSpec::Kind::kSelf);
  CHECK(d.self_dtype == sb::DType::kQ4_0);
  CHECK(d.needs_model());
  CHECK(parse("self:q8_0").self_dtype == sb::DType::kQ8_0);
  d = parse("dspark:models/dspark_qwen3_4b");
  CHECK(d.kind == sb::DraftSpec::Kind::kDSpark);
  CHECK(d.path == "models/dspark_qwen3_4b");
  CHECK(!d.needs_model());  // the drafter loads its checkpoint itself
  d = parse("models/draft.gguf");
  CHECK(d.kind == sb::DraftSpec::Kind::kModel);
  CHECK(d.path == "models/draft.gguf");
  CHECK(d.needs_model());
}

TEST_CASE("draft spec: a bad value is an error naming it and what is accepted") {
  const auto error = [](const std::string& v) {
    auto d = sb::parse_draft_spec(v);
    REQUIRE(!d.ok());
    CHECK(d.status().code() == sb::StatusCode::kInvalidArgument);
    CHECK(d.status().message().find("--draft " + v + ":") == 0);
    return d.status().message();
  };
  CHECK(error("self:q2_k").find("expected self:q8_0 or self:q4_0") != std::string::npos);
  CHECK(error("self:").find("self:q8_0") != std::string::npos);
  for (const char* v : {"ngram:0", "ngram:65", "ngram:x", "ngram:", "ngram:3x", "ngrams"})
    CHECK(error(v).find("ngram:N with N in [1, 64]") != std::string::npos);
  CHECK(error("dspark:").find("dspark:DIR") != std::string::npos);
}

TEST_CASE("spec policy: off, fixed and confidence by name; anything else names the value") {
  for (sb::SpecPolicy p : {sb::SpecPolicy::kOff, sb::SpecPolicy::kFixed, sb::SpecPolicy::kConfidence}) {
    auto back = sb::parse_spec_policy(sb::spec_policy_name(p));
    REQUIRE(back.ok());
    CHECK(*back == p);
  }
  CHECK(std::string(sb::spec_policy_name(sb::SpecPolicy::kConfidence)) == "confidence");
  auto bad = sb::parse_spec_policy("always");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message() == "--spec-policy always: expected confidence, fixed or off");
}
