// formats/spec_profile: the --spec-profile JSON round-trips; every malformed
// field is an error naming the file and the field; key differences name the
// fields that differ with both values.
#include <doctest/doctest.h>

#include "formats/spec_profile.h"

namespace {

sb::SpecProfile sample() {
  sb::SpecProfile p;
  p.key = {1185376, "00ff00ff00ff00ff", "llama dim 64", "cpu", 3, 512, 16, "self:q8_0"};
  p.step_seconds = {{1, 0.0015}, {2, 0.00175}, {17, 0.0031}, {512, 0.25}};
  p.draft_pass_seconds = {{1, 0.0004}, {64, 0.002}};
  return p;
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const size_t at = s.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("spec_profile: JSON round trip") {
  const sb::SpecProfile p = sample();
  auto back = sb::parse_spec_profile(sb::spec_profile_to_json(p), "p.json");
  REQUIRE_MESSAGE(back.ok(), back.status().to_string());
  CHECK(sb::spec_profile_key_differences(back->key, p.key).empty());
  CHECK(back->key.model_size == p.key.model_size);
  CHECK(back->key.threads == 3);
  CHECK(back->step_seconds == p.step_seconds);
  CHECK(back->draft_pass_seconds == p.draft_pass_seconds);
  CHECK(back->key.draft == "self:q8_0");
  // A drafter that costs nothing has no pass points.
  sb::SpecProfile free = p;
  free.draft_pass_seconds.clear();
  auto none = sb::parse_spec_profile(sb::spec_profile_to_json(free), "p.json");
  REQUIRE_MESSAGE(none.ok(), none.status().to_string());
  CHECK(none->draft_pass_seconds.empty());
}

TEST_CASE("spec_profile: malformed files name the file and the field") {
  const std::string good = sb::spec_profile_to_json(sample());
  struct Bad {
    std::string json;
    const char* field;
  };
  const Bad cases[] = {
      {"{\"specbatch_spec_profile\":2", "JSON"},
      {replaced(good, "\"specbatch_spec_profile\":2", "\"specbatch_spec_profile\":1"), "specbatch_spec_profile"},
      {replaced(good, "\"threads\":3", "\"threads\":\"3\""), "threads"},
      {replaced(good, "\"threads\":3", "\"threads\":0"), "threads"},
      {replaced(good, "\"model_hash\":\"00ff00ff00ff00ff\"", "\"model_hash\":7"), "model_hash"},
      {replaced(good, "\"backend\":\"cpu\",", ""), "backend"},
      {replaced(good, "\"kv_block_size\":16", "\"kv_block_size\":-16"), "kv_block_size"},
      {replaced(good, "[2,0.00175]", "[2,-0.00175]"), "step_seconds"},
      {replaced(good, "[17,0.0031]", "[1,0.0031]"), "step_seconds"},
      {replaced(good, "[17,0.0031]", "[17]"), "step_seconds"},
      {replaced(good, "[17,0.0031]", "[17.5,0.0031]"), "step_seconds"},
      {replaced(good, "[[1,0.0015],[2,0.00175],[17,0.0031],[512,0.25]]", "[]"), "step_seconds"},
      {replaced(good, "\"draft\":\"self:q8_0\",", ""), "draft"},
      {replaced(good, "[64,0.002]", "[64,0]"), "draft_pass_seconds"},
      {replaced(good, "\"draft_pass_seconds\":[[1,0.0004],[64,0.002]]", "\"draft_pass_seconds\":7"), "draft_pass_seconds"},
  };
  for (const Bad& b : cases) {
    auto p = sb::parse_spec_profile(b.json, "dir/profile.json");
    REQUIRE_MESSAGE(!p.ok(), b.json);
    CHECK(p.status().code() == sb::StatusCode::kCorrupt);
    CHECK_MESSAGE(p.status().message().find("dir/profile.json") != std::string::npos, p.status().message());
    CHECK_MESSAGE(p.status().message().find(b.field) != std::string::npos, p.status().message());
  }
}

TEST_CASE("spec_profile: key differences name each differing field") {
  sb::SpecProfileKey a = sample().key, b = a;
  CHECK(sb::spec_profile_key_differences(a, b).empty());
  b.threads = 8;
  b.model_hash = "1111111111111111";
  const auto d = sb::spec_profile_key_differences(a, b);
  REQUIRE(d.size() == 2);
  CHECK(d[0] == "model_hash (00ff00ff00ff00ff in the file, 1111111111111111 now)");
  CHECK(d[1] == "threads (3 in the file, 8 now)");
  b = a;
  b.kv_block_size = 32;
  CHECK(sb::spec_profile_key_differences(a, b).size() == 1);
  b = a;
  b.max_batch_tokens = 256;
  b.backend = "cuda";
  CHECK(sb::spec_profile_key_differences(a, b).size() == 2);
  b = a;
  b.draft = "self:q4_0";
  CHECK(sb::spec_profile_key_differences(a, b) ==
        std::vector<std::string>{"draft (self:q8_0 in the file, self:q4_0 now)"});
}
