// The GPU's reference numbers for `specbatch bench --device cuda`: device copy
// bandwidth (what decode, which streams every weight once per step, can reach
// at best) and the FLOP/s of a large cuBLAS GEMM (what a large batch can reach
// at best), measured with CUDA events. Run both in one job and divide.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

namespace {

bool ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  std::fprintf(stderr, "bench_cuda: %s: %s\n", what, cudaGetErrorString(e));
  return false;
}

bool ok(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return true;
  std::fprintf(stderr, "bench_cuda: %s: %s\n", what, cublasGetStatusString(s));
  return false;
}

// Milliseconds per call of fn, over `reps` calls after one warm-up.
template <typename F>
float time_ms(int reps, F&& fn) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  fn();
  cudaEventRecord(start);
  for (int i = 0; i < reps; ++i) fn();
  cudaEventRecord(stop);
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / reps;
}

}  // namespace

int main() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    std::fprintf(stderr, "bench_cuda: no CUDA device\n");
    return 77;
  }
  const size_t copy_bytes = size_t{1} << 30;
  void *a = nullptr, *b = nullptr;
  if (!ok(cudaMalloc(&a, copy_bytes), "cudaMalloc") || !ok(cudaMalloc(&b, copy_bytes), "cudaMalloc")) return 1;
  const float copy_ms = time_ms(10, [&] { cudaMemcpyAsync(b, a, copy_bytes, cudaMemcpyDeviceToDevice); });
  // A copy reads and writes every byte.
  std::printf("device copy bandwidth: %.0f GB/s\n", 2.0 * copy_bytes / (copy_ms * 1e-3) / 1e9);

  cublasHandle_t h = nullptr;
  if (!ok(cublasCreate(&h), "cublasCreate")) return 1;
  const int n = 8192;  // BF16 inputs, FP32 output and accumulation: as the backend's GEMMs
  void *x = a, *w = b, *y = nullptr;
  if (!ok(cudaMalloc(&y, size_t{n} * n * 4), "cudaMalloc")) return 1;
  cudaMemset(a, 0, size_t{n} * n * 2);
  cudaMemset(b, 0, size_t{n} * n * 2);
  const float alpha = 1, beta = 0;
  cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
  const float gemm_ms = time_ms(10, [&] {
    st = cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, w, CUDA_R_16BF, n, x, CUDA_R_16BF, n, &beta, y,
                      CUDA_R_32F, n, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  });
  if (!ok(st, "cublasGemmEx") || !ok(cudaDeviceSynchronize(), "GEMM")) return 1;
  std::printf("cuBLAS BF16 GEMM %dx%dx%d: %.1f TFLOP/s\n", n, n, n, 2.0 * n * n * n / (gemm_ms * 1e-3) / 1e12);
  cublasDestroy(h);
  cudaFree(a);
  cudaFree(b);
  cudaFree(y);
  return 0;
}
