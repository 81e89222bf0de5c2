#include "core/spec/dspark_drafter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/forward.h"
#include "core/spec/confidence_policy.h"
#include "core/step_profiler.h"

namespace sb {

namespace {

std::vector<float> host_f32(const TensorView& t) {
  std::vector<float> out(static_cast<size_t>(t.n_elems()));
  for (int64_t r = 0; r < t.rows; ++r) dequantize_row(t.dtype, t.row(r), out.data() + r * t.cols, t.cols);
  return out;
}

}  // namespace

DSparkDrafter::DSparkDrafter(DSparkModel model, Backend& backend, const DrafterLimits& limits)
    : m_(std::move(model)),
      backend_(backend),
      limits_(limits),
      gamma_(m_.dspark.block_size),
      dim_(m_.model.config.dim),
      n_vocab_(m_.model.config.n_vocab),
      rank_(m_.dspark.markov_rank),
      max_rows_(std::max<int64_t>(limits.max_batch_tokens, int64_t{limits.max_seqs} * m_.dspark.block_size)),
      max_pending_(static_cast<int>(std::min<int64_t>(64, max_rows_))),
      // Contexts never outgrow the target's KV; each request adds its block and partial blocks.
      kv_(static_cast<int>((std::max<int64_t>(limits.kv_cache_tokens, limits.max_ctx) + limits.kv_block_size - 1) /
                               limits.kv_block_size +
                           int64_t{limits.max_seqs} *
                               ((m_.dspark.block_size + limits.kv_block_size - 1) / limits.kv_block_size + 1)),
          limits.kv_block_size, limits.max_seqs, limits.max_ctx + m_.dspark.block_size),
      sampler_(m_.model.config.n_vocab),
      arena_(backend) {
  const size_t rows = static_cast<size_t>(max_rows_), ms = static_cast<size_t>(limits.max_seqs);
  states_.resize(ms);
  active_.reserve(ms);
  host_.resize(rows * static_cast<size_t>(n_vocab_));
  conf_z_host_.resize(rows + ms);
  logits_.resize(static_cast<size_t>(n_vocab_));
  cand_.reserve(static_cast<size_t>(n_vocab_));
}

DSparkDrafter::~DSparkDrafter() = default;

StatusOr<std::unique_ptr<DSparkDrafter>> DSparkDrafter::create(DSparkModel model, Backend& backend,
                                                               const DrafterLimits& limits) {
  if (limits.max_k < 1 || limits.max_seqs < 1 || limits.max_ctx < 1 || limits.kv_block_size < 1 ||
      limits.max_batch_tokens < 1 || limits.kv_cache_tokens < 0)
    return invalid_argument("dspark drafter: limits must be positive");
  if (model.dspark.block_size < 1) return invalid_argument(model.model.path + ": block_size must be at least 1");
  const std::string path = model.model.path;
  std::unique_ptr<DSparkDrafter> d(new DSparkDrafter(std::move(model), backend, limits));
  SB_RETURN_IF_ERROR(d->init().with_context(path));
  return d;
}

Status DSparkDrafter::init() {
  const ModelConfig& c = m_.model.config;
  const ModelWeights& w = m_.model.weights;
  SB_RETURN_IF_ERROR(arena_.upload(w.tok_embd, &tok_embd_));
  SB_RETURN_IF_ERROR(arena_.upload(w.out_norm, &out_norm_));
  SB_RETURN_IF_ERROR(arena_.upload(w.lm_head, &lm_head_));
  SB_RETURN_IF_ERROR(arena_.upload(m_.fc, &fc_));
  SB_RETURN_IF_ERROR(arena_.upload(m_.hidden_norm, &hidden_norm_));
  const int64_t n_slots = int64_t{kv_.n_blocks()} * kv_.block_size();
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  layers_.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l)
    SB_RETURN_IF_ERROR(upload_layer(arena_, w.layers[l], n_slots, static_cast<int64_t>(kv_dim), &layers_[l]));
  if (rank_ > 0) {
    SB_RETURN_IF_ERROR(arena_.upload(m_.markov_w1, &markov_w1_dev_));
    SB_RETURN_IF_ERROR(arena_.upload(m_.markov_w2, &markov_w2_dev_));
  }
  if (m_.dspark.confidence_head) {
    conf_w_ = host_f32(m_.confidence_w);
    conf_b_ = host_f32(m_.confidence_b)[0];
    SB_RETURN_IF_ERROR(arena_.upload(TensorView{"confidence h", DType::kF32, 1, dim_, conf_w_.data()}, &conf_h_));
    if (with_markov_confidence())
      SB_RETURN_IF_ERROR(
          arena_.upload(TensorView{"confidence markov", DType::kF32, 1, rank_, conf_w_.data() + dim_}, &conf_e_));
  }

