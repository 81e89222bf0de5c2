// The avx2 path's kernel table (AVX2 + FMA + F16C, int8 dot products by maddubs + madd);
// compiled with those instructions only (kernels/CMakeLists.txt).
#include "kernels/cpu/lanes_avx2.h"

namespace sb::cpu {

const KernelTable& kernels_avx2() {
  static const KernelTable table = tiles::make_table<Avx2<false>>(CpuIsa::kAvx2, false);
  return table;
}

}  // namespace sb::cpu
