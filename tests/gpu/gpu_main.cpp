// Entry point of the GPU tests: without a CUDA device they report "skipped"
// through exit code 77 (ctest SKIP_RETURN_CODE), never pass or fail silently.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>

#include "kernels/cuda/device_probe.h"

int main(int argc, char** argv) {
  const sb::cuda::DeviceCount count = sb::cuda::cuda_device_count();
  if (!count.error.empty()) {
    std::fprintf(stderr, "gpu tests: %s\n", count.error.c_str());
    return 1;
  }
  if (count.count == 0) {
    std::fprintf(stderr, "gpu tests: skipped, no CUDA device\n");
    return 77;
  }
  std::fprintf(stderr, "gpu tests on %s\n", sb::cuda::cuda_device_name(0).c_str());
  doctest::Context context(argc, argv);
  return context.run();
}