  const size_t rows = static_cast<size_t>(max_rows_), dim = static_cast<size_t>(dim_);
  const size_t width = m_.dspark.target_layer_ids.size() * dim;
  SB_ASSIGN_OR_RETURN(concat_, arena_.alloc_floats(rows * width));
  SB_ASSIGN_OR_RETURN(pending_, arena_.alloc_floats(static_cast<size_t>(limits_.max_seqs) *
                                                    static_cast<size_t>(max_pending_) * width));
  SB_ASSIGN_OR_RETURN(x_, arena_.alloc_floats(rows * dim));
  SB_ASSIGN_OR_RETURN(scratch_, alloc_layer_scratch(arena_, c, rows));
  SB_ASSIGN_OR_RETURN(out_, arena_.alloc_floats(rows * (dim + static_cast<size_t>(n_vocab_))));
  const size_t ms = static_cast<size_t>(limits_.max_seqs), nv = static_cast<size_t>(n_vocab_);
  SB_ASSIGN_OR_RETURN(head_ids_, arena_.alloc_ints(2 * ms));
  SB_ASSIGN_OR_RETURN(head_u_, arena_.alloc_floats(ms * nv));
  if (m_.dspark.confidence_head) {
    SB_ASSIGN_OR_RETURN(conf_z_, arena_.alloc_floats(rows + ms));
  }
  if (rank_ > 0) {
    SB_ASSIGN_OR_RETURN(head_e_, arena_.alloc_floats(ms * static_cast<size_t>(rank_)));
    SB_ASSIGN_OR_RETURN(head_corr_, arena_.alloc_floats(ms * nv));
  }
  head_host_.resize(2 * ms);
  head_active_.reserve(ms);
  head_out_.resize(ms * nv);
  SB_RETURN_IF_ERROR(plan_.init(arena_, max_rows_, limits_.max_seqs, max_rows_, kv_.max_blocks_per_seq()));
  SB_ASSIGN_OR_RETURN(rope_, upload_rope(arena_, c, kv_.max_blocks_per_seq() * kv_.block_size()));
  return ok_status();
}

DSparkDrafter::State* DSparkDrafter::find(uint64_t id) {
  for (State& s : states_)
    if (s.live && s.id == id) return &s;
  return nullptr;
}

void DSparkDrafter::free_state(State* s) {
  kv_.seq_free(s->seq);
  s->live = false;
  s->seq = -1;
  s->pending = 0;
}

void DSparkDrafter::release(uint64_t id) {
  if (State* s = find(id)) free_state(s);
}

bool DSparkDrafter::plan_context(State* s, int count, int32_t src_row) {
  SB_CHECK(plan_.n_tokens() + count <= max_rows_);
  if (kv_.seq_length(s->seq) > s->ctx) kv_.seq_truncate(s->seq, s->ctx);  // the last block's slots
  if (!kv_.seq_grow(s->seq, s->ctx + count)) return false;
  for (int i = 0; i < count; ++i) {
    const int p = s->ctx + i;
    plan_.add_token(src_row + i, p, p, kv_.seq_slot(s->seq, p), 0);
  }
  s->ctx += count;
  return true;
}

