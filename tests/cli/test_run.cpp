// cli/run.cpp end to end: what run's flags do. Set-up (usage errors before any
// file is opened, --draft errors named, the output directory before the model),
// the published stories260K greedy text, output lines and determinism, inputs
// (zstd, several files, stdin), drafters that keep greedy text (ngram, self:q8_0,
// a draft PATH, dspark:DIR), the prefix cache flag, bad --logprobs and --n values.
#include <zstd.h>

#include <cstdlib>
#include <filesystem>

#include "cli/cli_test_util.h"
#include "core/model/dspark_model.h"
#include "core/model/model.h"
#include "core/modelgen/random_dspark.h"
#include "core/modelgen/random_model.h"
#include "core/modelgen/widen_model.h"
#include "kernels/cpu/cpu_isa.h"

using sb::test::kGreedy;
using sb::test::kStoryPreamble;
using sb::test::parse_output;
using sb::test::run_cli;
using sb::test::split_lines;
using sb::test::stories_model;
using sb::test::with;

namespace {

std::string rtrim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("run: the command line alone decides exit 2, before any file is opened; what it names exits 1") {
  const std::string none = "/nonexistent/model.gguf";
  auto resume = run_cli({"run", "-m", none, "--resume"});
  CHECK(resume.exit_code == 2);
  CHECK(resume.err.find("--resume needs a regular output file (-o FILE)") != std::string::npos);
  const std::string dir = sb::test::scratch_dir("cli_usage_order");
  auto both = run_cli({"run", "-m", none, "-o", dir + "/out.jsonl", "--resume", "--overwrite"});
  CHECK(both.exit_code == 2);
  CHECK(both.err.find("contradict") != std::string::npos);
  CHECK(run_cli({"run", "-m", none, "--shard", "5/3"}).exit_code == 2);
  CHECK(run_cli({"run", "-m", none, "--chat-template-kwargs", "[1]"}).exit_code == 2);
  auto model = run_cli({"run", "-m", none}, "");
  CHECK(model.exit_code == 1);
  CHECK(model.err.find(none) != std::string::npos);
}

TEST_CASE("run: a bad --draft path says it is the draft; the output directory is checked before loading") {
  const std::string m = stories_model();
  auto draft = run_cli({"run", "-m", m, "--draft", "/nonexistent/draft.gguf"}, "");
  CHECK(draft.exit_code == 1);
  CHECK(draft.err.starts_with("specbatch: error: --draft: /nonexistent/draft.gguf"));
  auto dspark = run_cli({"run", "-m", m, "--draft", "dspark:/nonexistent/dspark"}, "");
  CHECK(dspark.exit_code == 1);
  CHECK(dspark.err.starts_with("specbatch: error: --draft: /nonexistent/dspark"));
  // The draft would fail to load: an error about the directory shows it was checked first.
  for (const char* flag : {"-o", "--errors", "--stats-json"}) {
    auto out = run_cli({"run", "-m", m, "--draft", "/nonexistent/draft.gguf", flag, "/nonexistent/dir/x.jsonl"}, "");
    CAPTURE(out.err);
    CHECK(out.exit_code == 1);
    CHECK(out.err.starts_with(std::string("specbatch: error: ") + flag +
                              " /nonexistent/dir/x.jsonl: its directory /nonexistent/dir cannot be used"));
  }
  CHECK(run_cli({"run", "-m", m, "-o", "/dev/null", "--stats-json", "/dev/null", "-q"}, "").exit_code == 0);
}

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

TEST_CASE("spec run: --draft ngram keeps greedy text and adds the spec field") {
  const std::string dir = sb::test::scratch_dir("cli_spec");
  std::string input;
  const char* prompts[] = {"Tom had a big dog. The dog was happy. Tom had a big", "Once upon a time",
                           "The cat sat. The cat ran. The cat"};
  for (int i = 0; i < 9; ++i)
    input += std::string("{\"prompt\":\"") + prompts[i % 3] + "\",\"max_tokens\":" + std::to_string(10 + 7 * i) +
             (i == 4 ? ",\"stop\":[\".\"]" : "") + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "4"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  std::vector<std::string> with = base;
  // fixed, not the default confidence policy: confidence picks drafts from measured step
  // costs, so how many it verifies (and the acceptance rate) varies run to run.
  for (const char* a : {"--draft", "ngram", "--spec-policy", "fixed", "--spec-max", "5", "--stats-json"})
    with.push_back(a);
  with.push_back(dir + "/stats.json");
  auto spec = run_cli(with, input);
  REQUIRE(spec.exit_code == 0);
  const auto a = split_lines(plain.out), b = split_lines(spec.out);
  REQUIRE(a.size() == 9);
  REQUIRE(b.size() == 9);
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t cut = b[i].find(",\"spec\":{\"drafted\":");
    REQUIRE_MESSAGE(cut != std::string::npos, b[i]);
    CHECK(b[i].substr(0, cut) + b[i].substr(b[i].find('}', cut) + 1) == a[i]);
  }
  const std::string stats = sb::test::read_file(dir + "/stats.json");
  const size_t at = stats.find("\"draft_acceptance_rate\":");
  REQUIRE(at != std::string::npos);
  const double rate = std::strtod(stats.c_str() + at + 24, nullptr);
  CHECK(rate > 0.0);  // these prompts repeat themselves: ngram drafts get accepted
  CHECK(rate <= 1.0);
  CHECK(stats.find("\"mean_accepted_length\":") != std::string::npos);
  CHECK(spec.err.find("draft tokens accepted") != std::string::npos);
  // off: no drafter, no field.
  with = base;
  for (const char* a2 : {"--draft", "ngram", "--spec-policy", "off"}) with.push_back(a2);
  CHECK(run_cli(with, input).out == plain.out);
  CHECK(run_cli({"run", "-m", stories_model(), "--draft", "ngram:0"}, input).exit_code != 0);
  CHECK(run_cli({"run", "-m", stories_model(), "--spec-policy", "sometimes"}, input).exit_code == 2);
  CHECK(run_cli({"run", "-m", stories_model(), "--spec-max", "0"}, input).exit_code == 2);
}

