// --spec-profile FILE (run and bench): the confidence policy's profiled step
// cost is loaded from FILE when it was measured for the same model, backend,
// threads, max_batch_tokens and KV block size, so short runs skip profiling;
// otherwise the engine profiles and FILE is (over)written, with a stderr note
// when an existing profile did not match. A malformed FILE is an error naming it.
#pragma once

#include <memory>
#include <string>

#include "cli/common.h"
#include "core/base/status.h"
#include "core/engine.h"
#include "formats/spec_profile.h"

namespace sb::cli {

// The model, backend and thread part of the key (n_threads 0 = all cores).
StatusOr<SpecProfileKey> spec_profile_key(const LoadedModel& loaded, int n_threads);

// Engine::create, with `profile_path` ("" = none) consulted and written as above
// when options uses the confidence policy with a drafter and gives no step_cost.
StatusOr<std::unique_ptr<Engine>> create_engine(const LoadedModel& loaded, EngineOptions options,
                                                const std::string& profile_path, SpecProfileKey key);

}  // namespace sb::cli
