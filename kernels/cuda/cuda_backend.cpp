#include "kernels/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "kernels/cuda/moe.h"
#include "kernels/cuda/ops.h"

namespace sb {

namespace {

// Activations converted to F16/BF16 for one GEMM call; bigger GEMMs go in row
// chunks of at most kConvertRows rows (the F16 row scales' workspace). A weight
// wider than kConvertElems columns is refused at upload.
constexpr int64_t kConvertElems = int64_t{16} << 20;
constexpr int64_t kConvertRows = 65536;
// cuBLAS's workspace, given up front so it never allocates inside a step (32 MiB as advised for Hopper).
constexpr size_t kCublasWorkspace = size_t{32} << 20;

cuda::WeightType weight_type(DType d) {
  switch (d) {
    case DType::kF32: return cuda::WeightType::kF32;
    case DType::kF16: return cuda::WeightType::kF16;
    case DType::kBF16: return cuda::WeightType::kBF16;
    case DType::kQ8_0: return cuda::WeightType::kQ8_0;
    case DType::kQ4_0: return cuda::WeightType::kQ4_0;
  }
  return cuda::WeightType::kF32;
}

// The dtype a weight is stored in on the device.
DType stored_dtype(const TensorView& w, CudaBackendOptions::Weights mode) {
  if (w.rows == 1) return DType::kF32;  // norms and biases: small, read by our own kernels
  if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0) return w.dtype;
  switch (mode) {
    case CudaBackendOptions::Weights::kAuto: return w.dtype;
    case CudaBackendOptions::Weights::kF32: return DType::kF32;
    case CudaBackendOptions::Weights::kBF16: return DType::kBF16;
  }
  return w.dtype;
}

std::string error_names(int bits) {
  std::string s;
  for (auto [bit, name] : {std::pair{cuda::kErrEmbed, "embed (token id)"}, {cuda::kErrGather, "gather_rows (row)"},
                           {cuda::kErrKvStore, "kv_store (slot)"}, {cuda::kErrAttention, "attention (block table)"}})
    if (bits & bit) s += (s.empty() ? "" : ", ") + std::string(name);
  return s;
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const CudaBackendOptions& options) : options_(options) {
    name_ = "cuda:" + std::to_string(options.device);
  }

  ~CudaBackend() override {
    SB_CHECK_MSG(owned_.empty(), "cuda backend destroyed with live buffers");
    if (cudaSetDevice(options_.device) != cudaSuccess) return;
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    cudaFree(convert_);
    cudaFree(row_scale_);
    cudaFree(cublas_ws_);
    cudaFree(err_dev_);
    cudaFreeHost(err_host_);
  }

  Status init() {
    SB_RETURN_IF_ERROR(check(cudaSetDevice(options_.device), "cudaSetDevice"));
    SB_RETURN_IF_ERROR(check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate"));
    SB_RETURN_IF_ERROR(check(cublasCreate(&cublas_), "cublasCreate"));
    SB_RETURN_IF_ERROR(check(cublasSetStream(cublas_, stream_), "cublasSetStream"));
    SB_RETURN_IF_ERROR(check(cudaMalloc(&cublas_ws_, kCublasWorkspace), "cudaMalloc (cuBLAS workspace)"));
    SB_RETURN_IF_ERROR(check(cublasSetWorkspace(cublas_, cublas_ws_, kCublasWorkspace), "cublasSetWorkspace"));
    SB_RETURN_IF_ERROR(check(cudaMalloc(&convert_, kConvertElems * 2), "cudaMalloc (activation workspace)"));
    SB_RETURN_IF_ERROR(check(cudaMalloc(&row_scale_, kConvertRows * sizeof(float)), "cudaMalloc (row scales)"));
    SB_RETURN_IF_ERROR(check(cudaMalloc(&err_dev_, sizeof(int)), "cudaMalloc (error word)"));
    // On our stream (a plain cudaMemset runs on the legacy stream, unordered with a
    // non-blocking one), finished before any op can set a bit.
    SB_RETURN_IF_ERROR(check(cudaMemsetAsync(err_dev_, 0, sizeof(int), stream_), "cudaMemsetAsync (error word)"));
    SB_RETURN_IF_ERROR(check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
    SB_RETURN_IF_ERROR(check(cudaMallocHost(&err_host_, sizeof(int)), "cudaMallocHost"));
    return ok_status();
  }

  const char* name() const override { return name_.c_str(); }
  // cuBLAS picks GEMM algorithms (and reduction splits) by shape: a row's result
  // can change with the number of rows it is computed with.
  bool batch_invariant() const override { return false; }

  StatusOr<void*> alloc(size_t bytes) override {
    SB_RETURN_IF_ERROR(use());
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 256));
    if (e != cudaSuccess)
      return internal_error(name_ + ": cudaMalloc of " + std::to_string(bytes) + " bytes: " + cudaGetErrorString(e));
    owned_.insert(p);
    return p;
  }

