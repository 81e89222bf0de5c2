#include "kernels/cpu/cpu_isa.h"

#include <cstring>

namespace sb::cpu {

namespace {

// What each path's translation unit is compiled for (kernels/CMakeLists.txt);
// __builtin_cpu_supports also checks that the OS saves the wide registers.
#if defined(__x86_64__)
#define SB_CPU_HAS(feature) (__builtin_cpu_init(), __builtin_cpu_supports(feature) != 0)
#else
#define SB_CPU_HAS(feature) false
#endif

bool has_avx2() { return SB_CPU_HAS("avx2") && SB_CPU_HAS("fma") && SB_CPU_HAS("f16c"); }

bool has_avx512() {
  return has_avx2() && SB_CPU_HAS("avx512f") && SB_CPU_HAS("avx512bw") && SB_CPU_HAS("avx512dq") &&
         SB_CPU_HAS("avx512vl");
}

constexpr CpuIsa kAll[] = {CpuIsa::kAvx512, CpuIsa::kAvx2, CpuIsa::kPortable};

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::kPortable: return "portable";
    case CpuIsa::kAvx2: return "avx2";
    case CpuIsa::kAvx512: return "avx512";
  }
  return "?";
}

bool cpu_isa_supported(CpuIsa isa) {
#if defined(SPECBATCH_X86_KERNELS)
  switch (isa) {
    case CpuIsa::kPortable: return true;
    case CpuIsa::kAvx2: return has_avx2();
    case CpuIsa::kAvx512: return has_avx512();
  }
  return false;
#else
  return isa == CpuIsa::kPortable;
#endif
}

CpuIsa cpu_isa_best() {
  for (CpuIsa isa : kAll)
    if (cpu_isa_supported(isa)) return isa;
  return CpuIsa::kPortable;
}

bool cpu_isa_has_vnni(CpuIsa isa) {
  if (!cpu_isa_supported(isa)) return false;
  if (isa == CpuIsa::kAvx512) return SB_CPU_HAS("avx512vnni");
  if (isa == CpuIsa::kAvx2) return SB_CPU_HAS("avxvnni");
  return false;
}

bool cpu_isa_parse(const char* value, CpuIsa* isa, std::string* error) {
  if (value == nullptr || *value == '\0') {
    *isa = cpu_isa_best();
    return true;
  }
  const std::string have = cpu_isa_supported_list();
  for (CpuIsa c : kAll) {
    if (std::strcmp(value, cpu_isa_name(c)) != 0) continue;
    if (!cpu_isa_supported(c)) {
      *error = std::string("SPECBATCH_CPU=") + value + ": this CPU (or this build) cannot run the " + value +
               " kernels; it runs: " + have;
      return false;
    }
    *isa = c;
    return true;
  }
  *error = std::string("SPECBATCH_CPU=") + value + ": unknown kernel path; expected avx512, avx2 or portable (this CPU runs: " +
           have + ")";
  return false;
}

std::string cpu_isa_supported_list() {
  std::string have;
  for (CpuIsa c : kAll)
    if (cpu_isa_supported(c)) have += std::string(have.empty() ? "" : ", ") + cpu_isa_name(c);
  return have;
}

std::string cpu_isa_describe(CpuIsa isa) {
  std::string s = cpu_isa_name(isa);
  if (cpu_isa_has_vnni(isa)) s += " (VNNI int8 dot products)";
  return s;
}

}  // namespace sb::cpu