Status DSparkDrafter::flush(State* s) {
  if (s->pending == 0) return ok_status();
  if (plan_.n_tokens() + s->pending > max_rows_)
    SB_RETURN_IF_ERROR(ingest(pending_, int64_t{limits_.max_seqs} * max_pending_));
  const int32_t first = static_cast<int32_t>((s - states_.data()) * max_pending_);
  const int count = s->pending;
  s->pending = 0;
  if (!plan_context(s, count, first)) free_state(s);
  return ok_status();
}

Status DSparkDrafter::observe(const float* captured, std::span<const VerifiedRows> rows) {
  const int64_t width = static_cast<int64_t>(m_.dspark.target_layer_ids.size()) * dim_;
  // First the rows each request keeps: rows re-verified after a rollback replace
  // the old ones; a request whose new rows would overflow its waiting room has
  // the waiting ones ingested.
  plan_.clear();
  for (const VerifiedRows& v : rows) {
    State* s = find(v.id);
    if (s == nullptr && v.position == 0) {
      for (State& e : states_)
        if (!e.live) {
          s = &e;
          s->seq = kv_.seq_create();
          SB_CHECK(s->seq >= 0);  // one sequence per state
          s->live = true;
          s->id = v.id;
          s->ctx = 0;
          s->pending = 0;
          break;
        }
    }
    if (s == nullptr) continue;
    if (v.position > s->ctx + s->pending) {  // a gap: hidden states never seen, nothing to draft from
      free_state(s);
      continue;
    }
    if (v.position < s->ctx) {
      if (kv_.seq_length(s->seq) > v.position) kv_.seq_truncate(s->seq, v.position);
      s->ctx = v.position;
    }
    s->pending = v.position - s->ctx;
    if (s->pending + v.count > max_pending_) SB_RETURN_IF_ERROR(flush(s));
  }
  SB_RETURN_IF_ERROR(ingest(pending_, int64_t{limits_.max_seqs} * max_pending_));
  // Then the new rows: kept while they fit, else (a long prompt chunk) ingested at once.
  for (const VerifiedRows& v : rows) {
    State* s = find(v.id);
    if (s == nullptr || s->ctx + s->pending != v.position) continue;
    if (s->pending + v.count <= max_pending_) {
      const size_t at = static_cast<size_t>((s - states_.data()) * max_pending_ + s->pending);
      SB_RETURN_IF_ERROR(backend_.copy_rows(captured + static_cast<int64_t>(v.row) * width, width,
                                            pending_ + at * static_cast<size_t>(width), width, v.count, width));
      s->pending += v.count;
    } else if (!plan_context(s, v.count, v.row)) {
      free_state(s);
    }
  }
  return ingest(captured, limits_.max_batch_tokens);
}

Status DSparkDrafter::ingest(const float* src, int64_t n_src) {
  const int64_t n = plan_.n_tokens();
  if (n == 0) return ok_status();
  const ModelConfig& c = m_.model.config;
  SB_RETURN_IF_ERROR(plan_.upload(backend_, kv_));
  plan_.clear();
  const int64_t width = static_cast<int64_t>(m_.dspark.target_layer_ids.size()) * dim_;
  const int64_t kv_dim = int64_t{c.n_kv_head} * c.head_dim;
  const int64_t n_slots = int64_t{kv_.n_blocks()} * kv_.block_size();
  Backend& b = backend_;
  float* k = scratch_.k;
  float* v = scratch_.v;
  // u = hidden_norm(fc(concat)); in every layer its keys and values are the context's.
  SB_RETURN_IF_ERROR(b.gather_rows(src, plan_.ids(), concat_, n, n_src, width));
  SB_RETURN_IF_ERROR(b.matmul(concat_, fc_, DeviceWeight{}, x_, n));
  SB_RETURN_IF_ERROR(b.rms_norm(x_, hidden_norm_, x_, n, c.rms_eps));
  for (const DeviceLayer& L : layers_) {
    SB_RETURN_IF_ERROR(b.matmul(x_, L.wk, L.bk, k, n));
    SB_RETURN_IF_ERROR(b.matmul(x_, L.wv, L.bv, v, n));
    if (c.qk_norm) SB_RETURN_IF_ERROR(b.rms_norm(k, L.k_norm, k, n * c.n_kv_head, c.rms_eps));
    SB_RETURN_IF_ERROR(
        b.rope(k, plan_.positions(), rope_.inv_freq, n, c.n_kv_head, c.head_dim, c.rope_style, rope_.attn_factor));
    SB_RETURN_IF_ERROR(b.kv_store(k, v, plan_.slots(), L.k_cache, L.v_cache, n, kv_dim, n_slots));
  }
  return ok_status();
}