  void release(void* ptr) override {
    if (!ptr) return;
    SB_CHECK(owned_.erase(ptr) == 1);
    // Queued work may still read ptr: finish it first (set-up and tear-down only).
    if (cudaSetDevice(options_.device) == cudaSuccess) cudaStreamSynchronize(stream_);
    cudaFree(ptr);
  }

  std::optional<int64_t> free_memory_bytes() const override {
    size_t free = 0, total = 0;
    if (cudaSetDevice(options_.device) != cudaSuccess || cudaMemGetInfo(&free, &total) != cudaSuccess)
      return std::nullopt;
    return static_cast<int64_t>(free);
  }

  int64_t uploaded_bytes(const TensorView& w) const override {
    return w.rows * static_cast<int64_t>(dtype_row_bytes(stored_dtype(w, options_.weights), w.cols));
  }

  StatusOr<DeviceWeight> upload_weight(const TensorView& w) override {
    const DType dtype = stored_dtype(w, options_.weights);
    DeviceWeight d{dtype, w.rows, w.cols, nullptr};
    if (!w.present()) return d;
    if ((dtype == DType::kF16 || dtype == DType::kBF16) && w.cols > kConvertElems)
      return invalid_argument(name_ + ": tensor '" + w.name + "' has " + std::to_string(w.cols) +
                              " columns; F16/BF16 matrices are limited to " + std::to_string(kConvertElems));
    const size_t bytes = static_cast<size_t>(w.rows) * dtype_row_bytes(dtype, w.cols);
    const void* src = w.data;
    std::vector<uint8_t> converted;
    if (dtype != w.dtype) {  // float -> float only: quantized weights are never converted
      converted.resize(bytes);
      std::vector<float> row(static_cast<size_t>(w.cols));
      for (int64_t r = 0; r < w.rows; ++r) {
        dequantize_row(w.dtype, w.row(r), row.data(), w.cols);
        uint8_t* dst = converted.data() + static_cast<size_t>(r) * dtype_row_bytes(dtype, w.cols);
        for (int64_t c = 0; c < w.cols; ++c) {
          if (dtype == DType::kF32) {
            reinterpret_cast<float*>(dst)[c] = row[static_cast<size_t>(c)];
          } else {
            const uint16_t h = dtype == DType::kBF16 ? f32_to_bf16(row[static_cast<size_t>(c)])
                                                     : f32_to_f16(row[static_cast<size_t>(c)]);
            reinterpret_cast<uint16_t*>(dst)[c] = h;
          }
        }
      }
      src = converted.data();
    }
    SB_ASSIGN_OR_RETURN(void* mem, alloc(bytes));
    // On our stream: a plain cudaMemcpy from pageable memory may return before its DMA
    // ends, and our non-blocking stream would not wait for it.
    const Status s =
        check(cudaMemcpyAsync(mem, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (weight upload)");
    if (!s.ok()) {
      release(mem);
      return s.with_context(w.name);
    }
    d.data = mem;
    return d;
  }

  void release_weight(const DeviceWeight& w) override { release(const_cast<void*>(w.data)); }

  Status copy_to_device(void* dst, const void* src, size_t bytes) override {
    SB_RETURN_IF_ERROR(use());
    // From pageable memory the runtime stages src before returning, so it may be reused at once.
    return check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync (to device)");
  }

  Status copy_to_host(void* dst, const void* src, size_t bytes) override {
    SB_RETURN_IF_ERROR(use());
    SB_RETURN_IF_ERROR(check(cudaMemcpyAsync(err_host_, err_dev_, sizeof(int), cudaMemcpyDeviceToHost, stream_),
                             "cudaMemcpyAsync (error word)"));
    SB_RETURN_IF_ERROR(
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync (to host)"));
    SB_RETURN_IF_ERROR(check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
    if (*err_host_ != 0) {
      const int bits = *err_host_;
      *err_host_ = 0;
      SB_RETURN_IF_ERROR(check(cudaMemsetAsync(err_dev_, 0, sizeof(int), stream_), "cudaMemsetAsync"));
      return invalid_argument(name_ + ": out-of-range index in " + error_names(bits) + " since the last copy to host");
    }
    return ok_status();
  }

  Status embed(const DeviceWeight& table, const int32_t* ids, float* out, int64_t n_tokens) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::embed(table.data, weight_type(table.dtype), ids, out, n_tokens, table.rows, table.cols,
                                err_dev_, stream_),
                    "embed");
  }

  Status gather_rows(const float* x, const int32_t* rows, float* out, int64_t n_rows, int64_t n_src,
                     int64_t dim) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::gather_rows(x, rows, out, n_rows, n_src, dim, err_dev_, stream_), "gather_rows");
  }

