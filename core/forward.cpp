#include "core/forward.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/step_profiler.h"

namespace sb {

namespace {

// The mixture-of-experts MLP of the n normed rows in s.xn, into s.xn: router
// logits, routing grouped by expert, each active expert's SwiGLU over its rows
// only (one matmul per expert and projection), each token's weighted sum.
Status run_moe_mlp(Backend& b, const ModelConfig& c, const DeviceLayer& L, const LayerScratch& s, int64_t n) {
  const MoeScratch& m = s.moe;
  const int64_t n_pairs = n * c.n_expert_used;
  SB_RETURN_IF_ERROR(b.matmul(s.xn, L.router, DeviceWeight{}, m.logits, n));
  MoeRouteOp route;
  route.logits = m.logits;
  route.choice_expert = m.choice_expert;
  route.weights = m.weights;
  route.expert_rows = m.expert_rows;
  route.row_token = m.row_token;
  route.choice_row = m.choice_row;
  route.n_tokens = n;
  route.n_expert = c.n_expert;
  route.n_used = c.n_expert_used;
  route.norm_topk = c.expert_norm_topk;
  SB_RETURN_IF_ERROR(b.moe_route(route));
  SB_RETURN_IF_ERROR(b.gather_rows(s.xn, m.row_token, m.x, n_pairs, n, c.dim));
  SB_RETURN_IF_ERROR(b.moe_matmul(m.x, L.exp_gate.data(), c.n_expert, m.expert_rows, m.gate, n_pairs));
  SB_RETURN_IF_ERROR(b.moe_matmul(m.x, L.exp_up.data(), c.n_expert, m.expert_rows, m.up, n_pairs));
  SB_RETURN_IF_ERROR(b.silu_mul(m.gate, m.up, m.gate, n_pairs * c.expert_ffn_dim));
  SB_RETURN_IF_ERROR(b.moe_matmul(m.gate, L.exp_down.data(), c.n_expert, m.expert_rows, m.x, n_pairs));
  return b.moe_combine(m.x, m.choice_row, m.weights, s.xn, n, c.n_expert_used, c.dim);
}

}  // namespace

Status run_decoder_layer(Backend& b, const ModelConfig& c, const DeviceLayer& L, float* x, const LayerScratch& s,
                         const int32_t* pos, const int32_t* slots, const DeviceRope& rope, AttentionOp att,
                         int64_t n) {
  const int64_t hd = c.head_dim, kv_dim = int64_t{c.n_kv_head} * hd;
  // Attention block.
  SB_RETURN_IF_ERROR(b.rms_norm(x, L.attn_norm, s.xn, n, c.rms_eps));
  SB_RETURN_IF_ERROR(b.matmul(s.xn, L.wq, L.bq, s.q, n));
  SB_RETURN_IF_ERROR(b.matmul(s.xn, L.wk, L.bk, s.k, n));
  SB_RETURN_IF_ERROR(b.matmul(s.xn, L.wv, L.bv, s.v, n));
  if (c.qk_norm) {
    SB_RETURN_IF_ERROR(b.rms_norm(s.q, L.q_norm, s.q, n * c.n_head, c.rms_eps));
    SB_RETURN_IF_ERROR(b.rms_norm(s.k, L.k_norm, s.k, n * c.n_kv_head, c.rms_eps));
  }
  SB_RETURN_IF_ERROR(b.rope(s.q, pos, rope.inv_freq, n, c.n_head, hd, c.rope_style, rope.attn_factor));
  SB_RETURN_IF_ERROR(b.rope(s.k, pos, rope.inv_freq, n, c.n_kv_head, hd, c.rope_style, rope.attn_factor));
  SB_RETURN_IF_ERROR(b.kv_store(s.k, s.v, slots, L.k_cache, L.v_cache, n, kv_dim, att.n_slots));
  att.q = s.q;
  att.out = s.att;
  att.k_cache = L.k_cache;
  att.v_cache = L.v_cache;
  SB_RETURN_IF_ERROR(b.attention(att));
  SB_RETURN_IF_ERROR(b.matmul(s.att, L.wo, DeviceWeight{}, s.xn, n));
  if (c.post_norms) SB_RETURN_IF_ERROR(b.rms_norm(s.xn, L.attn_post_norm, s.xn, n, c.rms_eps));
  SB_RETURN_IF_ERROR(b.add(x, s.xn, n * c.dim));
  // Gated MLP block: act(gate) * up, down; or the routed experts'.
  SB_RETURN_IF_ERROR(b.rms_norm(x, L.ffn_norm, s.xn, n, c.rms_eps));
  if (L.router.present()) {
    SB_RETURN_IF_ERROR(run_moe_mlp(b, c, L, s, n));
  } else {
    SB_RETURN_IF_ERROR(b.matmul(s.xn, L.w_gate, DeviceWeight{}, s.gate, n));
    SB_RETURN_IF_ERROR(b.matmul(s.xn, L.w_up, DeviceWeight{}, s.up, n));
    if (c.act == Activation::kGeluTanh) {
      SB_RETURN_IF_ERROR(b.gelu_tanh_mul(s.gate, s.up, s.gate, n * c.ffn_dim));
    } else {
      SB_RETURN_IF_ERROR(b.silu_mul(s.gate, s.up, s.gate, n * c.ffn_dim));
    }
    SB_RETURN_IF_ERROR(b.matmul(s.gate, L.w_down, DeviceWeight{}, s.xn, n));
  }
  if (c.post_norms) SB_RETURN_IF_ERROR(b.rms_norm(s.xn, L.ffn_post_norm, s.xn, n, c.rms_eps));
  return b.add(x, s.xn, n * c.dim);
}

namespace {

// Layer l's MLP tensors: the dense three, or (MoE layers) the router and every expert's three.
Status check_mlp(const ModelConfig& c, const LayerWeights& lw, int l) {
  const std::string where = "layer " + std::to_string(l);
  if (!c.layer_is_moe(l)) {
    for (auto [t, what] : {std::pair{&lw.w_gate, "w_gate"}, {&lw.w_up, "w_up"}, {&lw.w_down, "w_down"}})
      if (!t->present()) return invalid_argument(where + ": missing tensor: " + what);
    return ok_status();
  }
  if (!lw.router.present()) return invalid_argument(where + ": missing tensor: router");
  for (const std::vector<TensorView>* v : {&lw.exp_gate, &lw.exp_up, &lw.exp_down}) {
    if (v->size() != static_cast<size_t>(c.n_expert)) return invalid_argument(where + ": expert count differs from config");
    for (const TensorView& t : *v)
      if (!t.present()) return invalid_argument(where + ": missing expert tensor");
  }
  return ok_status();
}

Status alloc_moe_scratch(DeviceArena& arena, const ModelConfig& c, size_t max_tokens, MoeScratch* m) {
  const size_t used = static_cast<size_t>(c.n_expert_used), pairs = max_tokens * used;
  auto ints = [&arena](size_t n) -> StatusOr<int32_t*> {
    SB_ASSIGN_OR_RETURN(float* p, arena.alloc_floats(n));
    return reinterpret_cast<int32_t*>(p);
  };
  SB_ASSIGN_OR_RETURN(m->logits, arena.alloc_floats(max_tokens * static_cast<size_t>(c.n_expert)));
  SB_ASSIGN_OR_RETURN(m->choice_expert, ints(pairs));
  SB_ASSIGN_OR_RETURN(m->weights, arena.alloc_floats(pairs));
  SB_ASSIGN_OR_RETURN(m->expert_rows, ints(static_cast<size_t>(c.n_expert) + 1));
  SB_ASSIGN_OR_RETURN(m->row_token, ints(pairs));
  SB_ASSIGN_OR_RETURN(m->choice_row, ints(pairs));
  SB_ASSIGN_OR_RETURN(m->x, arena.alloc_floats(pairs * static_cast<size_t>(c.dim)));
  SB_ASSIGN_OR_RETURN(m->gate, arena.alloc_floats(pairs * static_cast<size_t>(c.expert_ffn_dim)));
  SB_ASSIGN_OR_RETURN(m->up, arena.alloc_floats(pairs * static_cast<size_t>(c.expert_ffn_dim)));
  return ok_status();
}

}  // namespace

StatusOr<LayerScratch> alloc_layer_scratch(DeviceArena& arena, const ModelConfig& c, size_t rows) {
  const size_t dim = static_cast<size_t>(c.dim), ffn = static_cast<size_t>(c.ffn_dim);
  const size_t q_dim = static_cast<size_t>(c.n_head) * static_cast<size_t>(c.head_dim);
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * static_cast<size_t>(c.head_dim);
  LayerScratch s{};
  SB_ASSIGN_OR_RETURN(s.xn, arena.alloc_floats(rows * dim));
  SB_ASSIGN_OR_RETURN(s.q, arena.alloc_floats(rows * q_dim));
  SB_ASSIGN_OR_RETURN(s.k, arena.alloc_floats(rows * kv_dim));
  SB_ASSIGN_OR_RETURN(s.v, arena.alloc_floats(rows * kv_dim));
  SB_ASSIGN_OR_RETURN(s.att, arena.alloc_floats(rows * q_dim));
  SB_ASSIGN_OR_RETURN(s.gate, arena.alloc_floats(rows * ffn));
  SB_ASSIGN_OR_RETURN(s.up, arena.alloc_floats(rows * ffn));
  if (c.n_expert > 0) SB_RETURN_IF_ERROR(alloc_moe_scratch(arena, c, rows, &s.moe));
  return s;
}

Forward::Forward(const Model& model, Backend& backend, const KvCache& kv, const ForwardLimits& limits,
                 std::span<const int> capture_layers)
    : model_(model),
      backend_(backend),
      limits_(limits),
      capture_layers_(capture_layers.begin(), capture_layers.end()),
      kv_block_size_(kv.block_size()),
      kv_max_blocks_(kv.max_blocks_per_seq()),
      n_slots_(static_cast<int64_t>(kv.n_blocks()) * kv.block_size()),
      arena_(backend) {
  seq_row_.assign(static_cast<size_t>(kv.max_seqs()), -1);
}

Forward::~Forward() = default;

StatusOr<std::unique_ptr<Forward>> Forward::create(const Model& model, Backend& backend, const KvCache& kv,
                                                   const ForwardLimits& limits,
                                                   std::span<const int> capture_layers) {
  if (limits.max_tokens <= 0 || limits.max_seqs <= 0 || limits.max_logit_rows <= 0)
    return invalid_argument("forward: limits must be positive");
  for (int l : capture_layers)
    if (l < -1 || l >= model.config.n_layer)
      return invalid_argument(model.path + ": cannot capture layer " + std::to_string(l) + " of a model with " +
                              std::to_string(model.config.n_layer) + " layers");
  std::unique_ptr<Forward> f(new Forward(model, backend, kv, limits, capture_layers));
  SB_RETURN_IF_ERROR(f->init().with_context(model.path));
  return f;
}

Status Forward::init() {
  const ModelConfig& c = model_.config;
  const ModelWeights& w = model_.weights;
  if (c.n_head <= 0 || c.n_kv_head <= 0 || c.n_head % c.n_kv_head != 0)
    return invalid_argument("n_head must be a positive multiple of n_kv_head");
  if (static_cast<int>(w.layers.size()) != c.n_layer) return invalid_argument("layer count differs from config");
  auto need = [](const TensorView& t, const char* what) {
    return t.present() ? ok_status() : invalid_argument(std::string("missing tensor: ") + what);
  };
  SB_RETURN_IF_ERROR(arena_.upload(w.tok_embd, &tok_embd_));
  SB_RETURN_IF_ERROR(arena_.upload(w.out_norm, &out_norm_));
  if (w.lm_head.data == w.tok_embd.data) {
    lm_head_ = tok_embd_;  // tied: one upload
  } else {
    SB_RETURN_IF_ERROR(arena_.upload(w.lm_head, &lm_head_));
  }
  if (!tok_embd_.present() || !out_norm_.present() || !lm_head_.present())
    return invalid_argument("missing token embedding, output norm or lm_head");

  const size_t mt = static_cast<size_t>(limits_.max_tokens);
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  layers_.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    for (auto [t, what] : {std::pair{&lw.attn_norm, "attn_norm"}, {&lw.wq, "wq"}, {&lw.wk, "wk"}, {&lw.wv, "wv"},
                           {&lw.wo, "wo"}, {&lw.ffn_norm, "ffn_norm"}})
      SB_RETURN_IF_ERROR(need(*t, what).with_context("layer " + std::to_string(l)));
    SB_RETURN_IF_ERROR(check_mlp(c, lw, static_cast<int>(l)));
    if (c.attn_bias)
      for (auto [t, what] : {std::pair{&lw.bq, "bq"}, {&lw.bk, "bk"}, {&lw.bv, "bv"}})
        SB_RETURN_IF_ERROR(need(*t, what).with_context("layer " + std::to_string(l)));
    if (c.qk_norm)
      for (auto [t, what] : {std::pair{&lw.q_norm, "q_norm"}, {&lw.k_norm, "k_norm"}})
        SB_RETURN_IF_ERROR(need(*t, what).with_context("layer " + std::to_string(l)));
    if (c.post_norms)
      for (auto [t, what] : {std::pair{&lw.attn_post_norm, "attn_post_norm"}, {&lw.ffn_post_norm, "ffn_post_norm"}})
        SB_RETURN_IF_ERROR(need(*t, what).with_context("layer " + std::to_string(l)));
    SB_RETURN_IF_ERROR(upload_layer(arena_, lw, n_slots_, static_cast<int64_t>(kv_dim), &layers_[l]));
  }

