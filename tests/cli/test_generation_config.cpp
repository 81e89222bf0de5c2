// run --generation-config: a model's sampling defaults (here a copy of
// stories260K whose GGUF carries general.sampling.* keys) stand in for the
// flags' defaults where no flag is given, with a note; a flag given wins;
// ignore leaves them out; a bad value is a fatal error naming it; inspect shows them.
#include <string>
#include <utility>
#include <vector>

#include "cli/cli_test_util.h"
#include "core/modelgen/gguf_writer.h"
#include "formats/gguf.h"

using sb::test::parse_output;
using sb::test::run_cli;
using sb::test::stories_model;

namespace {

// stories260K with `extra` metadata added.
std::string stories_with(const std::string& path, std::vector<std::pair<std::string, sb::gguf::Value>> extra) {
  auto f = sb::gguf::File::open(stories_model());
  REQUIRE(f.ok());
  sb::gguf::Writer w(f->alignment());
  for (const auto& [key, value] : f->metadata())
    if (key != "general.alignment") w.add_kv(key, value);
  for (auto& [key, value] : extra) w.add_kv(key, std::move(value));
  for (const sb::gguf::TensorInfo& t : f->tensors())
    w.add_tensor(t.name, t.type, t.ne, std::string(reinterpret_cast<const char*>(t.data), t.n_bytes));
  REQUIRE(w.write(path).ok());
  return path;
}

std::vector<std::string> texts(const std::string& out) {
  std::vector<std::string> t;
  for (const auto& line : parse_output(out)) t.push_back(line.text);
  return t;
}

}  // namespace

TEST_CASE("generation config: the model's defaults where no flag is given; a flag wins; ignore leaves them out") {
  const std::string dir = sb::test::scratch_dir("cli_generation_config");
  const std::string model =
      stories_with(dir + "/greedy-default.gguf",
                   {{"general.sampling.temp", sb::gguf::value_f32(0)}, {"general.sampling.top_k", sb::gguf::value_i32(40)}});
  const std::string input =
      "{\"prompt\":\"Once upon a time\",\"max_tokens\":24}\n{\"prompt\":\"The cat\",\"max_tokens\":24}\n";
  const auto greedy = run_cli({"run", "-m", stories_model(), "--temperature", "0", "-q"}, input);
  const auto sampled = run_cli({"run", "-m", stories_model(), "--seed", "3", "-q"}, input);
  REQUIRE(greedy.exit_code == 0);
  REQUIRE(sampled.exit_code == 0);
  REQUIRE(texts(greedy.out) != texts(sampled.out));

  const auto defaults = run_cli({"run", "-m", model, "--seed", "3"}, input);
  REQUIRE_MESSAGE(defaults.exit_code == 0, defaults.err);
  CHECK(texts(defaults.out) == texts(greedy.out));
  CHECK(defaults.err.find("sampling defaults from " + model + ": temperature 0, top_k 40") != std::string::npos);

  // The flags given win over the model's defaults.
  const auto flag = run_cli({"run", "-m", model, "--seed", "3", "--temperature", "1", "--top-k", "0", "-q"}, input);
  REQUIRE(flag.exit_code == 0);
  CHECK(texts(flag.out) == texts(sampled.out));
  const auto ignored = run_cli({"run", "-m", model, "--seed", "3", "--generation-config", "ignore"}, input);
  REQUIRE(ignored.exit_code == 0);
  CHECK(texts(ignored.out) == texts(sampled.out));
  CHECK(ignored.err.find("sampling defaults") == std::string::npos);
  CHECK(run_cli({"run", "-m", model, "--generation-config", "maybe"}, input).exit_code == 2);

  const auto inspect = run_cli({"inspect", model});
  CHECK(inspect.out.find("generation defaults: temperature 0, top_k 40 (" + model + "; run applies them") !=
        std::string::npos);
}

TEST_CASE("generation config: the model's repetition penalty is the default of records without their own") {
  const std::string dir = sb::test::scratch_dir("cli_generation_config_penalty");
  const std::string model =
      stories_with(dir + "/penalty.gguf", {{"general.sampling.penalty_repeat", sb::gguf::value_f32(1.5)}});
  const std::string input = "{\"prompt\":\"Once upon a time\",\"max_tokens\":40}\n";
  const std::string own = "{\"prompt\":\"Once upon a time\",\"max_tokens\":40,\"repetition_penalty\":1.5}\n";
  const auto plain = run_cli({"run", "-m", stories_model(), "--temperature", "0", "-q"}, input);
  const auto record = run_cli({"run", "-m", stories_model(), "--temperature", "0", "-q"}, own);
  const auto defaults = run_cli({"run", "-m", model, "--temperature", "0"}, input);
  REQUIRE_MESSAGE(defaults.exit_code == 0, defaults.err);
  REQUIRE(texts(record.out) != texts(plain.out));  // the penalty shows
  CHECK(texts(defaults.out) == texts(record.out));
  CHECK(defaults.err.find("repetition_penalty 1.5") != std::string::npos);
  const auto ignored =
      run_cli({"run", "-m", model, "--temperature", "0", "--generation-config", "ignore", "-q"}, input);
  CHECK(texts(ignored.out) == texts(plain.out));
}

TEST_CASE("generation config: a value out of range is a fatal error naming the file and the key") {
  const std::string dir = sb::test::scratch_dir("cli_generation_config_bad");
  const std::string model = stories_with(dir + "/bad.gguf", {{"general.sampling.top_p", sb::gguf::value_f32(2)}});
  const auto r = run_cli({"run", "-m", model}, "{\"prompt\":\"Once\",\"max_tokens\":2}\n");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find(model + ": general.sampling.top_p 2 is not in (0, 1]") != std::string::npos);
  CHECK(r.out.empty());
  const std::vector<std::string> ignore = {"run", "-m", model, "--generation-config", "ignore", "-q"};
  CHECK(run_cli(ignore, "{\"prompt\":\"Once\",\"max_tokens\":2}\n").exit_code == 0);
}