TEST_CASE("spec run: --draft self:q8_0 and a draft model PATH keep greedy text; bad drafts are clear errors") {
  const std::string dir = sb::test::scratch_dir("cli_spec_model");
  std::string input;
  for (int i = 0; i < 5; ++i)
    input += "{\"prompt\":\"Once upon a time\",\"max_tokens\":" + std::to_string(6 + 5 * i) + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "3"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  // The model itself as a draft file: a PATH drafter whose vocabulary matches.
  for (const std::string& draft : {std::string("self:q8_0"), std::string("self:q4_0"), stories_model()}) {
    INFO(draft);
    std::vector<std::string> with = base;
    for (const std::string& a : {std::string("--draft"), draft, std::string("--spec-policy"), std::string("fixed")})
      with.push_back(a);
    auto spec = run_cli(with, input);
    REQUIRE(spec.exit_code == 0);
    const auto a = split_lines(plain.out), b = split_lines(spec.out);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      const size_t cut = b[i].find(",\"spec\":{\"drafted\":");
      REQUIRE_MESSAGE(cut != std::string::npos, b[i]);
      CHECK(b[i].substr(0, cut) + "}" == a[i]);
    }
  }
  sb::RandomModelShape shape;  // stories260K's vocabulary size, other pieces
  REQUIRE(sb::write_random_model(dir + "/other.gguf", shape, 3).ok());
  auto mismatch = run_cli({"run", "-m", stories_model(), "--draft", dir + "/other.gguf"}, input);
  CHECK(mismatch.exit_code == 1);
  CHECK(mismatch.err.find("vocabulary differs from the target's at token id") != std::string::npos);
  // A malformed value is a usage error, for run and bench alike, found before the model loads.
  for (const char* cmd : {"run", "bench"}) {
    auto bad_kind = run_cli({cmd, "-m", dir + "/missing.gguf", "--draft", "self:q2_k"}, input);
    CHECK(bad_kind.exit_code == 2);
    CHECK(bad_kind.err.find("--draft self:q2_k: expected self:q8_0 or self:q4_0") != std::string::npos);
    auto bad_policy = run_cli({cmd, "-m", dir + "/missing.gguf", "--draft", "ngram", "--spec-policy", "always"});
    CHECK(bad_policy.exit_code == 2);
    CHECK(bad_policy.err.find("--spec-policy always") != std::string::npos);
  }
  auto bench = run_cli({"bench", "-m", stories_model(), "--batch", "2", "--prompt-len", "8", "--gen-len", "10",
                        "--draft", "self:q4_0", "--spec-policy", "fixed", "--json"});
  REQUIRE(bench.exit_code == 0);
  CHECK(bench.out.find("\"accepted_draft_tokens\":") != std::string::npos);
}

