// formats/generation_defaults: a Hugging Face directory's generation_config.json
// and a GGUF's general.sampling.* keys read as sampling defaults, checked, with
// errors naming the file and the field.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "formats/generation_defaults.h"
#include "test_util.h"

namespace {

std::string hf_dir(const std::string& name, const std::string& generation_config) {
  const std::string dir = sb::test::scratch_dir(name);
  std::ofstream(dir + "/generation_config.json") << generation_config;
  return dir;
}

}  // namespace

TEST_CASE("generation defaults: generation_config.json's sampling fields, vLLM's set") {
  const std::string dir = hf_dir("gen_defaults_hf", R"({"bos_token_id":1,"eos_token_id":[2,3],"do_sample":true,
    "temperature":0.6,"top_k":20,"top_p":0.95,"max_new_tokens":100,"repetition_penalty":null})");
  auto d = sb::read_generation_defaults(dir);
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  CHECK(*d->temperature == doctest::Approx(0.6));
  CHECK(*d->top_k == 20);
  CHECK(*d->top_p == doctest::Approx(0.95));
  CHECK(*d->max_tokens == 100);
  CHECK_FALSE(d->min_p.has_value());
  CHECK_FALSE(d->repetition_penalty.has_value());  // null is absent
  CHECK(d->source == dir + "/generation_config.json");
  CHECK(d->describe() == "temperature 0.6, top_p 0.95, top_k 20, max_tokens 100");

  // top_k -1 (vLLM's "off") is off; no file: no defaults.
  d = sb::read_generation_defaults(hf_dir("gen_defaults_off", R"({"top_k":-1})"));
  REQUIRE(d.ok());
  CHECK(*d->top_k == 0);
  d = sb::read_generation_defaults(sb::test::scratch_dir("gen_defaults_none"));
  REQUIRE(d.ok());
  CHECK(d->empty());
  CHECK(d->describe() == "none");
}

TEST_CASE("generation defaults: a wrong type or a value out of range names the file and the field") {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : {Case{R"({"temperature":"hot"})", "field 'temperature' must be a number"},
                        Case{R"({"top_p":1.5})", "top_p 1.5 is not in (0, 1]"},
                        Case{R"({"min_p":-0.1})", "min_p -0.1 is not in [0, 1]"},
                        Case{R"({"temperature":-1})", "temperature -1 is not a temperature >= 0"},
                        Case{R"({"repetition_penalty":0})", "repetition_penalty 0 is not a penalty > 0"},
                        Case{R"({"max_new_tokens":0})", "max_new_tokens 0 is not at least 1"},
                        Case{R"({"top_k":2.5})", "top_k"}}) {
    CAPTURE(c.json);
    const std::string dir = hf_dir("gen_defaults_bad", c.json);
    const auto d = sb::read_generation_defaults(dir);
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().message().find(dir + "/generation_config.json") != std::string::npos);
    CHECK(d.status().message().find(c.message) != std::string::npos);
  }
}

TEST_CASE("generation defaults: a GGUF without general.sampling keys has none; a file that is no GGUF too") {
  auto d = sb::read_generation_defaults(sb::test::shared_path("models/stories260K.gguf"));
  REQUIRE(d.ok());
  CHECK(d->empty());
  CHECK(d->source.empty());
  const std::string junk = sb::test::scratch_dir("gen_defaults_junk") + "/junk.gguf";
  std::ofstream(junk) << "not a gguf";
  d = sb::read_generation_defaults(junk);
  REQUIRE(d.ok());  // the loader reports it
  CHECK(d->empty());
}
