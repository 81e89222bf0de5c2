// Helpers of the GPU tests: a CUDA backend on device 0, the CPU backend as the
// reference, and device buffers that are filled with NaN before every run so
// that anything a kernel fails to write shows up.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <vector>

#include "core/backend.h"
#include "kernels/cpu/cpu_backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace sb::test {

inline std::unique_ptr<Backend> cuda_backend(CudaBackendOptions::Weights weights = CudaBackendOptions::Weights::kAuto) {
  CudaBackendOptions o;
  o.weights = weights;
  auto b = make_cuda_backend(o);
  REQUIRE_MESSAGE(b.ok(), b.status().to_string());
  return std::move(b).value();
}

// A buffer of T on a backend, freed with it.
template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer(Backend& b, size_t n) : b_(b), n_(n) {
    auto p = b.alloc(std::max<size_t>(n, 1) * sizeof(T));
    REQUIRE(p.ok());
    p_ = static_cast<T*>(*p);
  }
  DeviceBuffer(Backend& b, const std::vector<T>& host) : DeviceBuffer(b, host.size()) { set(host); }
  ~DeviceBuffer() { b_.release(p_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return p_; }
  void set(const std::vector<T>& host) {
    REQUIRE(host.size() == n_);
    REQUIRE(b_.copy_to_device(p_, host.data(), n_ * sizeof(T)).ok());
  }
  void poison() {
    static_assert(sizeof(T) == 4);
    set(std::vector<T>(n_, std::bit_cast<T>(std::numeric_limits<float>::quiet_NaN())));
  }
  std::vector<T> get_host() const {
    std::vector<T> out(n_);
    const Status s = b_.copy_to_host(out.data(), p_, n_ * sizeof(T));
    REQUIRE_MESSAGE(s.ok(), s.to_string());
    return out;
  }

 private:
  Backend& b_;
  size_t n_;
  T* p_ = nullptr;
};

inline std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// |got - want| <= tol * (scale + |want|) elementwise, reporting the first miss.
inline void check_close(const std::vector<float>& got, const std::vector<float>& want, double tol,
                        double scale = 0.0) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    const double bound = tol * (scale + std::fabs(want[i]));
    if (!(std::fabs(got[i] - want[i]) <= bound)) {
      FAIL_CHECK("element " << i << ": got " << got[i] << ", want " << want[i] << " (bound " << bound << ")");
      return;
    }
  }
}

}  // namespace sb::test
