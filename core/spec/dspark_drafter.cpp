#include "core/spec/dspark_drafter.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/forward.h"
#include "core/spec/confidence_policy.h"

namespace sb {

namespace {

// Plan fields in meta_host_, each max_rows long, then the block tables.
enum Field : int64_t { kIds, kPos, kLimit, kSlots, kTokenSeq, kOutRows, kFields };

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
  meta_host_.resize(kFields * rows + ms * static_cast<size_t>(kv_.max_blocks_per_seq()));
  row_seq_.reserve(ms);
  active_.reserve(ms);
  host_.resize(rows * static_cast<size_t>(dim_ + n_vocab_));
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
  const size_t q_dim = static_cast<size_t>(c.n_head) * c.head_dim;
  const size_t kv_dim = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  layers_.resize(w.layers.size());
  for (size_t l = 0; l < w.layers.size(); ++l)
    SB_RETURN_IF_ERROR(upload_layer(arena_, w.layers[l], n_slots, static_cast<int64_t>(kv_dim), &layers_[l]));
  if (rank_ > 0) {
    markov_w1_ = host_f32(m_.markov_w1);
    markov_w2_ = host_f32(m_.markov_w2);
  }
  if (m_.dspark.confidence_head) {
    conf_w_ = host_f32(m_.confidence_w);
    conf_b_ = host_f32(m_.confidence_b)[0];
  }

