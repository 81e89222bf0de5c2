// The compute interface core talks to (DESIGN.md section 3): memory, weight
// upload, and batched ops over device buffers for a flattened ragged batch of
// tokens. Ops are queued in call order and may run asynchronously; only
// copy_to_host waits, so a step costs one device->host sync. Ops never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "core/model/model_config.h"

namespace sb {

// A weight resident on the backend, in whatever dtype the backend stores
// (the CPU backend: F32, Q8_0 or Q4_0). data is backend memory, row-major [rows, cols].
struct DeviceWeight {
  DType dtype = DType::kF32;
  int64_t rows = 0;
  int64_t cols = 0;
  const void* data = nullptr;  // nullptr: absent (e.g. no bias)

  bool present() const { return data != nullptr; }
};

// Causal attention over the paged KV cache for a ragged batch of query tokens.
// Token t belongs to block_tables row token_seq[t] and sits at position pos[t];
// it attends to that sequence's cached positions 0..pos[t] (its own K/V must
// be stored first), or with a sliding window only pos[t]-window+1..pos[t]. Cache slot of position p: table[p / block_size] * block_size + p % block_size.
struct AttentionOp {
  const float* q = nullptr;              // [n_tokens, n_head, head_dim]
  const float* k_cache = nullptr;        // [n_slots, n_kv_head, head_dim]
  const float* v_cache = nullptr;        // [n_slots, n_kv_head, head_dim]
  const int32_t* pos = nullptr;          // [n_tokens]
  const int32_t* token_seq = nullptr;    // [n_tokens]
  const int32_t* block_tables = nullptr; // [n_seqs, max_blocks]
  float* out = nullptr;                  // [n_tokens, n_head, head_dim]
  int64_t n_tokens = 0;
  int64_t n_seqs = 0;
  int64_t n_head = 0;
  int64_t n_kv_head = 0;
  int64_t head_dim = 0;
  int64_t block_size = 0;
  int64_t max_blocks = 0;
  int64_t n_slots = 0;
  float scale = 1.0f;
  int64_t window = 0;     // > 0: sliding-window attention over the last `window` positions
  float softcap = 0.0f;   // > 0: each score s becomes softcap * tanh(s / softcap) (Gemma 2)
};

// Mixture-of-experts routing of n_tokens rows of router logits. Token t's
// choices j = 0..n_used-1 are its n_used experts in descending logit order,
// ties broken by the lower expert index (a total order: the same choices
// whatever the backend or batch); weights[t, j] is choice j's softmax
// probability over all n_expert logits, divided by the sum over the chosen ones
// when norm_topk. The (token, choice) pairs are also grouped by expert, so an
// expert's weights are read once for all its tokens: grouped row r holds the
// pair whose token is row_token[r]; expert e owns rows expert_rows[e] ..
// expert_rows[e+1]-1, ordered by token then choice; choice_row[t, j] is the
// grouped row of pair (t, j).
struct MoeRouteOp {
  const float* logits = nullptr;   // [n_tokens, n_expert]
  int32_t* choice_expert = nullptr;// [n_tokens, n_used]
  float* weights = nullptr;        // [n_tokens, n_used]
  int32_t* expert_rows = nullptr;  // [n_expert + 1]
  int32_t* row_token = nullptr;    // [n_tokens * n_used]
  int32_t* choice_row = nullptr;   // [n_tokens * n_used]
  int64_t n_tokens = 0;
  int64_t n_expert = 0;
  int64_t n_used = 0;
  bool norm_topk = true;
};

// All pointers passed to ops are backend memory (from alloc() or weights).
// Every op is row-local: a row's result is computed from that row's inputs
// alone. Whether it is also bitwise independent of which other rows share the
// call (batch invariance, DESIGN.md section 10) is the backend's to say:
// batch_invariant(). The CPU backend is; the CUDA backend is not (cuBLAS picks
// its algorithm by shape), so its results agree within rounding only.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  // True when every op's result for a row is bitwise the same whatever rows share the call.
  virtual bool batch_invariant() const = 0;

  // Memory. alloc() is for set-up (weights, workspaces, KV), never inside a step.
  virtual StatusOr<void*> alloc(size_t bytes) = 0;
  virtual void release(void* ptr) = 0;
  // Bytes of backend memory free now, for sizing the KV pool; none for a backend
  // whose memory is the host's (the CPU: sized from physical memory instead).
  virtual std::optional<int64_t> free_memory_bytes() const { return std::nullopt; }
  // Bytes upload_weight(w) takes (the type it stores w as may differ from w's).
  virtual int64_t uploaded_bytes(const TensorView& w) const { return static_cast<int64_t>(w.n_bytes()); }
  // Uploads (and converts) a weight once; release_weight() frees what it made.
  virtual StatusOr<DeviceWeight> upload_weight(const TensorView& w) = 0;
  virtual void release_weight(const DeviceWeight& w) = 0;
  // Queues a host->device copy; src may be reused as soon as the call returns.
  virtual Status copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  // Waits for all queued work, then copies device->host: the step's one sync.
  virtual Status copy_to_host(void* dst, const void* src, size_t bytes) = 0;

