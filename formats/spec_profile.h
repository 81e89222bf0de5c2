// The --spec-profile file: a target's measured step cost (seconds of one
// forward step by its token count, DESIGN.md section 7) and its drafter's pass
// cost, together with what the timings depend on, so a later run with the same
// key skips profiling. JSON:
//   {"specbatch_spec_profile":2,"model_size":N,"model_hash":"..","model_shape":"..",
//    "backend":"cpu","threads":16,"max_batch_tokens":512,"kv_block_size":16,"draft":"self:q4_0",
//    "step_seconds":[[1,0.0012],[2,0.0013],...],"draft_pass_seconds":[[1,0.0002],...]}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace sb {

struct SpecProfileKey {
  uint64_t model_size = 0;
  std::string model_hash;   // formats/fingerprint.h hex
  std::string model_shape;  // hyper-parameters as text
  std::string backend;      // Backend::name()
  int threads = 0;          // resolved, never 0
  int max_batch_tokens = 0;
  int kv_block_size = 0;
  std::string draft;        // the --draft value; for a draft model file, with its fingerprint
};

struct SpecProfile {
  SpecProfileKey key;
  std::vector<std::pair<int, double>> step_seconds;  // tokens strictly increasing from >= 1, seconds > 0
  std::vector<std::pair<int, double>> draft_pass_seconds;  // the same; empty: drafting costs nothing
};

std::string spec_profile_to_json(const SpecProfile& profile);
// `what` names the file in errors, which also name the offending field.
StatusOr<SpecProfile> parse_spec_profile(std::string_view json, const std::string& what);
// The key fields that differ, as "threads (16 in the file, 8 now)"; empty when equal.
std::vector<std::string> spec_profile_key_differences(const SpecProfileKey& file, const SpecProfileKey& now);

}  // namespace sb
