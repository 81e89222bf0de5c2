// The CPU implementation of sb::Backend: host memory, F32 weights (F32 files
// are used in place; F16/BF16/Q8_0/Q4_0 are converted once at upload), ops run
// synchronously on the backend's own thread pool with the kernels of ops.h.
#pragma once

#include <memory>

#include "core/backend.h"

namespace sb {

// n_threads: worker threads including the caller; 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(int n_threads = 0);

}  // namespace sb
