// specbatch entry point: builds the command line (CLI11), dispatches to one
// subcommand and maps every outcome to an exit status (see cli/common.h).
#include <unistd.h>

#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/common.h"

namespace {

// CLI11's parse errors in the program's voice: "specbatch: error: <what>", then
// where to read more (the subcommand's own --help when one was given).
std::string parse_failure(const CLI::App* app, const CLI::Error& e) {
  std::string help = "specbatch";
  for (const CLI::App* sub : app->get_subcommands()) help += " " + sub->get_name();
  return "specbatch: error: " + std::string(e.what()) + "\nRun '" + help + " --help' for more information.\n";
}

// The first argument when it is neither a flag nor a subcommand: named in the
// error, with the subcommands there are (CLI11 would only say one is required).
std::optional<std::string> unknown_subcommand(const CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return std::nullopt;
  std::string names;
  for (const CLI::App* sub : app.get_subcommands(std::function<bool(const CLI::App*)>())) {
    if (sub->get_name() == argv[1]) return std::nullopt;
    names += (names.empty() ? "" : ", ") + sub->get_name();
  }
  return "unknown subcommand '" + std::string(argv[1]) + "'; the subcommands are " + names +
         " (specbatch --help)";
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sb::cli;
  CLI::App app{
      "specbatch: offline LLM batch inference. Streams JSONL prompt files through a model and "
      "writes one JSON line per record.\nSee `man specbatch` (man/specbatch.1) for every flag, "
      "input field, output field and exit status."};
  app.name("specbatch");
  app.set_version_flag("--version", version_string());
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 all records ok, 1 fatal error, 2 usage error, 3 some records failed.\n"
      "Run `specbatch SUBCOMMAND --help` for a subcommand's flags.");

  RunOptions run_opts;
  TokenizeOptions tokenize_opts;
  InspectOptions inspect_opts;
  BenchOptions bench_opts;
  MergeOptions merge_opts;
  CLI::App* run = add_run_command(app, run_opts);
  CLI::App* bench = add_bench_command(app, bench_opts);
  CLI::App* merge = add_merge_command(app, merge_opts);
  CLI::App* tokenize = add_tokenize_command(app, tokenize_opts);
  CLI::App* inspect = add_inspect_command(app, inspect_opts);

  app.failure_message(parse_failure);

  if (argc <= 1) {
    std::cerr << app.help();
    return kExitUsage;
  }
  if (const std::optional<std::string> unknown = unknown_subcommand(app, argc, argv)) {
    print_error(*unknown);
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help / version / the error
    return code == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (run->parsed()) return run_command(run_opts);
    if (bench->parsed()) return bench_command(bench_opts);
    if (merge->parsed()) return merge_command(merge_opts);
    if (tokenize->parsed()) return tokenize_command(tokenize_opts);
    if (inspect->parsed()) return inspect_command(inspect_opts);
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what());
    return kExitFatal;
  }
  std::cerr << app.help();
  return kExitUsage;
}
