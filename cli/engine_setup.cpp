#include "cli/engine_setup.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <system_error>
#include <thread>

#include "core/backend.h"
#include "formats/fingerprint.h"
#include "formats/small_file.h"

namespace sb::cli {

StatusOr<SpecProfileKey> spec_profile_key(const LoadedModel& loaded, const Backend& backend, int n_threads) {
  const ModelConfig& c = loaded.model.config;
  SB_ASSIGN_OR_RETURN(const FileFingerprint fp, fingerprint_path(loaded.model.path));
  SpecProfileKey key;
  key.model_size = fp.size;
  key.model_hash = fp.hex();
  key.model_shape = c.arch_name + " dim " + std::to_string(c.dim) + ", layers " + std::to_string(c.n_layer) +
                    ", heads " + std::to_string(c.n_head) + "/" + std::to_string(c.n_kv_head) + " of " +
                    std::to_string(c.head_dim) + ", ffn " + std::to_string(c.ffn_dim) + ", vocab " +
                    std::to_string(c.n_vocab);
  key.backend = backend.name();
  key.threads = n_threads > 0 ? n_threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return key;
}

namespace {

// The --draft value, with the fingerprint of the file or directory it names
// (a separate draft model or a dspark: checkpoint).
StatusOr<std::string> draft_key(const DraftSpec& draft) {
  if (draft.path.empty()) return draft.text;
  SB_ASSIGN_OR_RETURN(const FileFingerprint fp, fingerprint_path(draft.path));
  return draft.text + " (" + fp.hex() + ")";
}

// The cache file of `key`, named by a hash of it (the file holds the key too,
// checked when loaded).
std::string cache_path(const std::string& dir, const SpecProfileKey& key) {
  SpecProfile keyed;
  keyed.key = key;
  char name[48];
  std::snprintf(name, sizeof(name), "step-cost-%016llx.json",
                static_cast<unsigned long long>(fnv1a64(spec_profile_to_json(keyed))));
  return dir + "/" + name;
}

// The profile in `path` when there is one for `key`; nullopt when there is none
// or it was profiled for other settings (then with a note).
StatusOr<std::optional<SpecProfile>> load_profile(const std::string& path, const SpecProfileKey& key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::optional<SpecProfile>();
  SB_ASSIGN_OR_RETURN(const std::string bytes, read_small_file(path));
  SB_ASSIGN_OR_RETURN(SpecProfile file, parse_spec_profile(bytes, path));
  const std::vector<std::string> diff = spec_profile_key_differences(file.key, key);
  if (diff.empty()) return std::optional<SpecProfile>(std::move(file));
  std::string why;
  for (const std::string& d : diff) why += (why.empty() ? "" : ", ") + d;
  print_note(path + ": profiled for other settings (" + why + "); profiling again and overwriting it");
  return std::optional<SpecProfile>();
}

// Writes `profile` into the cache directory of `path`, made when missing.
Status write_cached(const std::string& path, const SpecProfile& profile) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec) return io_error("cannot make " + std::filesystem::path(path).parent_path().string() + ": " + ec.message());
  return write_file_atomically(path, spec_profile_to_json(profile));
}

}  // namespace

std::string profile_cache_dir() {
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  if (xdg != nullptr && xdg[0] == '/') return std::string(xdg) + "/specbatch";
  const char* home = std::getenv("HOME");
  if (home != nullptr && home[0] != '\0') return std::string(home) + "/.cache/specbatch";
  return "";
}

StatusOr<std::unique_ptr<Engine>> create_engine(const LoadedModel& loaded, Backend& backend, EngineOptions options,
                                                const ProfileStore& store, SpecProfileKey key) {
  bool profiles = store.used() && !options.draft.none() && options.spec_policy == SpecPolicy::kConfidence &&
                  options.step_cost.empty();
  key.max_batch_tokens = options.max_batch_tokens;
  key.kv_block_size = options.kv_block_size;
  if (profiles) {
    // A draft that cannot be read: no store, Engine::create says what is wrong.
    StatusOr<std::string> draft = draft_key(options.draft);
    profiles = draft.ok();
    if (profiles) key.draft = std::move(*draft);
  }
  std::string path = store.path;
  const bool cached = profiles && path.empty();
  if (cached) {
    const std::string dir = profile_cache_dir();
    if (dir.empty()) print_note("neither $XDG_CACHE_HOME nor $HOME is set: the step cost profile is not cached");
    if (!dir.empty()) path = cache_path(dir, key);
  }
  const bool use_file = profiles && !path.empty();
  if (use_file) {
    StatusOr<std::optional<SpecProfile>> file = load_profile(path, key);
    if (!file.ok() && cached) print_note("ignoring the cached " + file.status().message() + "; profiling again");
    if (!file.ok() && !cached) return file.status();
    if (file.ok() && file->has_value()) {
      options.step_cost = std::move((*file)->step_seconds);
      options.draft_pass_cost = std::move((*file)->draft_pass_seconds);
      print_note("step cost profile loaded from " + path);
    }
  }
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                      Engine::create(loaded.model, *loaded.tokenizer, backend, options, loaded.draft()));
  if (use_file && options.step_cost.empty() && engine->step_cost() != nullptr) {
    SpecProfile p;
    p.key = std::move(key);
    const auto step = engine->step_cost()->points();
    p.step_seconds.assign(step.begin(), step.end());
    if (const StepCost* pass = engine->draft_pass_cost()) p.draft_pass_seconds.assign(pass->points().begin(), pass->points().end());
    if (!cached) {
      SB_RETURN_IF_ERROR(write_file_atomically(path, spec_profile_to_json(p)));
    } else if (const Status written = write_cached(path, p); !written.ok()) {
      print_note("the step cost profile is not cached: " + written.message());
    } else {
      print_note("step cost profiled and cached in " + path);
    }
  }
  return engine;
}

}  // namespace sb::cli
