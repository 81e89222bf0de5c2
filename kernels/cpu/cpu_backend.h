// The CPU implementation of sb::Backend: host memory; F32 and Q8_0/Q4_0
// matrices are used in place (quantized ones by the quantized matmul and embed
// kernels), F16/BF16 weights and quantized vectors are converted to F32 once
// at upload. Ops run synchronously on the backend's own thread pool (ops.h).
#pragma once

#include <memory>

#include "core/backend.h"

namespace sb {

// n_threads: worker threads including the caller; 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(int n_threads = 0);

}  // namespace sb