  const size_t rows = static_cast<size_t>(max_rows_), dim = static_cast<size_t>(dim_);
  const size_t ffn = static_cast<size_t>(c.ffn_dim);
  SB_ASSIGN_OR_RETURN(concat_, arena_.alloc_floats(rows * m_.dspark.target_layer_ids.size() * dim));
  SB_ASSIGN_OR_RETURN(pending_, arena_.alloc_floats(static_cast<size_t>(limits_.max_seqs) * static_cast<size_t>(max_pending_) *
                                             m_.dspark.target_layer_ids.size() * dim));
  SB_ASSIGN_OR_RETURN(x_, arena_.alloc_floats(rows * dim));
  SB_ASSIGN_OR_RETURN(xn_, arena_.alloc_floats(rows * dim));
  SB_ASSIGN_OR_RETURN(q_, arena_.alloc_floats(rows * q_dim));
  SB_ASSIGN_OR_RETURN(k_, arena_.alloc_floats(rows * kv_dim));
  SB_ASSIGN_OR_RETURN(v_, arena_.alloc_floats(rows * kv_dim));
  SB_ASSIGN_OR_RETURN(att_, arena_.alloc_floats(rows * q_dim));
  SB_ASSIGN_OR_RETURN(gate_, arena_.alloc_floats(rows * ffn));
  SB_ASSIGN_OR_RETURN(up_, arena_.alloc_floats(rows * ffn));
  SB_ASSIGN_OR_RETURN(out_, arena_.alloc_floats(rows * (dim + static_cast<size_t>(n_vocab_))));
  SB_ASSIGN_OR_RETURN(float* meta, arena_.alloc_floats(meta_host_.size()));
  meta_ = reinterpret_cast<int32_t*>(meta);
  SB_ASSIGN_OR_RETURN(RopeTable rope, rope_table(c, kv_.max_blocks_per_seq() * kv_.block_size()));
  SB_ASSIGN_OR_RETURN(inv_freq_, arena_.alloc_floats(rope.inv_freq.size()));
  SB_RETURN_IF_ERROR(backend_.copy_to_device(inv_freq_, rope.inv_freq.data(), rope.inv_freq.size() * sizeof(float)));
  attn_factor_ = rope.attn_factor;
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

Status DSparkDrafter::upload_plan() {
  const size_t mb = static_cast<size_t>(kv_.max_blocks_per_seq());
  int32_t* tables = meta_host_.data() + kFields * max_rows_;
  for (size_t r = 0; r < row_seq_.size(); ++r) {
    const auto table = kv_.seq_block_table(row_seq_[r]);
    std::copy(table.begin(), table.end(), tables + r * mb);
  }
  return backend_.copy_to_device(meta_, meta_host_.data(), meta_host_.size() * sizeof(int32_t));
}

bool DSparkDrafter::plan_context(State* s, int count, int32_t src_row, int64_t* n) {
  SB_CHECK(*n + count <= max_rows_);
  if (kv_.seq_length(s->seq) > s->ctx) kv_.seq_truncate(s->seq, s->ctx);  // the last block's slots
  if (!kv_.seq_grow(s->seq, s->ctx + count)) return false;
  int32_t* gather = meta_host_.data() + kIds * max_rows_;
  int32_t* pos = meta_host_.data() + kPos * max_rows_;
  int32_t* slots = meta_host_.data() + kSlots * max_rows_;
  for (int i = 0; i < count; ++i, ++*n) {
    gather[*n] = src_row + i;
    pos[*n] = s->ctx + i;
    slots[*n] = kv_.seq_slot(s->seq, s->ctx + i);
  }
  s->ctx += count;
  return true;
}

Status DSparkDrafter::flush(State* s, int64_t* n) {
  if (s->pending == 0) return ok_status();
  if (*n + s->pending > max_rows_) {
    SB_RETURN_IF_ERROR(ingest(pending_, int64_t{limits_.max_seqs} * max_pending_, *n));
    *n = 0;
  }
  const int32_t first = static_cast<int32_t>((s - states_.data()) * max_pending_);
  const int count = s->pending;
  s->pending = 0;
  if (!plan_context(s, count, first, n)) free_state(s);
  return ok_status();
}

Status DSparkDrafter::observe(const float* captured, std::span<const VerifiedRows> rows) {
  const int64_t width = static_cast<int64_t>(m_.dspark.target_layer_ids.size()) * dim_;
  // First the rows each request keeps: rows re-verified after a rollback replace
  // the old ones; a request whose new rows would overflow its waiting room has
  // the waiting ones ingested.
  int64_t n = 0;
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
    if (s->pending + v.count > max_pending_) SB_RETURN_IF_ERROR(flush(s, &n));
  }
  SB_RETURN_IF_ERROR(ingest(pending_, int64_t{limits_.max_seqs} * max_pending_, n));
  // Then the new rows: kept while they fit, else (a long prompt chunk) ingested at once.
  n = 0;
  for (const VerifiedRows& v : rows) {
    State* s = find(v.id);
    if (s == nullptr || s->ctx + s->pending != v.position) continue;
    if (s->pending + v.count <= max_pending_) {
      const size_t at = static_cast<size_t>((s - states_.data()) * max_pending_ + s->pending);
      SB_RETURN_IF_ERROR(backend_.copy_rows(captured + static_cast<int64_t>(v.row) * width, width,
                                            pending_ + at * static_cast<size_t>(width), width, v.count, width));
      s->pending += v.count;
    } else if (!plan_context(s, v.count, v.row, &n)) {
      free_state(s);
    }
  }
  return ingest(captured, limits_.max_batch_tokens, n);
}

Status DSparkDrafter::ingest(const float* src, int64_t n_src, int64_t n) {
  if (n == 0) return ok_status();
  const ModelConfig& c = m_.model.config;
  row_seq_.clear();
  SB_RETURN_IF_ERROR(upload_plan());
  const int32_t* d_gather = meta_ + kIds * max_rows_;
  const int32_t* d_pos = meta_ + kPos * max_rows_;
  const int32_t* d_slots = meta_ + kSlots * max_rows_;
  const int64_t width = static_cast<int64_t>(m_.dspark.target_layer_ids.size()) * dim_;
  const int64_t kv_dim = int64_t{c.n_kv_head} * c.head_dim;
  const int64_t n_slots = int64_t{kv_.n_blocks()} * kv_.block_size();
  Backend& b = backend_;
  // u = hidden_norm(fc(concat)); in every layer its keys and values are the context's.
  SB_RETURN_IF_ERROR(b.gather_rows(src, d_gather, concat_, n, n_src, width));
  SB_RETURN_IF_ERROR(b.matmul(concat_, fc_, DeviceWeight{}, x_, n));
  SB_RETURN_IF_ERROR(b.rms_norm(x_, hidden_norm_, x_, n, c.rms_eps));
  for (const DeviceLayer& L : layers_) {
    SB_RETURN_IF_ERROR(b.matmul(x_, L.wk, L.bk, k_, n));
    SB_RETURN_IF_ERROR(b.matmul(x_, L.wv, L.bv, v_, n));
    if (c.qk_norm) SB_RETURN_IF_ERROR(b.rms_norm(k_, L.k_norm, k_, n * c.n_kv_head, c.rms_eps));
    SB_RETURN_IF_ERROR(b.rope(k_, d_pos, inv_freq_, n, c.n_kv_head, c.head_dim, c.rope_style, attn_factor_));
    SB_RETURN_IF_ERROR(b.kv_store(k_, v_, d_slots, L.k_cache, L.v_cache, n, kv_dim, n_slots));
  }
  return ok_status();
}

Status DSparkDrafter::run_block(int64_t n) {
  const ModelConfig& c = m_.model.config;
  const int64_t dim = dim_, hd = c.head_dim;
  const int32_t* d_ids = meta_ + kIds * max_rows_;
  const int32_t* d_pos = meta_ + kPos * max_rows_;
  const int32_t* d_slots = meta_ + kSlots * max_rows_;
  AttentionOp att;
  // RoPE turns each block token by its own position, but every block token
  // attends to the context and the whole block: its limit is the block's end.
  att.pos = meta_ + kLimit * max_rows_;
  att.token_seq = meta_ + kTokenSeq * max_rows_;
  att.block_tables = meta_ + kFields * max_rows_;
  att.n_tokens = n;
  att.n_seqs = static_cast<int64_t>(row_seq_.size());
  att.n_head = c.n_head;
  att.n_kv_head = c.n_kv_head;
  att.head_dim = hd;
  att.block_size = kv_.block_size();
  att.max_blocks = kv_.max_blocks_per_seq();
  att.n_slots = int64_t{kv_.n_blocks()} * kv_.block_size();
  att.scale = 1.0f / std::sqrt(static_cast<float>(hd));

  Backend& b = backend_;
  SB_RETURN_IF_ERROR(b.embed(tok_embd_, d_ids, x_, n));
  const LayerScratch scratch{xn_, q_, k_, v_, att_, gate_, up_};
  for (const DeviceLayer& L : layers_)
    SB_RETURN_IF_ERROR(run_decoder_layer(b, c, L, x_, scratch, d_pos, d_slots, inv_freq_, attn_factor_, att, n));
  // h = norm(x) of the rows drafts are drawn from, then U = lm_head(h): one copy back.
  const int64_t n_out = static_cast<int64_t>(n_out_);
  float* h = out_;
  float* logits = out_ + n_out * dim;
  SB_RETURN_IF_ERROR(b.gather_rows(x_, meta_ + kOutRows * max_rows_, h, n_out, n, dim));
  SB_RETURN_IF_ERROR(b.rms_norm(h, out_norm_, h, n_out, c.rms_eps));
  SB_RETURN_IF_ERROR(b.matmul(h, lm_head_, DeviceWeight{}, logits, n_out));
  return b.copy_to_host(host_.data(), out_, n_out_ * static_cast<size_t>(dim_ + n_vocab_) * sizeof(float));
}

float DSparkDrafter::confidence(const float* h, int32_t prev) const {
  double z = conf_b_;
  for (int i = 0; i < dim_; ++i) z += static_cast<double>(conf_w_[static_cast<size_t>(i)]) * h[i];
  if (m_.dspark.confidence_head_with_markov) {
    const float* e = markov_w1_.data() + static_cast<size_t>(prev) * static_cast<size_t>(rank_);
    for (int i = 0; i < rank_; ++i) z += static_cast<double>(conf_w_[static_cast<size_t>(dim_ + i)]) * e[i];
  }
  return static_cast<float>(1 / (1 + std::exp(-z)));
}

Status DSparkDrafter::propose(std::span<const DraftRequest> requests, const DraftStop& stop) {
  // The drafting requests' waiting rows become context first.
  int64_t n_flush = 0;
  for (const DraftRequest& r : requests)
    if (State* s = find(r.id)) SB_RETURN_IF_ERROR(flush(s, &n_flush));
  SB_RETURN_IF_ERROR(ingest(pending_, int64_t{limits_.max_seqs} * max_pending_, n_flush));
  active_.clear();
  row_seq_.clear();
  int32_t* ids = meta_host_.data() + kIds * max_rows_;
  int32_t* pos = meta_host_.data() + kPos * max_rows_;
  int32_t* limit = meta_host_.data() + kLimit * max_rows_;
  int32_t* slots = meta_host_.data() + kSlots * max_rows_;
  int32_t* token_seq = meta_host_.data() + kTokenSeq * max_rows_;
  int32_t* out_rows = meta_host_.data() + kOutRows * max_rows_;
  int64_t n = 0;
  n_out_ = 0;
  for (size_t m = 0; m < requests.size(); ++m) {
    const DraftRequest& r = requests[m];
    SB_CHECK(r.k >= 1 && r.k <= limits_.max_k && !r.tokens.empty() && r.out != nullptr && r.sampling != nullptr);
    r.out->clear();
    State* s = find(r.id);
    const int p = static_cast<int>(r.tokens.size()) - 1;
    if (s == nullptr || s->ctx != p) continue;  // context not verified up to the last known token
    // The block's slots follow the context (replacing the last call's block).
    if (kv_.seq_length(s->seq) > p) kv_.seq_truncate(s->seq, p);
    if (!kv_.seq_grow(s->seq, p + gamma_)) continue;
    const int row = static_cast<int>(row_seq_.size());
    row_seq_.push_back(s->seq);
    const int n_draft = std::min(r.k, gamma_);
    active_.push_back({m, s, n_draft});
    for (int j = 0; j < gamma_; ++j, ++n) {
      ids[n] = j == 0 ? r.tokens[static_cast<size_t>(p)] : m_.dspark.mask_token_id;
      pos[n] = p + j;
      limit[n] = p + gamma_ - 1;
      slots[n] = kv_.seq_slot(s->seq, p + j);
      token_seq[n] = row;
      if (j < n_draft) out_rows[n_out_++] = static_cast<int32_t>(n);
    }
  }
  if (active_.empty()) return ok_status();
  SB_RETURN_IF_ERROR(upload_plan());
  SB_RETURN_IF_ERROR(run_block(n));

  // Left to right per request: logits_k = U_k + markov_w2 . markov_w1[x_{k-1}],
  // x_0 the last known token. The confidence c_k reads h_k and x_{k-1}, never x_k,
  // so admission and early stop on it decide whether x_k is verified without
  // looking at x_k: verification stays lossless.
  const float* h_rows = host_.data();
  const float* u_rows = host_.data() + n_out_ * static_cast<size_t>(dim_);
  const size_t nv = static_cast<size_t>(n_vocab_), r_ = static_cast<size_t>(rank_);
  size_t row = 0;
  for (const Active& a : active_) {
    const DraftRequest& r = requests[a.m];
    double survival = 1;
    for (int j = 0; j < a.n_draft; ++j) {
      const int32_t prev = j == 0 ? r.tokens.back() : r.out->tokens.back();
      const float* u = u_rows + (row + static_cast<size_t>(j)) * nv;
      if (rank_ > 0) {
        const float* e = markov_w1_.data() + static_cast<size_t>(prev) * r_;
        for (size_t v = 0; v < nv; ++v) {
          const float* w2 = markov_w2_.data() + v * r_;
          float corr = 0;
          for (size_t i = 0; i < r_; ++i) corr += w2[i] * e[i];
          logits_[v] = u[v] + corr;
        }
      } else {
        std::copy(u, u + nv, logits_.begin());
      }
      float c = draw_draft_token(r, logits_.data(), n_vocab_, j, sampler_, cand_);
      if (c < 0) break;  // the request's rule allows nothing here
      if (m_.dspark.confidence_head) {
        c = confidence(h_rows + (row + static_cast<size_t>(j)) * static_cast<size_t>(dim_), prev);
        r.out->confidence.back() = c;
      }
      if (stop.calibrator != nullptr) {
        survival *= stop.calibrator->calibrated(j, c);
        if (survival < stop.min_survival) break;  // this token is kept, as in ModelDrafter
      }
    }
    row += static_cast<size_t>(a.n_draft);
  }
  return ok_status();
}

StatusOr<std::vector<std::pair<int, double>>> DSparkDrafter::profile_pass_cost(int max_requests) {
  const int most = std::min({max_requests, limits_.max_seqs, static_cast<int>(max_rows_ / gamma_)});
  int32_t* ids = meta_host_.data() + kIds * max_rows_;
  int32_t* pos = meta_host_.data() + kPos * max_rows_;
  int32_t* limit = meta_host_.data() + kLimit * max_rows_;
  int32_t* slots = meta_host_.data() + kSlots * max_rows_;
  int32_t* token_seq = meta_host_.data() + kTokenSeq * max_rows_;
  int32_t* out_rows = meta_host_.data() + kOutRows * max_rows_;
  std::vector<std::pair<int, double>> points;
  for (int b = 1; most >= 1; b = std::min(2 * b, most)) {
    row_seq_.clear();
    int64_t n = 0;
    bool room = true;
    for (int r = 0; r < b && room; ++r) {
      const int seq = kv_.seq_create();
      if (seq >= 0) row_seq_.push_back(seq);
      room = seq >= 0 && kv_.seq_grow(seq, gamma_);
      for (int j = 0; j < gamma_ && room; ++j, ++n) {
        ids[n] = m_.dspark.mask_token_id;
        pos[n] = j;
        limit[n] = gamma_ - 1;
        slots[n] = kv_.seq_slot(seq, j);
        token_seq[n] = r;
        out_rows[n] = static_cast<int32_t>(n);
      }
    }
    n_out_ = static_cast<size_t>(n);
    double best = 0;
    Status st = room ? upload_plan() : ok_status();
    for (int rep = 0; rep < 3 && room && st.ok(); ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      st = run_block(n);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = rep == 0 ? sec : std::min(best, sec);
    }
    for (int seq : row_seq_) kv_.seq_free(seq);
    row_seq_.clear();
    n_out_ = 0;
    SB_RETURN_IF_ERROR(st);
    if (!room) break;
    points.emplace_back(b * gamma_, std::max(best, 1e-9));
    if (b == most) break;
  }
  return points;
}

}  // namespace sb
