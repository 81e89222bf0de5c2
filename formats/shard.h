// Which records one shard of a run keeps: index % count == index_in. Parsed from
// "K/N" or "auto" (a Slurm array task: SLURM_ARRAY_TASK_ID and _COUNT, with _MIN and
// _STEP when the ids do not start at 0 or skip); errors say which variable is wrong.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace sb {

struct Shard {
  uint64_t index = 0;  // K, in [0, count)
  uint64_t count = 1;  // N >= 1
  bool keeps(uint64_t record_index) const { return record_index % count == index; }
  // How many of an input's first n_records this shard keeps.
  uint64_t records_of(uint64_t n_records) const { return n_records > index ? (n_records - index - 1) / count + 1 : 0; }
  std::string to_string() const { return std::to_string(index) + "/" + std::to_string(count); }
};

// The Slurm array variables, as read from the environment by the caller.
struct SlurmArrayEnv {
  std::optional<std::string> task_id;     // SLURM_ARRAY_TASK_ID
  std::optional<std::string> task_count;  // SLURM_ARRAY_TASK_COUNT
  std::optional<std::string> task_min;    // SLURM_ARRAY_TASK_MIN
  std::optional<std::string> task_max;    // SLURM_ARRAY_TASK_MAX
  std::optional<std::string> task_step;   // SLURM_ARRAY_TASK_STEP
};

// "K/N" (0 <= K < N) or "auto".
StatusOr<Shard> parse_shard(std::string_view spec, const SlurmArrayEnv& env);

}  // namespace sb