  Status copy_rows(const float* x, int64_t src_ld, float* out, int64_t dst_ld, int64_t n_rows,
                   int64_t cols) override {
    SB_RETURN_IF_ERROR(use());
    if (n_rows < 0 || cols <= 0 || src_ld < cols || dst_ld < cols)
      return invalid_argument(name_ + ": copy_rows: bad shape");
    if (n_rows == 0) return ok_status();
    const size_t f = sizeof(float);
    return check(cudaMemcpy2DAsync(out, static_cast<size_t>(dst_ld) * f, x, static_cast<size_t>(src_ld) * f,
                                   static_cast<size_t>(cols) * f, static_cast<size_t>(n_rows),
                                   cudaMemcpyDeviceToDevice, stream_),
                 "cudaMemcpy2DAsync (copy_rows)");
  }

  Status rms_norm(const float* x, const DeviceWeight& w, float* out, int64_t n_rows, float eps) override {
    SB_RETURN_IF_ERROR(use());
    if (w.dtype != DType::kF32) return invalid_argument(name_ + ": rms_norm weight must be a vector (stored F32)");
    return launched(cuda::rms_norm(x, static_cast<const float*>(w.data), out, n_rows, w.cols, eps, stream_),
                    "rms_norm");
  }

  Status matmul(const float* x, const DeviceWeight& w, const DeviceWeight& bias, float* y,
                int64_t n_rows) override {
    SB_RETURN_IF_ERROR(use());
    if (n_rows < 0 || w.rows > INT_MAX || w.cols > INT_MAX || n_rows > INT_MAX)
      return invalid_argument(name_ + ": matmul shape out of range");
    if (n_rows == 0) return ok_status();
    const cuda::WeightType type = weight_type(w.dtype);
    if (w.dtype == DType::kQ8_0 || w.dtype == DType::kQ4_0) {
      SB_RETURN_IF_ERROR(launched(cuda::quant_matmul(x, w.data, type, y, n_rows, w.cols, w.rows, stream_), "matmul"));
    } else if (w.dtype == DType::kF32) {
      SB_RETURN_IF_ERROR(gemm(x, CUDA_R_32F, w, y, n_rows));
    } else {
      // cuBLAS wants both inputs in one type: convert the activations, in row chunks that
      // fit (F16 rows scaled into its range, the output rows scaled back).
      const cudaDataType t = w.dtype == DType::kBF16 ? CUDA_R_16BF : CUDA_R_16F;
      if (w.cols > kConvertElems) return invalid_argument(name_ + ": matmul: more columns than the workspace holds");
      const int64_t chunk = std::min(kConvertRows, kConvertElems / w.cols);
      for (int64_t r0 = 0; r0 < n_rows; r0 += chunk) {
        const int64_t n = std::min(chunk, n_rows - r0);
        float* yc = y + r0 * w.rows;
        SB_RETURN_IF_ERROR(
            launched(cuda::convert_rows(x + r0 * w.cols, convert_, row_scale_, type, n, w.cols, stream_), "matmul"));
        SB_RETURN_IF_ERROR(gemm(convert_, t, w, yc, n));
        if (w.dtype == DType::kF16)
          SB_RETURN_IF_ERROR(launched(cuda::scale_rows(yc, row_scale_, n, w.rows, stream_), "matmul"));
      }
    }
    if (!bias.present()) return ok_status();
    if (bias.dtype != DType::kF32 || bias.cols != w.rows)
      return invalid_argument(name_ + ": matmul bias must be an F32 vector of the output width");
    return launched(cuda::add_bias(y, static_cast<const float*>(bias.data), n_rows, w.rows, stream_), "bias add");
  }

