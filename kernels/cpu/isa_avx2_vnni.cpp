// The avx2 path's kernel table for CPUs with VNNI: the same kernels, int8 dot
// products by vpdpbusd (the same integers as maddubs + madd); compiled with
// VNNI enabled as well (kernels/CMakeLists.txt).
#include "kernels/cpu/lanes_avx2.h"

namespace sb::cpu {

const KernelTable& kernels_avx2_vnni() {
  static const KernelTable table = tiles::make_table<Avx2<true>>(CpuIsa::kAvx2, true);
  return table;
}

}  // namespace sb::cpu
