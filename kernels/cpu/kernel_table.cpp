#include "kernels/cpu/kernel_table.h"

namespace sb::cpu {

const KernelTable& kernel_table(CpuIsa isa) {
#if defined(SPECBATCH_X86_KERNELS)
  if (isa == CpuIsa::kAvx512 && cpu_isa_supported(isa)) {
    return cpu_isa_has_vnni(isa) ? kernels_avx512_vnni() : kernels_avx512();
  }
  if (isa == CpuIsa::kAvx2 && cpu_isa_supported(isa)) {
    return cpu_isa_has_vnni(isa) ? kernels_avx2_vnni() : kernels_avx2();
  }
#endif
  return kernels_portable();
}

int supported_kernel_tables(const KernelTable** out, int max_out) {
  int n = 0;
  auto add = [&](const KernelTable& t) {
    if (n < max_out) out[n++] = &t;
  };
  add(kernels_portable());
#if defined(SPECBATCH_X86_KERNELS)
  if (cpu_isa_supported(CpuIsa::kAvx2)) add(kernels_avx2());
  if (cpu_isa_has_vnni(CpuIsa::kAvx2)) add(kernels_avx2_vnni());
  if (cpu_isa_supported(CpuIsa::kAvx512)) add(kernels_avx512());
  if (cpu_isa_has_vnni(CpuIsa::kAvx512)) add(kernels_avx512_vnni());
#endif
  return n;
}

}  // namespace sb::cpu