  Status rope(float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens, int64_t n_heads,
              int64_t head_dim, RopeStyle style, float attn_factor) override {
    SB_RETURN_IF_ERROR(use());
    const auto layout = style == RopeStyle::kInterleaved ? cuda::RopeLayout::kInterleaved : cuda::RopeLayout::kHalf;
    return launched(cuda::rope(x, pos, inv_freq, n_tokens, n_heads, head_dim, layout, attn_factor, stream_), "rope");
  }

  Status kv_store(const float* k, const float* v, const int32_t* slots, float* k_cache, float* v_cache,
                  int64_t n_tokens, int64_t kv_dim, int64_t n_slots) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::kv_store(k, v, slots, k_cache, v_cache, n_tokens, kv_dim, n_slots, err_dev_, stream_),
                    "kv_store");
  }

  Status attention(const AttentionOp& op) override {
    SB_RETURN_IF_ERROR(use());
    const cuda::AttentionArgs a{op.q,        op.k_cache,  op.v_cache,   op.pos,       op.token_seq,
                                op.block_tables, op.out,  op.n_tokens,  op.n_seqs,    op.n_head,
                                op.n_kv_head, op.head_dim, op.block_size, op.max_blocks, op.n_slots,
                                op.scale,     op.window,   op.softcap};
    return launched(cuda::attention(a, err_dev_, stream_), "attention");
  }

  Status silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::silu_mul(gate, up, out, n, stream_), "silu_mul");
  }

  Status gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::gelu_tanh_mul(gate, up, out, n, stream_), "gelu_tanh_mul");
  }

  Status softcap(float* x, float cap, int64_t n) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::softcap(x, cap, n, stream_), "softcap");
  }

  Status scale(float* x, float s, int64_t n) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::scale(x, s, n, stream_), "scale");
  }

  Status add(float* x, const float* y, int64_t n) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::add(x, y, n, stream_), "add");
  }

  Status moe_route(const MoeRouteOp& op) override {
    SB_RETURN_IF_ERROR(use());
    if (op.n_expert > cuda::kMaxExperts)
      return unsupported(name_ + ": mixtures of more than " + std::to_string(cuda::kMaxExperts) + " experts");
    return launched(cuda::moe_route(op.logits, op.choice_expert, op.weights, op.expert_rows, op.row_token,
                                    op.choice_row, op.n_tokens, op.n_expert, op.n_used, op.norm_topk, stream_),
                    "moe_route");
  }

  Status moe_matmul(const float* x, const DeviceWeight* experts, int64_t n_expert, const int32_t* expert_rows,
                    float* y, int64_t n_rows) override {
    SB_RETURN_IF_ERROR(use());
    if (n_expert <= 0) return invalid_argument(name_ + ": moe_matmul: no experts");
    if (n_expert > cuda::kMaxExperts)
      return unsupported(name_ + ": mixtures of more than " + std::to_string(cuda::kMaxExperts) + " experts");
    const void* table[cuda::kMaxExperts];
    for (int64_t e = 0; e < n_expert; ++e) {
      const DeviceWeight& w = experts[e];
      if (w.dtype != experts[0].dtype || w.rows != experts[0].rows || w.cols != experts[0].cols)
        return invalid_argument(name_ + ": moe_matmul: experts differ in dtype or shape");
      table[e] = w.data;
    }
    return launched(cuda::moe_matmul(x, table, weight_type(experts[0].dtype), n_expert, expert_rows, y, n_rows,
                                     experts[0].cols, experts[0].rows, stream_),
                    "moe_matmul");
  }

  Status moe_combine(const float* y, const int32_t* choice_row, const float* weights, float* out, int64_t n_tokens,
                     int64_t n_used, int64_t dim) override {
    SB_RETURN_IF_ERROR(use());
    return launched(cuda::moe_combine(y, choice_row, weights, out, n_tokens, n_used, dim, stream_), "moe_combine");
  }

 private:
  Status check(cudaError_t e, const char* call) const {
    if (e == cudaSuccess) return ok_status();
    return internal_error(name_ + ": " + call + ": " + cudaGetErrorString(e));
  }
  Status check(cublasStatus_t s, const char* call) const {
    if (s == CUBLAS_STATUS_SUCCESS) return ok_status();
    return internal_error(name_ + ": " + call + ": " + cublasGetStatusString(s));
  }
  // A launcher's result: a bad shape is the caller's error, anything else the device's.
  Status launched(cudaError_t e, const char* op) const {
    if (e == cudaErrorInvalidValue) return invalid_argument(name_ + ": " + op + ": bad shape");
    return check(e, op);
  }
  // Ops may come from any thread (one replica per device): make ours current.
  Status use() const { return check(cudaSetDevice(options_.device), "cudaSetDevice"); }

  // y[n, w.rows] = x[n, w.cols] * w^T in FP32 accumulation. Row-major y^T = w * x^T is
  // column-major C[m, n] = op(A)[m, k] * B[k, n] with A = w transposed.
  Status gemm(const void* x, cudaDataType type, const DeviceWeight& w, float* y, int64_t n) {
    const float alpha = 1.0f, beta = 0.0f;
    const int m = static_cast<int>(w.rows), k = static_cast<int>(w.cols);
    return check(cublasGemmEx(cublas_, CUBLAS_OP_T, CUBLAS_OP_N, m, static_cast<int>(n), k, &alpha, w.data, type, k,
                              x, type, k, &beta, y, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  }

  CudaBackendOptions options_;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  void* cublas_ws_ = nullptr;
  void* convert_ = nullptr;  // [kConvertElems] F16 or BF16 activations
  float* row_scale_ = nullptr;  // [kConvertRows] F16 activation rows' scales
  int* err_dev_ = nullptr;   // KernelError bits since the last copy_to_host
  int* err_host_ = nullptr;  // pinned
  std::unordered_set<const void*> owned_;  // allocations to free; set-up only
};

}  // namespace

StatusOr<std::unique_ptr<Backend>> make_cuda_backend(const CudaBackendOptions& options) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess && e != cudaErrorNoDevice && e != cudaErrorInsufficientDriver)
    return internal_error(std::string("cudaGetDeviceCount: ") + cudaGetErrorString(e));
  if (e != cudaSuccess || count == 0) return not_found("no CUDA device found");
  if (options.device < 0 || options.device >= count)
    return invalid_argument("cuda:" + std::to_string(options.device) + ": no such device (found " +
                            std::to_string(count) + ")");
  auto backend = std::make_unique<CudaBackend>(options);
  SB_RETURN_IF_ERROR(backend->init());
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace sb
