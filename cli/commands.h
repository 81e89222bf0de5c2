// The subcommands: each registers its flags on the CLI11 app (add_*) and runs
// once parsing succeeded (*_command), returning the process exit status.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace sb::cli {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;  // empty or "-" = stdin
  std::string output;               // empty or "-" = stdout
  bool overwrite = false;
  // Defaults for records that do not set their own.
  int max_tokens = 256;
  double temperature = 1.0;
  double top_p = 1.0;
  int top_k = 0;
  double min_p = 0.0;
  uint64_t seed = 0;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  // Engine.
  int threads = 0;  // 0 = all cores
  std::string device = "cpu";
  int ctx = 0;      // 0 = the model's trained context
  bool quiet = false;
};
CLI::App* add_run_command(CLI::App& app, RunOptions& opts);
int run_command(const RunOptions& opts);

struct TokenizeOptions {
  std::string model;
  bool no_bos = false;
  bool has_text = false;
  std::string text;
};
CLI::App* add_tokenize_command(CLI::App& app, TokenizeOptions& opts);
int tokenize_command(const TokenizeOptions& opts);

struct InspectOptions {
  std::string model;
};
CLI::App* add_inspect_command(CLI::App& app, InspectOptions& opts);
int inspect_command(const InspectOptions& opts);

}  // namespace sb::cli