  // out[i] = table[ids[i]]                       out: [n_tokens, table.cols]
  virtual Status embed(const DeviceWeight& table, const int32_t* ids, float* out, int64_t n_tokens) = 0;
  // out[r] = rows[r]-th row of x                  x: [n_src, dim], out: [n_rows, dim]
  virtual Status gather_rows(const float* x, const int32_t* rows, float* out, int64_t n_rows, int64_t n_src,
                             int64_t dim) = 0;
  // Row r of out = the first cols floats of row r of x; rows are src_ld / dst_ld floats apart.
  //   x: [n_rows, src_ld], out: [n_rows, dst_ld]
  virtual Status copy_rows(const float* x, int64_t src_ld, float* out, int64_t dst_ld, int64_t n_rows,
                           int64_t cols) = 0;
  // RMSNorm of each row of width w.cols; out may alias x.  x, out: [n_rows, w.cols]
  virtual Status rms_norm(const float* x, const DeviceWeight& w, float* out, int64_t n_rows, float eps) = 0;
  // y = x * w^T (+ bias)             x: [n_rows, w.cols], y: [n_rows, w.rows], bias: [1, w.rows] or absent
  virtual Status matmul(const float* x, const DeviceWeight& w, const DeviceWeight& bias, float* y,
                        int64_t n_rows) = 0;
  // In-place RoPE of every head: angle pos[t] * inv_freq[i]; cos/sin scaled by attn_factor.
  //   x: [n_tokens, n_heads, head_dim], inv_freq: [head_dim / 2] (backend memory)
  virtual Status rope(float* x, const int32_t* pos, const float* inv_freq, int64_t n_tokens, int64_t n_heads,
                      int64_t head_dim, RopeStyle style, float attn_factor) = 0;
  // Stores each token's K and V row at its cache slot.
  //   k, v: [n_tokens, kv_dim], slots: [n_tokens], caches: [n_slots, kv_dim]
  virtual Status kv_store(const float* k, const float* v, const int32_t* slots, float* k_cache, float* v_cache,
                          int64_t n_tokens, int64_t kv_dim, int64_t n_slots) = 0;
  virtual Status attention(const AttentionOp& op) = 0;
  // out = silu(gate) * up; out may alias gate.
  virtual Status silu_mul(const float* gate, const float* up, float* out, int64_t n) = 0;
  // out = gelu_tanh(gate) * up (GELU with the tanh approximation); out may alias gate.
  virtual Status gelu_tanh_mul(const float* gate, const float* up, float* out, int64_t n) = 0;
  // x = cap * tanh(x / cap): logit soft-capping, cap > 0.
  virtual Status softcap(float* x, float cap, int64_t n) = 0;
  // x *= s
  virtual Status scale(float* x, float s, int64_t n) = 0;
  // x += y
  virtual Status add(float* x, const float* y, int64_t n) = 0;

  // Mixture of experts (kernels in their own files): routing and grouping as
  // MoeRouteOp describes, the grouped experts' matmuls, the weighted sum.
  virtual Status moe_route(const MoeRouteOp& op) = 0;
  // Rows expert_rows[e] .. expert_rows[e+1]-1 of y = the same rows of x times
  // experts[e]^T, for every e < n_expert; experts with no rows are not read.
  // experts is a host array of n_expert weights of one dtype and shape.
  //   x: [n_rows, experts[e].cols], y: [n_rows, experts[e].rows], expert_rows: [n_expert + 1] (backend memory)
  virtual Status moe_matmul(const float* x, const DeviceWeight* experts, int64_t n_expert,
                            const int32_t* expert_rows, float* y, int64_t n_rows) = 0;
  // out[t] = sum over j = 0..n_used-1, in that order, of weights[t, j] * y[choice_row[t, j]].
  //   y: [n_tokens * n_used, dim], choice_row, weights: [n_tokens, n_used], out: [n_tokens, dim]
  virtual Status moe_combine(const float* y, const int32_t* choice_row, const float* weights, float* out,
                             int64_t n_tokens, int64_t n_used, int64_t dim) = 0;
};

}  // namespace sb