  const size_t dim = static_cast<size_t>(c.dim), rows = static_cast<size_t>(limits_.max_logit_rows);
  SB_ASSIGN_OR_RETURN(x_, arena_.alloc_floats(mt * dim));
  SB_ASSIGN_OR_RETURN(scratch_, alloc_layer_scratch(arena_, c, mt));
  SB_ASSIGN_OR_RETURN(xl_, arena_.alloc_floats(rows * dim));
  SB_ASSIGN_OR_RETURN(logits_, arena_.alloc_floats(rows * static_cast<size_t>(c.n_vocab)));
  capture_column_.assign(static_cast<size_t>(c.n_layer) + 1, -1);
  if (!capture_layers_.empty()) {
    const size_t n_capture = capture_layers_.size();
    SB_ASSIGN_OR_RETURN(captured_, arena_.alloc_floats(mt * n_capture * dim));
    for (size_t i = 0; i < n_capture; ++i)
      capture_column_[static_cast<size_t>(capture_layers_[i] + 1)] = static_cast<int>(i);
  }
  SB_RETURN_IF_ERROR(plan_.init(arena_, limits_.max_tokens, limits_.max_seqs, limits_.max_logit_rows, kv_max_blocks_));
  const int max_pos = kv_max_blocks_ * kv_block_size_;
  SB_ASSIGN_OR_RETURN(rope_, upload_rope(arena_, c, max_pos));
  rope_local_ = rope_;
  if (c.rope_local_theta > 0) {  // sliding layers: their own base, no scaling (Gemma 3)
    ModelConfig local = c;
    local.rope_theta = c.rope_local_theta;
    local.rope_scaling = RopeScaling{};
    SB_ASSIGN_OR_RETURN(rope_local_, upload_rope(arena_, local, max_pos));
    rope_local_.attn_factor = rope_.attn_factor;  // one factor for every layer
  }
  return ok_status();
}

