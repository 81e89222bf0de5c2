// The avx512 path's kernel table for CPUs with VNNI: the same kernels, int8 dot
// products by vpdpbusd (the same integers as maddubs + madd); compiled with
// VNNI enabled as well (kernels/CMakeLists.txt).
#include "kernels/cpu/lanes_avx512.h"

namespace sb::cpu {

const KernelTable& kernels_avx512_vnni() {
  static const KernelTable table = tiles::make_table<Avx512<true>>(CpuIsa::kAvx512, true);
  return table;
}

}  // namespace sb::cpu
