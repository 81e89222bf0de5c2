// The instruction-set paths the CPU kernels come in, which of them this CPU
// runs (CPUID), and the SPECBATCH_CPU override. Every path computes the same
// bits (kernel_table.h); they differ only in speed, so the choice never
// changes an output.
#pragma once

#include <string>

namespace sb::cpu {

enum class CpuIsa {
  kPortable,  // plain C++ at the x86-64 baseline: the reference, slow
  kAvx2,      // AVX2 + FMA + F16C (x86-64-v3)
  kAvx512,    // AVX-512 F/BW/DQ/VL (x86-64-v4)
};

// "portable", "avx2", "avx512": the names SPECBATCH_CPU takes.
const char* cpu_isa_name(CpuIsa isa);
bool cpu_isa_supported(CpuIsa isa);
// The fastest path this CPU runs.
CpuIsa cpu_isa_best();
// Whether the path's int8 dot products can use VNNI on this CPU (avx512vnni
// for kAvx512, avxvnni for kAvx2): the same integers, fewer instructions.
bool cpu_isa_has_vnni(CpuIsa isa);

// The path `value` (SPECBATCH_CPU's value) names; null or empty: cpu_isa_best().
// False with *error set for an unknown name or a path this CPU lacks; the
// message names the paths it has.
bool cpu_isa_parse(const char* value, CpuIsa* isa, std::string* error);

// "avx512 (VNNI int8 dot products)": the path and its variant, for notes.
std::string cpu_isa_describe(CpuIsa isa);
// "avx512, avx2, portable": the paths this CPU runs, fastest first.
std::string cpu_isa_supported_list();

}  // namespace sb::cpu
