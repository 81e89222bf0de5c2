#include "core/forward.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numbers>
#include <string>

namespace sb {

StatusOr<RopeTable> rope_table(const ModelConfig& c, int max_ctx) {
  const int hd = c.head_dim;
  if (hd <= 0 || hd % 2 != 0) return invalid_argument("rope: head_dim must be even, got " + std::to_string(hd));
  const RopeScaling& s = c.rope_scaling;
  const double factor = s.factor;
  const int orig = s.original_max_position > 0 ? s.original_max_position : c.max_ctx;
  double base = c.rope_theta;
  if (s.type == RopeScalingType::kDynamic && orig > 0 && max_ctx > orig)
    base *= std::pow(factor * max_ctx / orig - (factor - 1), static_cast<double>(hd) / (hd - 2));
  RopeTable t;
  t.inv_freq.resize(static_cast<size_t>(hd / 2));
  const size_t n_pairs = static_cast<size_t>(hd / 2);
  const std::vector<float>& longrope =
      orig > 0 && max_ctx > orig ? s.long_factor : s.short_factor;  // the long factors past the original context
  if (s.type == RopeScalingType::kLongRope && longrope.size() != n_pairs)
    return invalid_argument("rope longrope scaling needs " + std::to_string(n_pairs) + " short and long factors");
  if (!s.freq_factors.empty() && s.freq_factors.size() != n_pairs)
    return invalid_argument("rope_freqs has " + std::to_string(s.freq_factors.size()) + " factors, expected " +
                            std::to_string(n_pairs));
  for (int i = 0; i < hd / 2; ++i) {
    const double inv = 1.0 / std::pow(base, 2.0 * i / hd);
    double out = inv;
    switch (s.type) {
      case RopeScalingType::kNone:
      case RopeScalingType::kDynamic:
        break;
      case RopeScalingType::kLongRope:
        out = inv / longrope[static_cast<size_t>(i)];
        break;
      case RopeScalingType::kLinear:
        out = inv / factor;
        break;
      case RopeScalingType::kLlama3: {
        if (orig <= 0) return invalid_argument("rope llama3 scaling needs original_max_position_embeddings");
        const double low_wavelen = orig / s.low_freq_factor;
        const double high_wavelen = orig / s.high_freq_factor;
        const double wavelen = 2 * std::numbers::pi / inv;
        if (wavelen > low_wavelen) {
          out = inv / factor;
        } else if (wavelen >= high_wavelen) {
          const double smooth = (orig / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          out = (1 - smooth) * inv / factor + smooth * inv;
        }
        break;
      }
      case RopeScalingType::kYarn: {
        if (orig <= 0) return invalid_argument("rope yarn scaling needs original_max_position_embeddings");
        // Dimensions rotating fewer than beta_slow times over orig are interpolated,
        // more than beta_fast times extrapolated, a linear ramp in between.
        auto correction_dim = [&](double n_rot) {
          return hd * std::log(orig / (n_rot * 2 * std::numbers::pi)) / (2 * std::log(c.rope_theta));
        };
        const double low = std::max(0.0, std::floor(correction_dim(s.beta_fast)));
        double high = std::min<double>(hd - 1, std::ceil(correction_dim(s.beta_slow)));
        if (low == high) high += 0.001;
        const double ramp = std::clamp((i - low) / (high - low), 0.0, 1.0);
        const double extrapolation = 1 - ramp;
        out = inv / factor * (1 - extrapolation) + inv * extrapolation;
        break;
      }
    }
    if (!s.freq_factors.empty()) out /= s.freq_factors[static_cast<size_t>(i)];
    t.inv_freq[static_cast<size_t>(i)] = static_cast<float>(out);
  }
  if (s.type == RopeScalingType::kYarn && factor > 1) t.attn_factor = static_cast<float>(0.1 * std::log(factor) + 1);
  if (s.type == RopeScalingType::kLongRope) {
    t.attn_factor = s.attention_factor;
    if (t.attn_factor <= 0)
      t.attn_factor = factor > 1 && orig > 1 ? static_cast<float>(std::sqrt(1 + std::log(factor) / std::log(orig))) : 1.0f;
  }
  return t;
}

Status run_decoder_layer(Backend& b, const ModelConfig& c, const DeviceLayer& L, float* x, const LayerScratch& s,
                         const int32_t* pos, const int32_t* slots, const float* inv_freq, float attn_factor,
                         AttentionOp att, int64_t n) {
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
  SB_RETURN_IF_ERROR(b.rope(s.q, pos, inv_freq, n, c.n_head, hd, c.rope_style, attn_factor));
  SB_RETURN_IF_ERROR(b.rope(s.k, pos, inv_freq, n, c.n_kv_head, hd, c.rope_style, attn_factor));
  SB_RETURN_IF_ERROR(b.kv_store(s.k, s.v, slots, L.k_cache, L.v_cache, n, kv_dim, att.n_slots));
  att.q = s.q;
  att.out = s.att;
  att.k_cache = L.k_cache;
  att.v_cache = L.v_cache;
  SB_RETURN_IF_ERROR(b.attention(att));
  SB_RETURN_IF_ERROR(b.matmul(s.att, L.wo, DeviceWeight{}, s.xn, n));
  if (c.post_norms) SB_RETURN_IF_ERROR(b.rms_norm(s.xn, L.attn_post_norm, s.xn, n, c.rms_eps));
  SB_RETURN_IF_ERROR(b.add(x, s.xn, n * c.dim));
  // Gated MLP block: act(gate) * up, down.
  SB_RETURN_IF_ERROR(b.rms_norm(x, L.ffn_norm, s.xn, n, c.rms_eps));
  SB_RETURN_IF_ERROR(b.matmul(s.xn, L.w_gate, DeviceWeight{}, s.gate, n));
  SB_RETURN_IF_ERROR(b.matmul(s.xn, L.w_up, DeviceWeight{}, s.up, n));
  if (c.act == Activation::kGeluTanh) {
    SB_RETURN_IF_ERROR(b.gelu_tanh_mul(s.gate, s.up, s.gate, n * c.ffn_dim));
  } else {
    SB_RETURN_IF_ERROR(b.silu_mul(s.gate, s.up, s.gate, n * c.ffn_dim));
  }
  SB_RETURN_IF_ERROR(b.matmul(s.gate, L.w_down, DeviceWeight{}, s.xn, n));
  if (c.post_norms) SB_RETURN_IF_ERROR(b.rms_norm(s.xn, L.ffn_post_norm, s.xn, n, c.rms_eps));
  return b.add(x, s.xn, n * c.dim);
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
  const size_t mt = static_cast<size_t>(limits.max_tokens);
  meta_host_.resize(4 * mt + static_cast<size_t>(limits.max_logit_rows) +
                    static_cast<size_t>(limits.max_seqs) * static_cast<size_t>(kv_max_blocks_));
  seq_row_.assign(static_cast<size_t>(kv.max_seqs()), -1);
  row_seq_.resize(static_cast<size_t>(limits.max_seqs));
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
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim;
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  layers_.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const LayerWeights& lw = w.layers[l];
    for (auto [t, what] : {std::pair{&lw.attn_norm, "attn_norm"}, {&lw.wq, "wq"}, {&lw.wk, "wk"}, {&lw.wv, "wv"},
                           {&lw.wo, "wo"}, {&lw.ffn_norm, "ffn_norm"}, {&lw.w_gate, "w_gate"}, {&lw.w_up, "w_up"},
                           {&lw.w_down, "w_down"}})
      SB_RETURN_IF_ERROR(need(*t, what).with_context("layer " + std::to_string(l)));
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

  const size_t dim = static_cast<size_t>(c.dim), ffn = static_cast<size_t>(c.ffn_dim);
  const size_t rows = static_cast<size_t>(limits_.max_logit_rows);
  SB_ASSIGN_OR_RETURN(x_, arena_.alloc_floats(mt * dim));
  SB_ASSIGN_OR_RETURN(xn_, arena_.alloc_floats(mt * dim));
  SB_ASSIGN_OR_RETURN(q_, arena_.alloc_floats(mt * q_dim));
  SB_ASSIGN_OR_RETURN(k_, arena_.alloc_floats(mt * kv_dim));
  SB_ASSIGN_OR_RETURN(v_, arena_.alloc_floats(mt * kv_dim));
  SB_ASSIGN_OR_RETURN(att_, arena_.alloc_floats(mt * q_dim));
  SB_ASSIGN_OR_RETURN(gate_, arena_.alloc_floats(mt * ffn));
  SB_ASSIGN_OR_RETURN(up_, arena_.alloc_floats(mt * ffn));
  SB_ASSIGN_OR_RETURN(xl_, arena_.alloc_floats(rows * dim));
  SB_ASSIGN_OR_RETURN(logits_, arena_.alloc_floats(rows * static_cast<size_t>(c.n_vocab)));
  capture_column_.assign(static_cast<size_t>(c.n_layer) + 1, -1);
  if (!capture_layers_.empty()) {
    const size_t n_capture = capture_layers_.size();
    SB_ASSIGN_OR_RETURN(captured_, arena_.alloc_floats(mt * n_capture * dim));
    for (size_t i = 0; i < n_capture; ++i)
      capture_column_[static_cast<size_t>(capture_layers_[i] + 1)] = static_cast<int>(i);
  }
  SB_ASSIGN_OR_RETURN(float* meta, arena_.alloc_floats(meta_host_.size()));
  meta_ = reinterpret_cast<int32_t*>(meta);

  SB_ASSIGN_OR_RETURN(RopeTable rope, rope_table(c, kv_max_blocks_ * kv_block_size_));
  SB_ASSIGN_OR_RETURN(inv_freq_, arena_.alloc_floats(rope.inv_freq.size()));
  SB_RETURN_IF_ERROR(backend_.copy_to_device(inv_freq_, rope.inv_freq.data(), rope.inv_freq.size() * sizeof(float)));
  attn_factor_ = rope.attn_factor;
  inv_freq_local_ = inv_freq_;
  if (c.rope_local_theta > 0) {  // sliding layers: their own base, no scaling (Gemma 3)
    ModelConfig local = c;
    local.rope_theta = c.rope_local_theta;
    local.rope_scaling = RopeScaling{};
    SB_ASSIGN_OR_RETURN(RopeTable lr, rope_table(local, kv_max_blocks_ * kv_block_size_));
    SB_ASSIGN_OR_RETURN(inv_freq_local_, arena_.alloc_floats(lr.inv_freq.size()));
    SB_RETURN_IF_ERROR(backend_.copy_to_device(inv_freq_local_, lr.inv_freq.data(), lr.inv_freq.size() * sizeof(float)));
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

  // Plan: the step's metadata in one host buffer, one upload.
  const size_t mt = static_cast<size_t>(limits_.max_tokens);
  int32_t* ids = meta_host_.data();
  int32_t* pos = ids + mt;
  int32_t* slots = pos + mt;
  int32_t* token_seq = slots + mt;
  int32_t* rows = token_seq + mt;
  int32_t* tables = rows + limits_.max_logit_rows;
  int64_t n_seqs = 0;
  Status plan = ok_status();
  for (int64_t i = 0; i < n && plan.ok(); ++i) {
    const int32_t seq = batch.seqs[static_cast<size_t>(i)];
    const int32_t p = batch.positions[static_cast<size_t>(i)];
    const int32_t id = batch.tokens[static_cast<size_t>(i)];
    if (seq < 0 || seq >= kv.max_seqs() || p < 0 || p >= kv.seq_length(seq) || id < 0 || id >= c.n_vocab) {
      plan = invalid_argument("forward: token " + std::to_string(i) + " (id " + std::to_string(id) + ", seq " +
                              std::to_string(seq) + ", position " + std::to_string(p) +
                              ") is outside the vocabulary or the sequence's reserved length");
      break;
    }
    int32_t& row = seq_row_[static_cast<size_t>(seq)];
    if (row < 0) {
      if (n_seqs == limits_.max_seqs) {
        plan = invalid_argument("forward: more than " + std::to_string(limits_.max_seqs) + " sequences in a step");
        break;
      }
      row = static_cast<int32_t>(n_seqs);
      row_seq_[static_cast<size_t>(n_seqs++)] = seq;
    }
    ids[i] = id;
    pos[i] = p;
    slots[i] = kv.seq_slot(seq, p);
    token_seq[i] = row;
  }
  for (int64_t r = 0; r < n_seqs; ++r) {
    const int32_t seq = row_seq_[static_cast<size_t>(r)];
    const auto table = kv.seq_block_table(seq);
    std::copy(table.begin(), table.end(), tables + r * kv_max_blocks_);
    seq_row_[static_cast<size_t>(seq)] = -1;
  }
  SB_RETURN_IF_ERROR(plan);
  for (int64_t r = 0; r < n_logits; ++r) {
    rows[r] = batch.logit_rows[static_cast<size_t>(r)];
    if (rows[r] < 0 || rows[r] >= n) return invalid_argument("forward: logit row out of the batch");
  }
  SB_RETURN_IF_ERROR(backend_.copy_to_device(meta_, meta_host_.data(), meta_host_.size() * sizeof(int32_t)));
  const int32_t* d_ids = meta_;
  const int32_t* d_pos = d_ids + mt;
  const int32_t* d_slots = d_pos + mt;
  const int32_t* d_token_seq = d_slots + mt;
  const int32_t* d_rows = d_token_seq + mt;
  const int32_t* d_tables = d_rows + limits_.max_logit_rows;

  const int64_t dim = c.dim, hd = c.head_dim;
  AttentionOp att;
  att.pos = d_pos;
  att.token_seq = d_token_seq;
  att.block_tables = d_tables;
  att.n_tokens = n;
  att.n_seqs = n_seqs;
  att.n_head = c.n_head;
  att.n_kv_head = c.n_kv_head;
  att.head_dim = hd;
  att.block_size = kv_block_size_;
  att.max_blocks = kv_max_blocks_;
  att.n_slots = n_slots_;
  att.scale = c.attn_scale > 0 ? c.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd));
  att.softcap = c.attn_softcap;

  Backend& b = backend_;
  SB_RETURN_IF_ERROR(b.embed(tok_embd_, d_ids, x_, n));
  if (c.embed_scale != 1.0f) SB_RETURN_IF_ERROR(b.scale(x_, c.embed_scale, n * dim));
  SB_RETURN_IF_ERROR(capture(-1, n));
  const LayerScratch scratch{xn_, q_, k_, v_, att_, gate_, up_};
  for (size_t l = 0; l < layers_.size(); ++l) {
    const bool sliding = c.layer_is_sliding(static_cast<int>(l));
    att.window = sliding ? c.sliding_window : 0;
    const float* inv_freq = sliding ? inv_freq_local_ : inv_freq_;
    SB_RETURN_IF_ERROR(
        run_decoder_layer(b, c, layers_[l], x_, scratch, d_pos, d_slots, inv_freq, attn_factor_, att, n));
    SB_RETURN_IF_ERROR(capture(static_cast<int>(l), n));
  }
  if (n_logits == 0) return ok_status();
  SB_RETURN_IF_ERROR(b.gather_rows(x_, d_rows, xl_, n_logits, n, dim));
  SB_RETURN_IF_ERROR(b.rms_norm(xl_, out_norm_, xl_, n_logits, c.rms_eps));
  SB_RETURN_IF_ERROR(b.matmul(xl_, lm_head_, DeviceWeight{}, logits_, n_logits));
  if (c.final_softcap > 0) SB_RETURN_IF_ERROR(b.softcap(logits_, c.final_softcap, n_logits * c.n_vocab));
  return b.copy_to_host(logits, logits_,
                        static_cast<size_t>(n_logits) * static_cast<size_t>(c.n_vocab) * sizeof(float));
}

StatusOr<std::vector<std::pair<int, double>>> profile_forward(Forward& forward, KvCache& kv, int max_tokens,
                                                              int max_seqs) {
  SB_CHECK(max_tokens >= 1 && max_tokens <= forward.limits().max_tokens && max_seqs >= 1);
  const int n_rows = std::min(max_tokens, forward.limits().max_logit_rows);
  std::vector<int32_t> tokens, positions, seqs, rows;
  std::vector<float> logits(static_cast<size_t>(n_rows) * static_cast<size_t>(forward.config().n_vocab));
  std::vector<std::pair<int, double>> points;
  for (int b = 1;; b = std::min(2 * b, max_tokens)) {
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
      for (int rep = 0; rep < 3; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        const Status st = forward.run(batch, kv, logits.data());
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!st.ok()) {
          for (int seq : created) kv.seq_free(seq);
          return st;
        }
        best = rep == 0 ? sec : std::min(best, sec);
      }
    }
    for (int seq : created) kv.seq_free(seq);
    if (!room) break;
    points.emplace_back(b, std::max(best, 1e-9));
    if (b == max_tokens) break;
  }
  return points;
}

}  // namespace sb