TEST_CASE("spec run: --draft dspark:DIR keeps greedy text, bench measures it, a bad checkpoint is an error") {
  const std::string dir = sb::test::scratch_dir("cli_spec_dspark");
  sb::RandomDSparkShape shape;  // random weights for stories260K's shape
  shape.n_vocab = 512;
  shape.dim = 64;
  shape.target_n_layer = 5;
  REQUIRE(sb::write_random_dspark(dir + "/dspark", shape, 5).ok());
  std::string input;
  for (int i = 0; i < 5; ++i)
    input += "{\"prompt\":\"Once upon a time\",\"max_tokens\":" + std::to_string(6 + 5 * i) + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "3"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  std::vector<std::string> with = base;
  for (const std::string& a : {std::string("--draft"), "dspark:" + dir + "/dspark", std::string("--spec-policy"),
                              std::string("fixed")})
    with.push_back(a);
  auto spec = run_cli(with, input);
  REQUIRE_MESSAGE(spec.exit_code == 0, spec.err);
  const auto a = split_lines(plain.out), b = split_lines(spec.out);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const size_t cut = b[i].find(",\"spec\":{\"drafted\":");
    REQUIRE_MESSAGE(cut != std::string::npos, b[i]);
    CHECK(b[i].find(",\"spec\":{\"drafted\":0,") == std::string::npos);  // records of 6+ tokens draft
    CHECK(b[i].substr(0, cut) + "}" == a[i]);
  }
  auto missing = run_cli({"run", "-m", stories_model(), "--draft", "dspark:" + dir + "/none"}, input);
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find(dir + "/none") != std::string::npos);
  auto bench = run_cli({"bench", "-m", stories_model(), "--batch", "2", "--prompt-len", "8", "--gen-len", "10",
                        "--draft", "dspark:" + dir + "/dspark", "--json"});
  REQUIRE_MESSAGE(bench.exit_code == 0, bench.err);
  CHECK(bench.out.find("\"accepted_draft_tokens\":") != std::string::npos);
  for (const char* cmd : {"run", "bench"}) CHECK(run_cli({cmd, "--help"}).out.find("dspark:DIR") != std::string::npos);
}

TEST_CASE("spec run: the trained stories260K DSpark drafter keeps greedy text at PyTorch's acceptance") {
  // ../shared/models/stories260k-dspark (DeepSpec's recipe and layout): its README
  // gives 3.52 tokens per greedy block step measured in PyTorch, the bonus token included.
  const std::string drafter = sb::test::shared_path("models/stories260k-dspark");
  if (!std::filesystem::exists(drafter + "/config.json")) {
    MESSAGE("skipped: no " << drafter);
    return;
  }
  const std::string input = "{\"prompt\":\"Once upon a time\",\"max_tokens\":200}\n"
                            "{\"prompt\":\"Tom and Lily went to the park\",\"max_tokens\":200}\n"
                            "{\"prompt\":\"The little cat\",\"max_tokens\":200}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--temperature", "0"};
  auto plain = run_cli(base, input);
  REQUIRE(plain.exit_code == 0);
  const std::string stats = sb::test::scratch_dir("cli_trained_dspark") + "/stats.json";
  auto spec = run_cli(with(base, {"--draft", "dspark:" + drafter, "--spec-policy", "fixed", "--spec-max", "7",
                                  "--stats-json", stats}),
                      input);
  REQUIRE_MESSAGE(spec.exit_code == 0, spec.err);
  const auto a = parse_output(plain.out), b = parse_output(spec.out);
  REQUIRE(a.size() == 3);
  REQUIRE(b.size() == 3);
  for (size_t i = 0; i < a.size(); ++i) CHECK(b[i].text == a[i].text);
  // Accepted draft tokens per step that verified any: 2.53 on these prompts (3.53
  // with the bonus token), against PyTorch's 3.52 on held-out stories.
  const double accepted = sb::test::json_number(sb::test::read_file(stats), "mean_accepted_length");
  CHECK(accepted > 2.2);
  CHECK(accepted < 3.0);
}