Status Forward::capture(int layer, int64_t n_tokens) {
  const int column = capture_column_[static_cast<size_t>(layer + 1)];
  if (column < 0) return ok_status();
  const int64_t dim = model_.config.dim;
  const int64_t width = static_cast<int64_t>(capture_layers_.size()) * dim;
  return backend_.copy_rows(x_, dim, captured_ + column * dim, width, n_tokens, dim);
}

Status Forward::run(const ForwardBatch& batch, const KvCache& kv, float* logits) {
  const ModelConfig& c = model_.config;
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  const int64_t n_logits = static_cast<int64_t>(batch.logit_rows.size());
  if (n == 0 || n > limits_.max_tokens || batch.positions.size() != batch.tokens.size() ||
      batch.seqs.size() != batch.tokens.size() || n_logits > limits_.max_logit_rows)
    return invalid_argument("forward: batch of " + std::to_string(n) + " tokens / " + std::to_string(n_logits) +
                            " logit rows does not fit the limits or its spans differ in length");
  SB_CHECK(kv.block_size() == kv_block_size_ && kv.max_blocks_per_seq() == kv_max_blocks_);

  SB_RETURN_IF_ERROR(plan(batch, kv));
  SB_RETURN_IF_ERROR(plan_.upload(backend_, kv));
  AttentionOp att = plan_.attention(c, kv_block_size_, n_slots_);

  Backend& b = backend_;
  SB_RETURN_IF_ERROR(b.embed(tok_embd_, plan_.ids(), x_, n));
  if (c.embed_scale != 1.0f) SB_RETURN_IF_ERROR(b.scale(x_, c.embed_scale, n * c.dim));
  SB_RETURN_IF_ERROR(capture(-1, n));
  for (size_t l = 0; l < layers_.size(); ++l) {
    const bool sliding = c.layer_is_sliding(static_cast<int>(l));
    att.window = sliding ? c.sliding_window : 0;
    const DeviceRope& rope = sliding ? rope_local_ : rope_;
    SB_RETURN_IF_ERROR(
        run_decoder_layer(b, c, layers_[l], x_, scratch_, plan_.positions(), plan_.slots(), rope, att, n));
    SB_RETURN_IF_ERROR(capture(static_cast<int>(l), n));
  }
  if (n_logits == 0) return ok_status();
  SB_RETURN_IF_ERROR(b.gather_rows(x_, plan_.out_rows(), xl_, n_logits, n, c.dim));
  SB_RETURN_IF_ERROR(b.rms_norm(xl_, out_norm_, xl_, n_logits, c.rms_eps));
  SB_RETURN_IF_ERROR(b.matmul(xl_, lm_head_, DeviceWeight{}, logits_, n_logits));
  if (c.final_softcap > 0) SB_RETURN_IF_ERROR(b.softcap(logits_, c.final_softcap, n_logits * c.n_vocab));
  return b.copy_to_host(logits, logits_,
                        static_cast<size_t>(n_logits) * static_cast<size_t>(c.n_vocab) * sizeof(float));
}

