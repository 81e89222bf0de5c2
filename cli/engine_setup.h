// Where the confidence policy's profiled step cost is kept (run and bench), so
// that a run with the same key skips profiling: the key is the model (size,
// hash, shape), backend, threads, max_batch_tokens, KV block size and --draft.
// --spec-profile FILE pins one file: loaded when its key matches, otherwise the
// engine profiles and FILE is (over)written, with a stderr note when an existing
// profile did not match; a malformed or unwritable FILE is an error naming it.
// Without it, a per-user cache: $XDG_CACHE_HOME/specbatch/ (else
// $HOME/.cache/specbatch/), one file per key, where an unreadable, malformed or
// stale file is profiled again and rewritten and an unwritable directory is a
// note, never a failure. --no-profile-cache turns the cache off.
#pragma once

#include <memory>
#include <string>

#include "cli/common.h"
#include "core/base/status.h"
#include "core/engine.h"
#include "formats/spec_profile.h"

namespace sb::cli {

// The model, backend and thread part of the key (n_threads 0 = all cores).
StatusOr<SpecProfileKey> spec_profile_key(const LoadedModel& loaded, const Backend& backend, int n_threads);

struct ProfileStore {
  std::string path;    // --spec-profile FILE; "" = the cache when `cache`
  bool cache = true;   // false: --no-profile-cache
  // Whether a key is needed (a store is named or the cache is on).
  bool used() const { return cache || !path.empty(); }
};

// The cache directory; "" when neither $XDG_CACHE_HOME (absolute) nor $HOME is set.
std::string profile_cache_dir();

// Engine::create on one of loaded.backends, with the store consulted and written
// as above when options uses the confidence policy with a drafter and gives no step_cost.
StatusOr<std::unique_ptr<Engine>> create_engine(const LoadedModel& loaded, Backend& backend, EngineOptions options,
                                                const ProfileStore& store, SpecProfileKey key);

}  // namespace sb::cli
