#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_set>

#include "kernels/cpu/ops.h"
#include "kernels/cpu/thread_pool.h"

namespace sb {

namespace {

constexpr size_t kAlign = 64;

Status from_kernel(cpu::KernelStatus s, const char* op) {
  if (s == cpu::KernelStatus::kOk) return ok_status();
  return invalid_argument(std::string("cpu backend: ") + op + ": bad shape or index");
}

const float* f32(const DeviceWeight& w) {
  SB_CHECK(w.dtype == DType::kF32);
  return static_cast<const float*>(w.data);
}

bool is_quantized(DType dtype) { return dtype == DType::kQ8_0 || dtype == DType::kQ4_0; }

cpu::QuantFormat quant_format(DType dtype) {
  SB_CHECK(is_quantized(dtype));
  return dtype == DType::kQ8_0 ? cpu::QuantFormat::kQ8_0 : cpu::QuantFormat::kQ4_0;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int n_threads) : pool_(n_threads) {}
  ~CpuBackend() override { SB_CHECK_MSG(owned_.empty(), "cpu backend destroyed with live buffers"); }

  const char* name() const override { return "cpu"; }
  bool batch_invariant() const override { return true; }

  StatusOr<void*> alloc(size_t bytes) override {
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    void* p = std::aligned_alloc(kAlign, rounded == 0 ? kAlign : rounded);
    if (!p) return internal_error("cpu backend: out of memory allocating " + std::to_string(bytes) + " bytes");
    owned_.insert(p);
    return p;
  }

  void release(void* ptr) override {
    if (!ptr) return;
    SB_CHECK(owned_.erase(ptr) == 1);
    std::free(ptr);
  }

  StatusOr<DeviceWeight> upload_weight(const TensorView& w) override {
    DeviceWeight d{DType::kF32, w.rows, w.cols, nullptr};
    if (!w.present()) return d;
    if (w.dtype == DType::kF32) {  // used in place (unaligned loads are fine)
      d.data = w.data;
      return d;
    }
    if (is_quantized(w.dtype) && w.rows > 1) {  // matrices stay in blocks, in place; vectors become F32
      d.dtype = w.dtype;
      d.data = w.data;
      return d;
    }
    SB_ASSIGN_OR_RETURN(void* mem, alloc(static_cast<size_t>(w.n_elems()) * sizeof(float)));
    float* out = static_cast<float*>(mem);
    const int64_t n_tasks = std::min<int64_t>(w.rows, pool_.n_threads() * 4);
    pool_.run(n_tasks, [&](int64_t task) {
      for (int64_t r = w.rows * task / n_tasks; r < w.rows * (task + 1) / n_tasks; ++r)
        dequantize_row(w.dtype, w.row(r), out + r * w.cols, w.cols);
    });
    d.data = out;
    return d;
  }

  void release_weight(const DeviceWeight& w) override {
    void* p = const_cast<void*>(w.data);
    if (owned_.count(p)) release(p);
  }

  Status copy_to_device(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return ok_status();
  }
  Status copy_to_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
    return ok_status();
  }

  Status embed(const DeviceWeight& table, const int32_t* ids, float* out, int64_t n_tokens) override {
    if (is_quantized(table.dtype))
      return from_kernel(cpu::gather_rows_quant(pool_, quant_format(table.dtype), table.data, ids, out, n_tokens,
                                                table.rows, table.cols),
                         "embed");
    return from_kernel(cpu::gather_rows(pool_, f32(table), ids, out, n_tokens, table.rows, table.cols), "embed");
  }
  Status gather_rows(const float* x, const int32_t* rows, float* out, int64_t n_rows, int64_t n_src,
                     int64_t dim) override {
    return from_kernel(cpu::gather_rows(pool_, x, rows, out, n_rows, n_src, dim), "gather_rows");
  }
  Status copy_rows(const float* x, int64_t src_ld, float* out, int64_t dst_ld, int64_t n_rows,
                   int64_t cols) override {
    return from_kernel(cpu::copy_rows(pool_, x, out, n_rows, cols, src_ld, dst_ld), "copy_rows");
  }
  Status rms_norm(const float* x, const DeviceWeight& w, float* out, int64_t n_rows, float eps) override {
    return from_kernel(cpu::rms_norm(pool_, x, f32(w), out, n_rows, w.cols, eps), "rms_norm");
  }
  Status matmul(const float* x, const DeviceWeight& w, const DeviceWeight& bias, float* y,
                int64_t n_rows) override {
    const float* b = bias.present() ? f32(bias) : nullptr;
    if (is_quantized(w.dtype))
      return from_kernel(cpu::matmul_quant(pool_, quant_format(w.dtype), x, w.data, b, y, n_rows, w.cols, w.rows),
                         "matmul");
    return from_kernel(cpu::matmul(pool_, x, f32(w), b, y, n_rows, w.cols, w.rows), "matmul");
  }
  Status rope(float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens, int64_t n_heads,
              int64_t head_dim, RopeStyle style, float attn_factor) override {
    const auto layout = style == RopeStyle::kInterleaved ? cpu::RopeLayout::kInterleaved : cpu::RopeLayout::kHalf;
    return from_kernel(cpu::rope(pool_, x, pos, inv_freq, n_tokens, n_heads, head_dim, layout, attn_factor),
                       "rope");
  }
  Status kv_store(const float* k, const float* v, const int32_t* slots, float* k_cache, float* v_cache,
                  int64_t n_tokens, int64_t kv_dim, int64_t n_slots) override {
    return from_kernel(cpu::kv_store(pool_, k, v, slots, k_cache, v_cache, n_tokens, kv_dim, n_slots),
                       "kv_store");
  }
  Status attention(const AttentionOp& op) override {
    cpu::AttentionArgs a;
    a.q = op.q;
    a.k_cache = op.k_cache;
    a.v_cache = op.v_cache;
    a.pos = op.pos;
    a.token_seq = op.token_seq;
    a.block_tables = op.block_tables;
    a.out = op.out;
    a.n_tokens = op.n_tokens;
    a.n_seqs = op.n_seqs;
    a.n_head = op.n_head;
    a.n_kv_head = op.n_kv_head;
    a.head_dim = op.head_dim;
    a.block_size = op.block_size;
    a.max_blocks = op.max_blocks;
    a.n_slots = op.n_slots;
    a.scale = op.scale;
    a.window = op.window;
    a.softcap = op.softcap;
    return from_kernel(cpu::attention(pool_, a), "attention");
  }
  Status silu_mul(const float* gate, const float* up, float* out, int64_t n) override {
    return from_kernel(cpu::silu_mul(pool_, gate, up, out, n), "silu_mul");
  }
  Status gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) override {
    return from_kernel(cpu::gelu_tanh_mul(pool_, gate, up, out, n), "gelu_tanh_mul");
  }
  Status softcap(float* x, float cap, int64_t n) override {
    return from_kernel(cpu::softcap(pool_, x, cap, n), "softcap");
  }
  Status scale(float* x, float s, int64_t n) override { return from_kernel(cpu::scale(pool_, x, s, n), "scale"); }
  Status add(float* x, const float* y, int64_t n) override {
    return from_kernel(cpu::add(pool_, x, y, n), "add");
  }

 private:
  cpu::ThreadPool pool_;
  std::unordered_set<const void*> owned_;  // allocations to free; set-up only
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::make_unique<CpuBackend>(n_threads);
}

}  // namespace sb