Status DSparkDrafter::run_block() {
  const ModelConfig& c = m_.model.config;
  const int64_t n = plan_.n_tokens(), dim = dim_;
  // RoPE turns each block token by its own position, but every block token
  // attends to the context and the whole block: its limit is the block's end.
  const AttentionOp att = plan_.attention(c, kv_.block_size(), int64_t{kv_.n_blocks()} * kv_.block_size());
  Backend& b = backend_;
  SB_RETURN_IF_ERROR(plan_.upload(b, kv_));
  SB_RETURN_IF_ERROR(b.embed(tok_embd_, plan_.ids(), x_, n));
  for (const DeviceLayer& L : layers_)
    SB_RETURN_IF_ERROR(run_decoder_layer(b, c, L, x_, scratch_, plan_.positions(), plan_.slots(), rope_, att, n));
  // h = norm(x) of the rows drafts are drawn from, then U = lm_head(h), which
  // stays for the Markov head, and the confidence head's h part, copied back.
  const int64_t n_out = plan_.n_out_rows();
  float* h = out_;
  float* logits = out_ + n_out * dim;
  SB_RETURN_IF_ERROR(b.gather_rows(x_, plan_.out_rows(), h, n_out, n, dim));
  SB_RETURN_IF_ERROR(b.rms_norm(h, out_norm_, h, n_out, c.rms_eps));
  SB_RETURN_IF_ERROR(b.matmul(h, lm_head_, DeviceWeight{}, logits, n_out));
  n_out_ = static_cast<size_t>(n_out);
  if (!m_.dspark.confidence_head) return ok_status();
  SB_RETURN_IF_ERROR(b.matmul(h, conf_h_, DeviceWeight{}, conf_z_, n_out));
  return b.copy_to_host(conf_z_host_.data(), conf_z_, n_out_ * sizeof(float));
}

Status DSparkDrafter::head_logits(int n) {
  Backend& b = backend_;
  const size_t ms = static_cast<size_t>(limits_.max_seqs), nv = static_cast<size_t>(n_vocab_);
  SB_RETURN_IF_ERROR(b.copy_to_device(head_ids_, head_host_.data(), 2 * ms * sizeof(int32_t)));
  const float* u = out_ + n_out_ * static_cast<size_t>(dim_);
  SB_RETURN_IF_ERROR(b.gather_rows(u, head_ids_ + ms, head_u_, n, static_cast<int64_t>(n_out_), n_vocab_));
  if (rank_ > 0) {
    SB_RETURN_IF_ERROR(b.embed(markov_w1_dev_, head_ids_, head_e_, n));
    SB_RETURN_IF_ERROR(b.matmul(head_e_, markov_w2_dev_, DeviceWeight{}, head_corr_, n));
    SB_RETURN_IF_ERROR(b.add(head_u_, head_corr_, int64_t{n} * n_vocab_));
  }
  if (with_markov_confidence()) {
    float* z = conf_z_ + max_rows_;
    SB_RETURN_IF_ERROR(b.matmul(head_e_, conf_e_, DeviceWeight{}, z, n));
    SB_RETURN_IF_ERROR(b.copy_to_host(conf_z_host_.data() + max_rows_, z, static_cast<size_t>(n) * sizeof(float)));
  }
  SB_RETURN_IF_ERROR(b.copy_to_host(head_out_.data(), head_u_, static_cast<size_t>(n) * nv * sizeof(float)));
  float* logits = host_.data();
  for (size_t i = 0; i < static_cast<size_t>(n); ++i)
    std::copy_n(head_out_.data() + i * nv, nv, logits + static_cast<size_t>(head_host_[ms + i]) * nv);
  return ok_status();
}

