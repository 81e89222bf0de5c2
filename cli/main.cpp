// specbatch entry point: builds the command line (CLI11), dispatches to one
// subcommand and maps every outcome to an exit status (see cli/common.h).
#include <unistd.h>

#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "cli/common.h"

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

  if (argc <= 1) {
    std::cerr << app.help();
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