Status Forward::plan(const ForwardBatch& batch, const KvCache& kv) {
  const int64_t n = static_cast<int64_t>(batch.tokens.size());
  plan_.clear();
  Status st = ok_status();
  for (int64_t i = 0; i < n && st.ok(); ++i) {
    const int32_t seq = batch.seqs[static_cast<size_t>(i)];
    const int32_t p = batch.positions[static_cast<size_t>(i)];
    const int32_t id = batch.tokens[static_cast<size_t>(i)];
    if (seq < 0 || seq >= kv.max_seqs() || p < 0 || p >= kv.seq_length(seq) || id < 0 ||
        id >= model_.config.n_vocab) {
      st = invalid_argument("forward: token " + std::to_string(i) + " (id " + std::to_string(id) + ", seq " +
                            std::to_string(seq) + ", position " + std::to_string(p) +
                            ") is outside the vocabulary or the sequence's reserved length");
      break;
    }
    int32_t& row = seq_row_[static_cast<size_t>(seq)];
    if (row < 0) {
      if (plan_.n_seqs() == limits_.max_seqs) {
        st = invalid_argument("forward: more than " + std::to_string(limits_.max_seqs) + " sequences in a step");
        break;
      }
      row = plan_.add_seq(seq);
    }
    plan_.add_token(id, p, p, kv.seq_slot(seq, p), row);  // causal: attends up to itself
  }
  for (int32_t seq : plan_.seqs()) seq_row_[static_cast<size_t>(seq)] = -1;
  SB_RETURN_IF_ERROR(st);
  for (int32_t r : batch.logit_rows) {
    if (r < 0 || r >= n) return invalid_argument("forward: logit row out of the batch");
    plan_.add_out_row(r);
  }
  return ok_status();
}