TEST_CASE("spec run: the trained DSpark drafter widened with its target drafts the same, accepts the same") {
  // The memory-bound benchmark pair (bench --widen-model with --draft dspark:DIR):
  // both widened function-equivalently, so text and acceptance match the small pair's.
  const std::string drafter = sb::test::shared_path("models/stories260k-dspark");
  if (!std::filesystem::exists(drafter + "/config.json")) {
    MESSAGE("skipped: no " << drafter);
    return;
  }
  const std::string dir = sb::test::scratch_dir("cli_widened_dspark");
  const sb::WidenShape shape{128, 7, 256, 16};  // dim x2: the drafter's head dim 16 -> 32
  REQUIRE(sb::write_widened_model(stories_model(), dir + "/wide.gguf", shape, 3).ok());
  auto target = sb::load_model(stories_model());
  REQUIRE(target.ok());
  auto dspark = sb::load_dspark(drafter, target->config);
  REQUIRE(dspark.ok());
  const sb::Status widened = sb::write_widened_dspark(*dspark, dir + "/wide-dspark", shape);
  REQUIRE_MESSAGE(widened.ok(), widened.to_string());
  const std::string input = "{\"prompt\":\"Once upon a time\",\"max_tokens\":120}\n"
                            "{\"prompt\":\"The little cat\",\"max_tokens\":120}\n";
  struct Pair {
    std::string model, draft;
  };
  std::vector<std::string> texts;
  std::vector<double> accepted;
  for (const Pair& p : {Pair{stories_model(), drafter}, Pair{dir + "/wide.gguf", dir + "/wide-dspark"}}) {
    const std::string stats = dir + "/stats.json";
    auto r = run_cli({"run", "-m", p.model, "--temperature", "0", "--draft", "dspark:" + p.draft, "--spec-policy",
                      "fixed", "--spec-max", "7", "--stats-json", stats},
                     input);
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    std::string text;
    for (const auto& o : parse_output(r.out)) text += o.text + "\n";
    texts.push_back(text);
    accepted.push_back(sb::test::json_number(sb::test::read_file(stats), "accepted_draft_tokens"));
  }
  CHECK(texts[1] == texts[0]);
  CHECK(accepted[1] == accepted[0]);
  CHECK(accepted[0] > 0);
  // A widening the drafter's norms cannot follow is refused by name.
  const sb::Status odd = sb::write_widened_dspark(*dspark, dir + "/odd", sb::WidenShape{96, 7, 256, 16});
  CHECK(odd.message().find("multiple of its 64") != std::string::npos);
}

TEST_CASE("spec flags: --help and the man page document them") {
  const std::string man = sb::test::read_file(std::string(SPECBATCH_SOURCE_DIR) + "/man/specbatch.1");
  const auto troff = [](std::string flag) {
    std::string out;
    for (char c : flag) out += c == '-' ? std::string("\\-") : std::string(1, c);
    return out;
  };
  for (const char* cmd : {"run", "bench"}) {
    auto h = run_cli({cmd, "--help"});
    REQUIRE(h.exit_code == 0);
    std::vector<std::string> flags = {"--draft", "--spec-policy", "--spec-max", "--spec-profile"};
    if (std::string(cmd) == "bench") flags.push_back("--widen-model");
    for (const std::string& flag : flags) {
      CAPTURE(cmd);
      CAPTURE(flag);
      CHECK(h.out.find(flag) != std::string::npos);
      CHECK(man.find(".BI " + troff(flag) + " ") != std::string::npos);
    }
  }
  for (const char* field : {"no_draft_step_share", "record_steps_with_draft", "ratio_to_off", "step_seconds"})
    CHECK_MESSAGE(man.find(field) != std::string::npos, field);
}