float DSparkDrafter::confidence(size_t row, size_t k) const {
  double z = conf_b_ + static_cast<double>(conf_z_host_[row]);
  if (with_markov_confidence()) z += conf_z_host_[static_cast<size_t>(max_rows_) + k];
  return static_cast<float>(1 / (1 + std::exp(-z)));
}

bool DSparkDrafter::plan_block(const DraftRequest& r, State* s, int n_draft) {
  // The block's slots follow the context (replacing the last call's block).
  const int p = static_cast<int>(r.tokens.size()) - 1;
  if (kv_.seq_length(s->seq) > p) kv_.seq_truncate(s->seq, p);
  if (!kv_.seq_grow(s->seq, p + gamma_)) return false;
  const int row = plan_.add_seq(s->seq);
  for (int j = 0; j < gamma_; ++j) {
    if (j < n_draft) plan_.add_out_row(static_cast<int32_t>(plan_.n_tokens()));
    const int32_t id = j == 0 ? r.tokens[static_cast<size_t>(p)] : m_.dspark.mask_token_id;
    plan_.add_token(id, p + j, p + gamma_ - 1, kv_.seq_slot(s->seq, p + j), row);
  }
  return true;
}

Status DSparkDrafter::propose(std::span<const DraftRequest> requests, const DraftStop& stop) {
  // The drafting requests' waiting rows become context first.
  plan_.clear();
  for (const DraftRequest& r : requests)
    if (State* s = find(r.id)) SB_RETURN_IF_ERROR(flush(s));
  SB_RETURN_IF_ERROR(ingest(pending_, int64_t{limits_.max_seqs} * max_pending_));
  active_.clear();
  plan_.clear();
  n_out_ = 0;
  pass_times_.clear();
  for (size_t m = 0; m < requests.size(); ++m) {
    const DraftRequest& r = requests[m];
    SB_CHECK(r.k >= 1 && r.k <= limits_.max_k && !r.tokens.empty() && r.out != nullptr && r.sampling != nullptr);
    r.out->clear();
    State* s = find(r.id);
    // Only with the context verified up to the last known token.
    if (s == nullptr || s->ctx != static_cast<int>(r.tokens.size()) - 1) continue;
    const int n_draft = std::min(r.k, gamma_);
    if (!plan_block(r, s, n_draft)) continue;
    const int row = active_.empty() ? 0 : active_.back().row + active_.back().n_draft;
    active_.push_back({m, s, n_draft, row});
  }
  if (active_.empty()) return ok_status();
  // The pass, as profile_pass_cost() times it: the block forward and the heads.
  const int n_tokens = static_cast<int>(plan_.n_tokens());
  const auto start = std::chrono::steady_clock::now();
  SB_RETURN_IF_ERROR(run_block());
  SB_RETURN_IF_ERROR(draw_blocks(requests, stop));
  record_pass(n_tokens, start);
  return ok_status();
}