StatusOr<std::vector<std::pair<int, double>>> profile_forward(Forward& forward, KvCache& kv, int max_tokens,
                                                              int max_seqs) {
  SB_CHECK(max_tokens >= 1 && max_tokens <= forward.limits().max_tokens && max_seqs >= 1);
  const int n_rows = std::min(max_tokens, forward.limits().max_logit_rows);
  std::vector<int32_t> tokens, positions, seqs, rows;
  std::vector<float> logits(static_cast<size_t>(n_rows) * static_cast<size_t>(forward.config().n_vocab));
  StepProfiler profiler(max_tokens);
  for (int b; (b = profiler.next()) > 0;) {
    const int n_seqs = std::min({b, max_seqs, forward.limits().max_seqs});
    tokens.clear();
    positions.clear();
    seqs.clear();
    rows.clear();
    bool room = true;
    std::vector<int> created;
    for (int s = 0; s < n_seqs && room; ++s) {
      const int len = b / n_seqs + (s < b % n_seqs);
      const int seq = kv.seq_create();
      if (seq >= 0) created.push_back(seq);
      room = seq >= 0 && kv.seq_grow(seq, len);
      for (int p = 0; p < len && room; ++p) {
        if (static_cast<int>(rows.size()) < n_rows) rows.push_back(static_cast<int32_t>(tokens.size()));
        tokens.push_back(1 % forward.config().n_vocab);
        positions.push_back(p);
        seqs.push_back(seq);
      }
    }
    double best = 0;
    if (room) {
      const ForwardBatch batch{tokens, positions, seqs, rows};
      // The first forward of a process faults the weights in and wakes the
      // threads; timed, it inflated the 1-token point (26 ms against 16 ms for
      // 2 tokens on a 105M model), and the cached profile kept it. One untimed run first.
      const int first = profiler.points().empty() ? -1 : 0;
      for (int rep = first; rep < 0 || profiler.again(rep, best); ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        const Status st = forward.run(batch, kv, logits.data());
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!st.ok()) {
          for (int seq : created) kv.seq_free(seq);
          return st;
        }
        if (rep < 0) continue;
        best = rep == 0 ? sec : std::min(best, sec);
      }
    }
    for (int seq : created) kv.seq_free(seq);
    if (!room) break;
    profiler.add(b, best);
  }
  return profiler.points();
}

}  // namespace sb
