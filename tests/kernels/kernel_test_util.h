// Helpers of the CPU kernel tests: random inputs, the kernel tables this CPU
// runs (every path and VNNI variant, the portable reference first) and the one
// SPECBATCH_CPU picks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/kernel_table.h"

namespace sb::test {

inline std::vector<float> random_vec(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Every table this CPU runs; [0] is the portable reference.
inline std::vector<const cpu::KernelTable*> all_kernel_tables() {
  const cpu::KernelTable* tables[8];
  const int n = cpu::supported_kernel_tables(tables, 8);
  return std::vector<const cpu::KernelTable*>(tables, tables + n);
}

inline std::string table_name(const cpu::KernelTable& t) {
  return std::string(cpu::cpu_isa_name(t.isa)) + (t.vnni ? "+vnni" : "");
}

// The bound kernel_table.h states for a dot product with int8 activations
// against float64 over the unquantized x and the weights w: rounding x to int8
// moves each element by at most max|x_block| / 254 (plus float rounding of the
// scale), then the float sums round.
inline double int8_error_bound(const float* x, const float* w, double bias, int64_t k) {
  double quant = 0, magnitude = std::fabs(bias);
  for (int64_t b = 0; b < k; b += 32) {
    double amax = 0, wsum = 0;
    for (int64_t i = b; i < b + 32; ++i) {
      amax = std::max(amax, std::fabs(static_cast<double>(x[i])));
      wsum += std::fabs(static_cast<double>(w[i]));
      magnitude += std::fabs(static_cast<double>(x[i]) * w[i]);
    }
    quant += amax / 254 * wsum;
  }
  return quant * (1 + 1e-5) + static_cast<double>(k / 64 + 6) * 0x1p-24 * (magnitude + quant);
}

// The path the backend would use (SPECBATCH_CPU, else the best).
inline const cpu::KernelTable& env_kernel_table() {
  cpu::CpuIsa isa;
  std::string error;
  if (!cpu::cpu_isa_parse(std::getenv("SPECBATCH_CPU"), &isa, &error)) isa = cpu::CpuIsa::kPortable;
  return cpu::kernel_table(isa);
}

}  // namespace sb::test
