// The CPU implementation of sb::Backend: host memory; matrices are used in
// place in their stored dtype (F32, F16, BF16, Q8_0, Q4_0), vectors (norms,
// biases) are converted to F32 once at upload. Ops run synchronously on the
// backend's own thread pool with one instruction-set path's kernels
// (kernels/cpu/cpu_isa.h); every path gives the same bits.
#pragma once

#include <memory>
#include <optional>

#include "core/backend.h"
#include "core/base/status.h"
#include "kernels/cpu/cpu_isa.h"

namespace sb {

// The kernel path SPECBATCH_CPU names (avx512, avx2, portable), else the best
// this CPU runs; an unknown name or a path this CPU lacks is an error that
// names the paths it runs.
StatusOr<cpu::CpuIsa> cpu_isa_from_env();

// n_threads: worker threads including the caller; 0 = all cores. isa: the
// kernel path (must be supported); by default cpu_isa_from_env(), which must
// then succeed (the CLI checks it first and reports the error).
std::unique_ptr<Backend> make_cpu_backend(int n_threads = 0, std::optional<cpu::CpuIsa> isa = std::nullopt);

}  // namespace sb
