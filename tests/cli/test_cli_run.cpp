// End-to-end `specbatch run` on stories260K: output shape, greedy reference text,
// determinism, every per-record error code with exit 3, zstd and several
// inputs with one index, -o refusing to overwrite, and the stderr summary.
#include <zstd.h>

#include <filesystem>

#include "cli/cli_test_util.h"
#include "kernels/cpu/cpu_isa.h"

using sb::test::parse_output;
using sb::test::run_cli;
using sb::test::stories_model;

namespace {

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("greedy from BOS with an empty prompt reproduces the published stories260K text on every kernel path") {
  const std::string reference = rtrim(sb::test::read_file(sb::test::shared_path("models/stories260K.greedy.txt")));
  REQUIRE(!reference.empty());
  for (sb::cpu::CpuIsa isa : {sb::cpu::CpuIsa::kPortable, sb::cpu::CpuIsa::kAvx2, sb::cpu::CpuIsa::kAvx512}) {
    if (!sb::cpu::cpu_isa_supported(isa)) continue;
    const sb::test::ScopedEnv env("SPECBATCH_CPU", sb::cpu::cpu_isa_name(isa));
    CAPTURE(sb::cpu::cpu_isa_name(isa));
    auto r = run_cli({"run", "-m", stories_model(), "--temperature", "0", "--max-tokens", "400", "-q"},
                     "{\"id\":\"greedy\",\"prompt\":\"\"}\n");
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.empty());  // -q: no summary
    auto lines = parse_output(r.out);
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].id_json == "\"greedy\"");
    CHECK(lines[0].prompt_tokens == 1);  // just BOS
    CAPTURE(lines[0].text);
    CHECK(lines[0].text.rfind(reference, 0) == 0);
  }
}

TEST_CASE("SPECBATCH_CPU: an unknown path, or one this CPU lacks, is a clear error") {
  {
    const sb::test::ScopedEnv env("SPECBATCH_CPU", "sse9");
    auto r = run_cli({"run", "-m", stories_model(), "--max-tokens", "2"}, "{\"prompt\":\"a\"}\n");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("SPECBATCH_CPU=sse9: unknown kernel path") != std::string::npos);
    CHECK(r.out.empty());
  }
  for (sb::cpu::CpuIsa isa : {sb::cpu::CpuIsa::kAvx2, sb::cpu::CpuIsa::kAvx512}) {
    if (sb::cpu::cpu_isa_supported(isa)) continue;
    const sb::test::ScopedEnv env("SPECBATCH_CPU", sb::cpu::cpu_isa_name(isa));
    auto r = run_cli({"run", "-m", stories_model(), "--max-tokens", "2"}, "{\"prompt\":\"a\"}\n");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(std::string("cannot run the ") + sb::cpu::cpu_isa_name(isa)) != std::string::npos);
  }
}

TEST_CASE("output lines: index, id, text, finish_reason, usage; greedy is deterministic") {
  const std::string input =
      "{\"id\":\"a\",\"prompt\":\"Once upon a time\",\"max_tokens\":20}\n"
      "\n"
      "{\"id\":7,\"prompt\":\"The cat\",\"max_tokens\":5}\n"
      "{\"prompt\":\"Lily went\",\"max_tokens\":0}\n"
      "{\"custom_id\":\"c\",\"prompt\":\"Tom\",\"stop\":[\".\"],\"max_tokens\":100}\n";
  const std::vector<std::string> args = {"run", "-m", stories_model(), "--temperature", "0", "--threads", "1"};
  auto r = run_cli(args, input);
  REQUIRE(r.exit_code == 0);
  auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 4);
  for (size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i].index == i);
    CHECK_FALSE(lines[i].is_error);
    CHECK((lines[i].finish_reason == "stop" || lines[i].finish_reason == "length"));
    CHECK(lines[i].prompt_tokens >= 2);
  }
  CHECK(lines[0].id_json == "\"a\"");
  CHECK(lines[1].id_json == "7");
  CHECK(lines[2].id_json == "null");
  CHECK(lines[3].id_json == "\"c\"");
  CHECK(lines[0].completion_tokens == 20);
  CHECK(lines[0].finish_reason == "length");
  CHECK(!lines[0].text.empty());
  CHECK(lines[1].completion_tokens <= 5);
  CHECK(lines[2].completion_tokens == 0);
  CHECK(lines[2].text.empty());
  CHECK(lines[2].finish_reason == "length");
  CHECK(lines[3].text.find('.') == std::string::npos);  // the stop string is not included
  CHECK(r.err.find("4 records (4 ok, 0 failed)") != std::string::npos);
  CHECK(r.err.find("generated tokens/s on cpu-") != std::string::npos);

  auto again = run_cli(args, input);
  CHECK(again.out == r.out);
  auto threaded = run_cli({"run", "-m", stories_model(), "--temperature", "0", "--threads", "2"}, input);
  CHECK(threaded.out == r.out);
}

TEST_CASE("seeded sampling repeats; flags set defaults and records override them") {
  const std::string input = "{\"prompt\":\"Once upon a time\",\"max_tokens\":30}\n"
                            "{\"prompt\":\"Once upon a time\",\"max_tokens\":30,\"seed\":5}\n";
  auto a = run_cli({"run", "-m", stories_model(), "--seed", "5", "--temperature", "0.8"}, input);
  auto b = run_cli({"run", "-m", stories_model(), "--seed", "5", "--temperature", "0.8"}, input);
  REQUIRE(a.exit_code == 0);
  CHECK(a.out == b.out);
  auto lines = parse_output(a.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].completion_tokens <= 30);

  auto defaults = run_cli({"run", "-m", stories_model(), "--max-tokens", "3", "--temperature", "0"},
                          "{\"prompt\":\"Once\"}\n{\"prompt\":\"Once\",\"max_tokens\":6}\n");
  auto d = parse_output(defaults.out);
  REQUIRE(d.size() == 2);
  CHECK(d[0].completion_tokens == 3);
  CHECK(d[1].completion_tokens == 6);
}