Status DSparkDrafter::draw_blocks(std::span<const DraftRequest> requests, const DraftStop& stop) {
  // Left to right, every request still drafting at once: logits_k = U_k +
  // markov_w2 . markov_w1[x_{k-1}], x_0 the last known token. The confidence c_k
  // reads h_k and x_{k-1}, never x_k, so admission and early stop on it decide
  // whether x_k is verified without looking at x_k: verification stays lossless.
  const size_t ms = static_cast<size_t>(limits_.max_seqs), nv = static_cast<size_t>(n_vocab_);
  const float* logits = host_.data();
  for (int j = 0; j < gamma_; ++j) {
    head_active_.clear();
    for (size_t i = 0; i < active_.size(); ++i) {
      const Active& a = active_[i];
      if (!a.drafting || j >= a.n_draft) continue;
      const DraftRequest& r = requests[a.m];
      head_host_[head_active_.size()] = j == 0 ? r.tokens.back() : r.out->tokens.back();
      head_host_[ms + head_active_.size()] = a.row + j;
      head_active_.push_back(i);
    }
    if (head_active_.empty()) break;
    SB_RETURN_IF_ERROR(head_logits(static_cast<int>(head_active_.size())));
    for (size_t k = 0; k < head_active_.size(); ++k) {
      Active& a = active_[head_active_[k]];
      const DraftRequest& r = requests[a.m];
      const size_t row = static_cast<size_t>(a.row + j);
      std::copy_n(logits + row * nv, nv, logits_.begin());  // the rule masks the copy
      float c = draw_draft_token(r, logits_.data(), n_vocab_, j, sampler_, cand_);
      if (c < 0) {  // the request's rule allows nothing here
        a.drafting = false;
        continue;
      }
      if (m_.dspark.confidence_head) {
        c = confidence(row, k);
        r.out->confidence.back() = c;
      }
      a.drafting = stop.survives(r, j, c, &a.survival);  // a token under the marginal is kept, as in ModelDrafter
    }
  }
  return ok_status();
}

StatusOr<std::vector<std::pair<int, double>>> DSparkDrafter::profile_pass_cost(int max_requests) {
  const int most = std::min({max_requests, limits_.max_seqs, static_cast<int>(max_rows_ / gamma_)});
  if (most < 1) return std::vector<std::pair<int, double>>{};
  StepProfiler profiler(most);
  std::vector<int> created;
  for (int b; (b = profiler.next()) > 0;) {
    plan_.clear();
    created.clear();
    bool room = true;
    for (int r = 0; r < b && room; ++r) {
      const int seq = kv_.seq_create();
      if (seq >= 0) created.push_back(seq);
      room = seq >= 0 && kv_.seq_grow(seq, gamma_);
      if (!room) break;
      const int row = plan_.add_seq(seq);
      for (int j = 0; j < gamma_; ++j) {
        plan_.add_out_row(static_cast<int32_t>(plan_.n_tokens()));
        plan_.add_token(m_.dspark.mask_token_id, j, gamma_ - 1, kv_.seq_slot(seq, j), row);
      }
    }
    double best = 0;
    Status st = ok_status();
    // An untimed first pass (cold weights and threads), as profile_forward does.
    const int first = profiler.points().empty() ? -1 : 0;
    for (int rep = first; room && st.ok() && (rep < 0 || profiler.again(rep, best)); ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      st = run_block();
      // The heads for every block position, as draw_blocks() runs them.
      for (int j = 0; j < gamma_ && st.ok(); ++j) {
        for (int r = 0; r < b; ++r) {
          head_host_[static_cast<size_t>(r)] = m_.dspark.mask_token_id;
          head_host_[static_cast<size_t>(limits_.max_seqs + r)] = r * gamma_ + j;
        }
        st = head_logits(b);
      }
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (rep >= 0) best = rep == 0 ? sec : std::min(best, sec);
    }
    for (int seq : created) kv_.seq_free(seq);
    plan_.clear();
    n_out_ = 0;
    SB_RETURN_IF_ERROR(st);
    if (!room) break;
    profiler.add(b * gamma_, best);
  }
  return profiler.points();
}

}  // namespace sb