TEST_CASE("prefix run: --no-prefix-cache gives the same lines; the hit rate is reported") {
  const std::string dir = sb::test::scratch_dir("cli_prefix");
  std::string input;
  for (int i = 0; i < 6; ++i)
    input += "{\"prompt\":\"" + kStoryPreamble + (i % 2 ? " Lily" : " The sun") + "\",\"seed\":" + std::to_string(i) + "}\n";
  const std::vector<std::string> base = {"run", "-m", stories_model(), "--max-tokens", "20", "--max-seqs", "3"};
  auto args = base;
  for (const char* a : {"--n", "2", "--stats-json"}) args.push_back(a);
  args.push_back(dir + "/on.json");
  const auto on = run_cli(args, input);
  REQUIRE(on.exit_code == 0);
  args.back() = dir + "/off.json";
  args.push_back("--no-prefix-cache");
  const auto off = run_cli(args, input);
  REQUIRE(off.exit_code == 0);
  CHECK(on.out == off.out);
  auto rate = [](const std::string& path) {
    const std::string stats = sb::test::read_file(path);
    const size_t at = stats.find("\"prefix_cache_hit_rate\":");
    REQUIRE(at != std::string::npos);
    return std::strtod(stats.c_str() + at + 24, nullptr);
  };
  CHECK(rate(dir + "/on.json") > 0.5);  // 12 samples of 6 prompts sharing a 2-block preamble
  CHECK(rate(dir + "/off.json") == 0.0);
  CHECK(on.err.find("prefix cache hit rate") != std::string::npos);
}

TEST_CASE("prefix run: n out of range is an error record, --n out of range a usage error; --help lists the flags") {
  const auto bad = run_cli({"run", "-m", stories_model(), "--max-tokens", "2"},
                           "{\"prompt\":\"a\",\"n\":0}\n{\"prompt\":\"a\",\"n\":129}\n{\"prompt\":\"a\",\"n\":1.5}\n");
  CHECK(bad.exit_code == 3);
  const auto lines = sb::test::parse_output(bad.out);
  REQUIRE(lines.size() == 3);
  for (const auto& l : lines) CHECK(l.error_code == "invalid_param");
  CHECK(run_cli({"run", "-m", stories_model(), "--n", "0"}, "").exit_code == 2);
  const auto help = run_cli({"run", "--help"});
  CHECK(help.out.find("--n") != std::string::npos);
  CHECK(help.out.find("--no-prefix-cache") != std::string::npos);
}

TEST_CASE("cli logprobs: bad values are invalid_param records or usage errors; --help lists the flags") {
  const std::string input = "{\"prompt\":\"x\",\"logprobs\":21}\n{\"prompt\":\"x\",\"stop_token_ids\":[-1]}\n"
                            "{\"prompt\":\"x\",\"top_logprobs\":2}\n{\"prompt\":\"x\",\"max_tokens\":1}\n";
  auto r = run_cli(kGreedy, input);
  CHECK(r.exit_code == 3);
  const auto lines = sb::test::parse_output(r.out);
  REQUIRE(lines.size() == 4);
  for (size_t i = 0; i < 3; ++i) CHECK(lines[i].error_code == "invalid_param");
  CHECK(r.out.find("logprobs must be in [0, 20], got 21") != std::string::npos);
  CHECK(r.out.find("stop_token_ids must be a list of non-negative integers") != std::string::npos);
  CHECK_FALSE(lines[3].is_error);
  CHECK(run_cli(with(kGreedy, {"--logprobs", "21"}), input).exit_code == 2);
  CHECK(run_cli(with(kGreedy, {"--logprobs", "-1"}), input).exit_code == 2);
  auto h = run_cli({"run", "--help"});
  CHECK(h.out.find("--logprobs") != std::string::npos);
  CHECK(h.out.find("--return-token-ids") != std::string::npos);
}