TEST_CASE("per-record errors become error records in place; the run goes on; exit 3") {
  const std::string input =
      "{\"id\":\"ok1\",\"prompt\":\"Once\",\"max_tokens\":4}\n"
      "{\"id\":\"broken\",\"prompt\":\n"
      "{\"id\":\"np\",\"text\":\"no prompt here\"}\n"
      "{\"id\":\"hot\",\"prompt\":\"x\",\"temperature\":-1}\n"
      "{\"id\":\"topp\",\"prompt\":\"x\",\"top_p\":0}\n"
      "{\"id\":\"chat\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}\n"
      "{\"id\":\"utf\",\"prompt\":\"bad \xff byte\"}\n"
      "{\"id\":\"long\",\"prompt\":\"Once upon a time there was a very long story that goes on\"}\n"
      "{\"id\":\"ok2\",\"prompt\":\"Tom\",\"max_tokens\":2}\n";
  auto r = run_cli({"run", "-m", stories_model(), "--ctx", "8", "--temperature", "0"}, input);
  CHECK(r.exit_code == 3);
  auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 9);
  const char* expected[] = {"", "invalid_json", "missing_prompt", "invalid_param", "invalid_param",
                            "unsupported", "invalid_utf8", "prompt_too_long", ""};
  for (size_t i = 0; i < 9; ++i) {
    CAPTURE(i);
    CHECK(lines[i].index == i);
    CHECK(lines[i].is_error == (expected[i][0] != '\0'));
    CHECK(lines[i].error_code == expected[i]);
  }
  CHECK(lines[1].id_json == "null");  // unparseable: no id
  CHECK(lines[2].id_json == "\"np\"");
  CHECK(lines[7].id_json == "\"long\"");
  CHECK(lines[8].completion_tokens <= 2);
  CHECK(r.err.find("9 records (2 ok, 7 failed)") != std::string::npos);
}

TEST_CASE("zstd and plain inputs, stdin as '-', one index across files") {
  const std::string dir = sb::test::scratch_dir("cli_inputs");
  const std::string plain = "{\"id\":\"p0\",\"prompt\":\"Once\"}\n\n{\"id\":\"p1\",\"prompt\":\"Tom\"}\n";
  std::string zst(ZSTD_compressBound(plain.size()), '\0');
  zst.resize(ZSTD_compress(zst.data(), zst.size(), plain.data(), plain.size(), 3));
  sb::test::write_file(dir + "/a.jsonl.zst", zst);
  sb::test::write_file(dir + "/b.jsonl", plain);
  auto r = run_cli({"run", "-m", stories_model(), "--max-tokens", "3", dir + "/a.jsonl.zst", "-", dir + "/b.jsonl"},
                   "{\"id\":\"stdin\",\"prompt\":\"Lily\"}\n");
  REQUIRE(r.exit_code == 0);
  auto lines = parse_output(r.out);
  REQUIRE(lines.size() == 5);
  const char* ids[] = {"\"p0\"", "\"p1\"", "\"stdin\"", "\"p0\"", "\"p1\""};
  for (size_t i = 0; i < 5; ++i) {
    CHECK(lines[i].index == i);
    CHECK(lines[i].id_json == ids[i]);
  }
  // A corrupt zstd input is fatal (exit 1) and names the file.
  sb::test::write_file(dir + "/bad.jsonl.zst", zst.substr(0, zst.size() / 2));
  auto bad = run_cli({"run", "-m", stories_model(), dir + "/bad.jsonl.zst"});
  CHECK(bad.exit_code == 1);
  CHECK(bad.err.find("bad.jsonl.zst") != std::string::npos);
  // A missing input fails before the model loads.
  auto missing = run_cli({"run", "-m", stories_model(), dir + "/missing.jsonl"});
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("missing.jsonl") != std::string::npos);
  // So does a missing model.
  auto no_model = run_cli({"run", "-m", dir + "/nope.gguf"}, plain);
  CHECK(no_model.exit_code == 1);
  CHECK(no_model.err.find("nope.gguf") != std::string::npos);
}

TEST_CASE("-o writes the file and never overwrites an existing one without --overwrite") {
  const std::string dir = sb::test::scratch_dir("cli_output");
  const std::string out = dir + "/out.jsonl";
  const std::string input = "{\"prompt\":\"Once\",\"max_tokens\":3}\n";
  auto r = run_cli({"run", "-m", stories_model(), "-o", out}, input);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.empty());
  const std::string first = sb::test::read_file(out);
  CHECK(parse_output(first).size() == 1);

  sb::test::write_file(out, "precious\n");
  auto refused = run_cli({"run", "-m", stories_model(), "-o", out}, input);
  CHECK(refused.exit_code == 1);
  CHECK(refused.err.find("--overwrite") != std::string::npos);
  CHECK(sb::test::read_file(out) == "precious\n");

  auto replaced = run_cli({"run", "-m", stories_model(), "-o", out, "--overwrite"}, input);
  CHECK(replaced.exit_code == 0);
  CHECK(sb::test::read_file(out) == first);

  // A failed load leaves no empty output behind.
  const std::string out2 = dir + "/out2.jsonl";
  auto failed = run_cli({"run", "-m", dir + "/nope.gguf", "-o", out2}, input);
  CHECK(failed.exit_code == 1);
  CHECK_FALSE(std::filesystem::exists(out2));
}
