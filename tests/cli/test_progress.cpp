// cli/progress.h end to end: the summary line and --stats-json carry the same
// numbers (acceptance, mean accepted length, no-draft share), checked against the
// records' own "spec" counts. (Record counts and --progress log lines of a run
// with error records: the --errors case of test_run_output.cpp.)
#include "cli/cli_test_util.h"

using sb::test::json_number;
using sb::test::kRepetitiveInput;
using sb::test::read_file;
using sb::test::run_cli;
using sb::test::stories_model;

TEST_CASE("spec stats: --stats-json and the summary give acceptance, mean accepted length, no-draft share") {
  const std::string dir = sb::test::scratch_dir("cli_spec_stats");
  const std::string stats = dir + "/stats.json";
  auto r = run_cli({"run", "-m", stories_model(), "--temperature", "0", "--max-seqs", "3", "--draft", "ngram",
                    "--spec-policy", "fixed", "--spec-max", "4", "--stats-json", stats},
                   kRepetitiveInput);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  // The records' own counts are the reference: record steps and draft tokens add up.
  simdjson::dom::parser parser;
  double steps = 0, drafted = 0, accepted = 0;
  for (const std::string& line : sb::test::split_lines(r.out)) {
    simdjson::dom::element doc;
    REQUIRE(parser.parse(line).get(doc) == simdjson::SUCCESS);
    int64_t s = 0, d = 0, a = 0;
    REQUIRE(doc["spec"]["steps"].get(s) == simdjson::SUCCESS);
    REQUIRE(doc["spec"]["drafted"].get(d) == simdjson::SUCCESS);
    REQUIRE(doc["spec"]["accepted"].get(a) == simdjson::SUCCESS);
    steps += static_cast<double>(s);
    drafted += static_cast<double>(d);
    accepted += static_cast<double>(a);
  }
  const std::string js = read_file(stats);
  CHECK(json_number(js, "record_steps") == steps);
  CHECK(json_number(js, "draft_tokens") == drafted);
  CHECK(json_number(js, "accepted_draft_tokens") == accepted);
  const double with_draft = json_number(js, "record_steps_with_draft");
  CHECK(with_draft > 0);
  CHECK(with_draft < steps);  // a record's last step has no room for a draft
  CHECK(json_number(js, "mean_accepted_length") == doctest::Approx(accepted / with_draft));
  CHECK(json_number(js, "no_draft_step_share") == doctest::Approx((steps - with_draft) / steps));
  CHECK(r.err.find("mean accepted length") != std::string::npos);
  CHECK(r.err.find("of record-steps verified no draft") != std::string::npos);
}
