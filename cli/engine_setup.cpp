#include "cli/engine_setup.h"

#include <sys/stat.h>

#include <algorithm>
#include <thread>

#include "core/backend.h"
#include "formats/fingerprint.h"
#include "formats/small_file.h"

namespace sb::cli {

StatusOr<SpecProfileKey> spec_profile_key(const LoadedModel& loaded, int n_threads) {
  const ModelConfig& c = loaded.model.config;
  SB_ASSIGN_OR_RETURN(const FileFingerprint fp, fingerprint_path(loaded.model.path));
  SpecProfileKey key;
  key.model_size = fp.size;
  key.model_hash = fp.hex();
  key.model_shape = c.arch_name + " dim " + std::to_string(c.dim) + ", layers " + std::to_string(c.n_layer) +
                    ", heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_kv_head) + " of " +
                    std::to_string(c.head_dim) + ", ffn " + std::to_string(c.ffn_dim) + ", vocab " +
                    std::to_string(c.n_vocab);
  key.backend = loaded.backend->name();
  key.threads = n_threads > 0 ? n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return key;
}

namespace {

// The --draft value, with the fingerprint of the file or directory it names
// (a separate draft model or a dspark: checkpoint).
StatusOr<std::string> draft_key(const std::string& draft) {
  if (draft.starts_with("self:") || draft.starts_with("ngram")) return draft;
  const std::string path = draft.starts_with("dspark:") ? draft.substr(7) : draft;
  SB_ASSIGN_OR_RETURN(const FileFingerprint fp, fingerprint_path(path));
  return draft + " (" + fp.hex() + ")";
}

}  // namespace

StatusOr<std::unique_ptr<Engine>> create_engine(const LoadedModel& loaded, EngineOptions options,
                                                const std::string& profile_path, SpecProfileKey key) {
  const bool use_file = !profile_path.empty() && !options.draft.empty() &&
                        options.spec_policy == SpecPolicy::kConfidence && options.step_cost.empty();
  key.max_batch_tokens = options.max_batch_tokens;
  key.kv_block_size = options.kv_block_size;
  if (use_file) {
    SB_ASSIGN_OR_RETURN(key.draft, draft_key(options.draft));
  }
  struct stat st {};
  if (use_file && ::stat(profile_path.c_str(), &st) == 0) {
    SB_ASSIGN_OR_RETURN(const std::string bytes, read_small_file(profile_path));
    SB_ASSIGN_OR_RETURN(SpecProfile file, parse_spec_profile(bytes, profile_path));
    const std::vector<std::string> diff = spec_profile_key_differences(file.key, key);
    if (diff.empty()) {
      options.step_cost = std::move(file.step_seconds);
      options.draft_pass_cost = std::move(file.draft_pass_seconds);
    } else {
      std::string why;
      for (const std::string& d : diff) why += (why.empty() ? "" : ", ") + d;
      print_note(profile_path + ": profiled for other settings (" + why + "); profiling again and overwriting it");
    }
  }
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                      Engine::create(loaded.model, *loaded.tokenizer, *loaded.backend, options, loaded.draft()));
  if (use_file && options.step_cost.empty() && engine->step_cost() != nullptr) {
    SpecProfile p;
    p.key = std::move(key);
    const auto step = engine->step_cost()->points();
    p.step_seconds.assign(step.begin(), step.end());
    if (const StepCost* pass = engine->draft_pass_cost()) p.draft_pass_seconds.assign(pass->points().begin(), pass->points().end());
    SB_RETURN_IF_ERROR(write_file_atomically(profile_path, spec_profile_to_json(p)));
  }
  return engine;
}

}  // namespace sb::cli
