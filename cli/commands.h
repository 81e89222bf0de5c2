// The subcommands: each registers its flags on the CLI11 app (add_*) and runs
// once parsing succeeded (*_command), returning the process exit status.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/spec/draft_spec.h"

namespace sb::cli {

struct RunOptions {
  std::string model;
  std::vector<std::string> inputs;  // empty or "-" = stdin
  std::string output;               // empty or "-" = stdout
  bool overwrite = false;
  // Resume, durability, sharding, output shape (man/specbatch.1, RESUME and SIGNALS).
  bool resume = false;
  uint64_t flush_records = 1000;            // a flush point (zstd: frame close) every N records
  double flush_seconds = 10;                // ... or when the oldest unflushed record is this old
  std::string sync = "frame";               // none | frame | record
  std::string shard;                        // "K/N" or "auto"; empty = every record
  std::string output_format = "specbatch";  // specbatch | openai
  double grace_seconds = 30;                // after SIGINT/SIGTERM, for records in flight
  // Defaults for records that do not set their own.
  int max_tokens = 256;
  int n = 1;  // samples per record; sample k uses seed + k
  double temperature = 1.0;
  double top_p = 1.0;
  int top_k = 0;
  double min_p = 0.0;
  uint64_t seed = 0;
  // No flag: 1 (off), or the model's default under --generation-config auto.
  double repetition_penalty = 1.0;
  // The model's sampling defaults (formats/generation_defaults.h): auto applies
  // them to the defaults above that no flag set; ignore leaves them out.
  std::string generation_config = "auto";
  struct {
    bool max_tokens = false, temperature = false, top_p = false, top_k = false, min_p = false;
  } given;  // which of those defaults the command line set
  std::vector<std::string> stop;
  bool ignore_eos = false;
  int logprobs = -1;              // -1 = none; K: each token's logprob and K alternatives
  bool return_token_ids = false;  // prompt_token_ids and token_ids in the output
  // Refused record fields (formats/request_fields.h) ignored with a warning instead of an error record.
  bool ignore_unsupported = false;
  // Chat records ("messages"): template file overriding the model's, extra template variables (JSON object).
  std::string chat_template;
  std::string chat_template_kwargs;
  // Engine.
  int threads = 0;  // 0 = all cores; split between CPU replicas
  int replicas = 1;  // CPU engine replicas (GPUs: one per --device index)
  std::string device = "cpu";  // cpu | cuda | cuda:N[,M...] | cuda:all
  std::string dtype = "auto";   // auto | f32 | bf16
  int ctx = 0;      // 0 = the model's trained context
  bool ctx_override = false;  // allow --ctx above the model's trained context
  int max_batch_tokens = 512;
  int max_seqs = 64;
  int kv_cache_mb = 0;  // 0 = sized for max_seqs full contexts, capped by memory
  bool no_prefix_cache = false;  // compute every prompt token, sharing no KV blocks
  // Speculative decoding (man/specbatch.1, SPECULATIVE DECODING).
  DraftSpec draft;                    // --draft, parsed (core/spec/draft_spec.h); kNone = none
  SpecPolicy spec_policy = SpecPolicy::kConfidence;
  int spec_max = 8;                   // draft tokens per record and step
  std::string spec_profile;           // step cost profile file (cli/engine_setup.h); "" = the cache
  bool no_profile_cache = false;      // no per-user step cost profile cache
  // Output order, reporting.
  std::string order = "input";  // input | completion
  int reorder_window = 0;       // records held for ordering; 0 = max(1024, 4 * max_seqs * replicas)
  std::string errors;           // error records to this file instead of the output
  std::string progress = "auto";  // auto | log | none
  double progress_interval = 10;
  std::string stats_json;
  bool quiet = false;
};
CLI::App* add_run_command(CLI::App& app, RunOptions& opts);
int run_command(const RunOptions& opts);

struct BenchOptions {
  std::string model;
  std::string random_model;  // "110m" or "260k": write a random model of that shape to `model` first
  std::vector<int> batch = {1, 8, 32, 64};
  int prompt_len = 128;
  int gen_len = 128;
  int max_batch_tokens = 512;
  int threads = 0;
  std::string device = "cpu";  // cpu | cuda | cuda:N[,M...] | cuda:all
  std::string dtype = "auto";   // auto | f32 | bf16
  bool json = false;
  std::string widen_model;            // "DIM,LAYERS,FFN[,HEAD_DIM]": measure the widened model instead (core/modelgen/widen_model.h)
  std::string widen_dtype = "f32";    // its matrices: f32 | f16 | bf16 | q8_0 | q4_0
  DraftSpec draft;                    // --draft, parsed (core/spec/draft_spec.h); kNone = none
  std::vector<SpecPolicy> spec_policies;  // empty = all three with --draft
  int spec_max = 8;
  std::string spec_profile;           // step cost profile file (cli/engine_setup.h); "" = the cache
  bool no_profile_cache = false;      // no per-user step cost profile cache
  int repeat = 1;                     // runs per measurement; the fastest counts
};
CLI::App* add_bench_command(CLI::App& app, BenchOptions& opts);
int bench_command(const BenchOptions& opts);

struct MergeOptions {
  std::vector<std::string> inputs;  // shard outputs, plain or .zst, any order
  std::string output;               // empty or "-" = stdout; .zst = zstd frames
  uint64_t expect = 0;              // total records; 0 = from the inputs' manifests
  bool overwrite = false;
};
CLI::App* add_merge_command(CLI::App& app, MergeOptions& opts);
int merge_command(const MergeOptions& opts);

struct TokenizeOptions {
  std::string model;
  bool no_bos = false;
  bool has_text = false;
  std::string text;
  // --messages: JSONL records on stdin -> the prompt `run` would give the model, one JSON line each.
  bool messages = false;
  std::string chat_template;         // as run's --chat-template
  std::string chat_template_kwargs;  // as run's --chat-template-kwargs
};
CLI::App* add_tokenize_command(CLI::App& app, TokenizeOptions& opts);
int tokenize_command(const TokenizeOptions& opts);

struct InspectOptions {
  std::string model;
};
CLI::App* add_inspect_command(CLI::App& app, InspectOptions& opts);
int inspect_command(const InspectOptions& opts);

}  // namespace sb::cli
