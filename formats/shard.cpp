#include "formats/shard.h"

#include <charconv>

namespace sb {
namespace {

std::optional<uint64_t> parse_u64(std::string_view s) {
  uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

StatusOr<uint64_t> env_number(const std::optional<std::string>& value, const char* name) {
  if (!value) return invalid_argument(std::string("--shard auto: ") + name + " is not set");
  const std::optional<uint64_t> v = parse_u64(*value);
  if (!v) return invalid_argument(std::string("--shard auto: ") + name + "='" + *value + "' is not a number");
  return *v;
}

StatusOr<Shard> shard_from_slurm(const SlurmArrayEnv& env) {
  if (!env.task_id)
    return invalid_argument(
        "--shard auto: SLURM_ARRAY_TASK_ID is not set; submit the job with sbatch --array=0-N (or give --shard K/N)");
  SB_ASSIGN_OR_RETURN(const uint64_t id, env_number(env.task_id, "SLURM_ARRAY_TASK_ID"));
  uint64_t min = 0, step = 1;
  if (env.task_min) {
    SB_ASSIGN_OR_RETURN(min, env_number(env.task_min, "SLURM_ARRAY_TASK_MIN"));
  }
  if (env.task_step) {
    SB_ASSIGN_OR_RETURN(step, env_number(env.task_step, "SLURM_ARRAY_TASK_STEP"));
  }
  if (step == 0) return invalid_argument("--shard auto: SLURM_ARRAY_TASK_STEP is 0");
  uint64_t count = 0;
  if (env.task_count) {
    SB_ASSIGN_OR_RETURN(count, env_number(env.task_count, "SLURM_ARRAY_TASK_COUNT"));
  } else if (env.task_max) {
    SB_ASSIGN_OR_RETURN(const uint64_t max, env_number(env.task_max, "SLURM_ARRAY_TASK_MAX"));
    if (max < min) return invalid_argument("--shard auto: SLURM_ARRAY_TASK_MAX is below SLURM_ARRAY_TASK_MIN");
    count = (max - min) / step + 1;
  } else {
    return invalid_argument("--shard auto: neither SLURM_ARRAY_TASK_COUNT nor SLURM_ARRAY_TASK_MAX is set");
  }
  if (count == 0) return invalid_argument("--shard auto: SLURM_ARRAY_TASK_COUNT is 0");
  if (id < min || (id - min) % step != 0 || (id - min) / step >= count)
    return invalid_argument("--shard auto: task id " + std::to_string(id) + " is not one of " +
                            std::to_string(count) + " tasks starting at " + std::to_string(min) + " with step " +
                            std::to_string(step) + "; use a plain range (--array=0-" + std::to_string(count - 1) +
                            ") or give --shard K/N");
  return Shard{(id - min) / step, count};
}

}  // namespace

StatusOr<Shard> parse_shard(std::string_view spec, const SlurmArrayEnv& env) {
  if (spec == "auto") return shard_from_slurm(env);
  const size_t slash = spec.find('/');
  const std::optional<uint64_t> k = slash == std::string_view::npos ? std::nullopt : parse_u64(spec.substr(0, slash));
  const std::optional<uint64_t> n = slash == std::string_view::npos ? std::nullopt : parse_u64(spec.substr(slash + 1));
  if (!k || !n) return invalid_argument("--shard must be K/N (e.g. 0/4) or auto, got '" + std::string(spec) + "'");
  if (*n == 0 || *k >= *n)
    return invalid_argument("--shard " + std::string(spec) + ": need 0 <= K < N (shards are numbered from 0)");
  return Shard{*k, *n};
}

}  // namespace sb
