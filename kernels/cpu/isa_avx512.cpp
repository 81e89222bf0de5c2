// The avx512 path's kernel table (AVX-512 F/BW/DQ/VL, int8 dot products by maddubs + madd);
// compiled with those instructions only (kernels/CMakeLists.txt).
#include "kernels/cpu/lanes_avx512.h"

namespace sb::cpu {

const KernelTable& kernels_avx512() {
  static const KernelTable table = tiles::make_table<Avx512<false>>(CpuIsa::kAvx512, false);
  return table;
}

}  // namespace sb::cpu
