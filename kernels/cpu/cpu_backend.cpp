#include "kernels/cpu/cpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <unordered_set>

#include "kernels/cpu/moe.h"
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

cpu::WeightFormat weight_format(DType dtype) {
  switch (dtype) {
    case DType::kF32: return cpu::WeightFormat::kF32;
    case DType::kF16: return cpu::WeightFormat::kF16;
    case DType::kBF16: return cpu::WeightFormat::kBF16;
    case DType::kQ8_0: return cpu::WeightFormat::kQ8_0;
    case DType::kQ4_0: return cpu::WeightFormat::kQ4_0;
  }
  SB_CHECK_MSG(false, "cpu backend: unknown dtype");
  return cpu::WeightFormat::kF32;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

class CpuBackend final : public Backend {
 public:
  CpuBackend(int n_threads, cpu::CpuIsa isa)
      : pool_(n_threads), kernels_(cpu::kernel_table(isa)), name_(std::string("cpu-") + cpu::cpu_isa_name(isa)) {}
  ~CpuBackend() override { SB_CHECK_MSG(owned_.empty(), "cpu backend destroyed with live buffers"); }

  const char* name() const override { return name_.c_str(); }
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
    if (w.dtype == DType::kF32 || w.rows > 1) {  // matrices as stored, in place (unaligned loads are fine)
      d.dtype = w.dtype;
      d.data = w.data;
      SB_RETURN_IF_ERROR(reserve_scratch(cpu::matmul_scratch_bytes(weight_format(w.dtype), w.cols)));
      return d;
    }
    // Vectors (norms, biases) become F32: the row-wise kernels read them as floats.
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
    return from_kernel(cpu::gather_weight_rows(pool_, weight_format(table.dtype), table.data, ids, out, n_tokens,
                                               table.rows, table.cols),
                       "embed");
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
    return from_kernel(cpu::rms_norm(pool_, kernels_, x, f32(w), out, n_rows, w.cols, eps), "rms_norm");
  }
  Status matmul(const float* x, const DeviceWeight& w, const DeviceWeight& bias, float* y,
                int64_t n_rows) override {
    const float* b = bias.present() ? f32(bias) : nullptr;
    return from_kernel(cpu::matmul(pool_, kernels_, weight_format(w.dtype), x, w.data, b, y, n_rows, w.cols, w.rows,
                                   scratch_.get()),
                       "matmul");
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
    return from_kernel(cpu::attention(pool_, kernels_, a), "attention");
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
  Status moe_route(const MoeRouteOp& op) override {
    return from_kernel(cpu::moe_route(pool_, op.logits, op.choice_expert, op.weights, op.expert_rows, op.row_token,
                                      op.choice_row, op.n_tokens, op.n_expert, op.n_used, op.norm_topk),
                       "moe_route");
  }
  // Each expert with rows runs one matmul over all of them: its weights are read once.
  Status moe_matmul(const float* x, const DeviceWeight* experts, int64_t n_expert, const int32_t* expert_rows,
                    float* y, int64_t n_rows) override {
    for (int64_t e = 0; e < n_expert; ++e) {
      const int64_t r0 = expert_rows[e], r1 = expert_rows[e + 1];
      if (r0 < 0 || r1 < r0 || r1 > n_rows) return invalid_argument("cpu backend: moe_matmul: bad expert rows");
      if (r1 == r0) continue;
      const DeviceWeight& w = experts[e];
      SB_RETURN_IF_ERROR(matmul(x + r0 * w.cols, w, DeviceWeight{}, y + r0 * w.rows, r1 - r0));
    }
    return ok_status();
  }
  Status moe_combine(const float* y, const int32_t* choice_row, const float* weights, float* out, int64_t n_tokens,
                     int64_t n_used, int64_t dim) override {
    return from_kernel(cpu::moe_combine(pool_, y, choice_row, weights, out, n_tokens, n_used, dim), "moe_combine");
  }

 private:
  // Grows the matmul scratch (int8 activations) to `bytes`, at upload: ops never allocate.
  Status reserve_scratch(size_t bytes) {
    if (bytes <= scratch_bytes_) return ok_status();
    const size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
    std::unique_ptr<void, FreeDeleter> p(std::aligned_alloc(kAlign, rounded));
    if (!p) return internal_error("cpu backend: out of memory allocating " + std::to_string(bytes) + " bytes");
    scratch_ = std::move(p);
    scratch_bytes_ = rounded;
    return ok_status();
  }

  cpu::ThreadPool pool_;
  const cpu::KernelTable& kernels_;
  std::string name_;  // "cpu-avx512" etc.: the path is part of what a step costs
  std::unordered_set<const void*> owned_;  // allocations to free; set-up only
  std::unique_ptr<void, FreeDeleter> scratch_;
  size_t scratch_bytes_ = 0;
};

}  // namespace

StatusOr<cpu::CpuIsa> cpu_isa_from_env() {
  cpu::CpuIsa isa;
  std::string error;
  if (!cpu::cpu_isa_parse(std::getenv("SPECBATCH_CPU"), &isa, &error)) return invalid_argument(error);
  return isa;
}

std::unique_ptr<Backend> make_cpu_backend(int n_threads, std::optional<cpu::CpuIsa> isa) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!isa) {
    StatusOr<cpu::CpuIsa> from_env = cpu_isa_from_env();
    SB_CHECK_MSG(from_env.ok(), from_env.status().message().c_str());
    isa = *from_env;
  }
  SB_CHECK_MSG(cpu::cpu_isa_supported(*isa), "cpu backend: kernel path not supported by this CPU");
  return std::make_unique<CpuBackend>(n_threads, *isa);
}

}  // namespace sb
