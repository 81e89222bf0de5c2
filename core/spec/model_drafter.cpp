#include "core/spec/model_drafter.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "core/model/model_quantize.h"
#include "core/spec/confidence_policy.h"
#include "core/tokenizer/tokenizer.h"

namespace sb {

namespace {

Status same_vocabulary(const std::string& spec, const Tokenizer& draft, const Tokenizer& target) {
  const int n = std::min(draft.n_vocab(), target.n_vocab());
  for (int i = 0; i < n; ++i)
    if (draft.token_piece(i) != target.token_piece(i))
      return invalid_argument("--draft " + spec + ": the vocabulary differs from the target's at token id " +
                              std::to_string(i) + ": '" + draft.token_piece(i) + "' in the draft, '" +
                              target.token_piece(i) + "' in the target");
  if (draft.n_vocab() != target.n_vocab())
    return invalid_argument("--draft " + spec + ": the vocabulary has " + std::to_string(draft.n_vocab()) +
                            " tokens, the target's " + std::to_string(target.n_vocab()) +
                            " (the first differing token id is " + std::to_string(n) + ")");
  return ok_status();
}

}  // namespace

StatusOr<Model> load_draft_model(const DraftSpec& spec, const Model& target, const Tokenizer& target_tokenizer) {
  SB_CHECK(spec.needs_model());
  if (spec.kind == DraftSpec::Kind::kSelf) {
    SB_ASSIGN_OR_RETURN(Model draft, quantize_model(target, spec.self_dtype));
    draft.path = target.path + " (" + spec.text + ")";
    return draft;
  }
  SB_ASSIGN_OR_RETURN(Model draft, load_model(spec.path));
  SB_ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tokenizer, Tokenizer::load(spec.path));
  SB_RETURN_IF_ERROR(same_vocabulary(spec.text, *tokenizer, target_tokenizer));
  return draft;
}

ModelDrafter::ModelDrafter(const Model& draft, const DrafterLimits& limits, int64_t kv_tokens)
    : limits_(limits),
      n_vocab_(draft.config.n_vocab),
      kv_(static_cast<int>((kv_tokens + limits.kv_block_size - 1) / limits.kv_block_size), limits.kv_block_size,
          limits.max_seqs, limits.max_ctx),
      sampler_(draft.config.n_vocab) {
  const size_t ms = static_cast<size_t>(limits.max_seqs), mt = static_cast<size_t>(limits.max_batch_tokens);
  states_.resize(ms);
  for (State& s : states_) s.fed.resize(static_cast<size_t>(limits.max_k));
  active_.reserve(ms);
  tokens_.reserve(mt);
  positions_.reserve(mt);
  seqs_.reserve(mt);
  rows_.reserve(ms);
  next_.resize(ms * static_cast<size_t>(n_vocab_));
  q_.reserve(static_cast<size_t>(n_vocab_));
}

StatusOr<std::unique_ptr<ModelDrafter>> ModelDrafter::create(const Model& draft, Backend& backend,
                                                             const DrafterLimits& limits, int target_vocab) {
  if (draft.config.n_vocab != target_vocab)
    return invalid_argument(draft.path + ": the draft model has " + std::to_string(draft.config.n_vocab) +
                            " logits per token, the target " + std::to_string(target_vocab) +
                            "; a draft must share the target's vocabulary");
  if (limits.max_k < 1 || limits.max_seqs < 1 || limits.max_ctx < 1 || limits.kv_block_size < 1 ||
      limits.kv_cache_tokens < 0)
    return invalid_argument("model drafter: limits must be positive");
  DrafterLimits l = limits;
  l.max_batch_tokens = std::max(limits.max_batch_tokens, limits.max_seqs);  // one draft token per request
  // The target's tokens plus each request's draft tokens and a partial block.
  const int64_t kv_tokens =
      std::max<int64_t>(limits.kv_cache_tokens, limits.max_ctx) +
      int64_t{limits.max_seqs} * (limits.max_k + limits.kv_block_size);
  std::unique_ptr<ModelDrafter> d(new ModelDrafter(draft, l, kv_tokens));
  const ForwardLimits fl{l.max_batch_tokens, l.max_seqs, l.max_seqs};
  SB_ASSIGN_OR_RETURN(d->forward_, Forward::create(draft, backend, d->kv_, fl));
  return d;
}

void ModelDrafter::free_state(State* s) {
  kv_.seq_free(s->seq);
  s->live = false;
  s->seq = -1;
}

void ModelDrafter::release(uint64_t id) {
  for (State& s : states_)
    if (s.live && s.id == id) free_state(&s);
}

bool ModelDrafter::evict_one() {
  State* victim = nullptr;
  for (State& s : states_)
    if (s.live && s.last_call < call_ && (victim == nullptr || s.last_call < victim->last_call)) victim = &s;
  if (victim == nullptr) return false;
  free_state(victim);
  return true;
}

ModelDrafter::State* ModelDrafter::state_for(uint64_t id) {
  State* empty = nullptr;
  for (State& s : states_) {
    if (s.live && s.id == id) {
      s.last_call = call_;
      return &s;
    }
    if (!s.live && empty == nullptr) empty = &s;
  }
  if (empty == nullptr) {
    if (!evict_one()) return nullptr;
    return state_for(id);
  }
  empty->seq = kv_.seq_create();
  SB_CHECK(empty->seq >= 0);  // one sequence per state
  empty->live = true;
  empty->id = id;
  empty->base = 0;
  empty->n_fed = 0;
  empty->last_call = call_;
  return empty;
}

bool ModelDrafter::grow(State* s, int len) {
  if (len > limits_.max_ctx) return false;
  while (!kv_.seq_grow(s->seq, len))
    if (!evict_one()) return false;
  return true;
}

Status ModelDrafter::run_batch(size_t first_row) {
  const ForwardBatch batch{tokens_, positions_, seqs_, rows_};
  const auto start = std::chrono::steady_clock::now();
  SB_RETURN_IF_ERROR(forward_->run(batch, kv_, next_.data() + first_row * static_cast<size_t>(n_vocab_)));
  record_pass(static_cast<int>(tokens_.size()), start);
  return ok_status();
}

bool ModelDrafter::draw(const DraftRequest& r, float* logits, int j, const DraftStop& stop, Active* a) {
  const float confidence = draw_draft_token(r, logits, n_vocab_, j, sampler_, q_);
  if (confidence < 0) return false;  // the request's rule allows nothing here
  return stop.survives(r, j, confidence, &a->survival) && j + 1 < r.k;
}

Status ModelDrafter::propose(std::span<const DraftRequest> requests, const DraftStop& stop) {
  ++call_;
  pass_times_.clear();
  keep_in_step(requests);
  SB_RETURN_IF_ERROR(catch_up(requests));
  return draft_positions(requests, stop);
}

void ModelDrafter::keep_in_step(std::span<const DraftRequest> requests) {
  active_.clear();
  for (size_t m = 0; m < requests.size(); ++m) {
    const DraftRequest& r = requests[m];
    SB_CHECK(r.k >= 1 && r.k <= limits_.max_k && !r.tokens.empty() && r.out != nullptr && r.sampling != nullptr);
    r.out->clear();
    State* s = state_for(r.id);
    if (s == nullptr) continue;
    // The cache keeps what the tokens still agree with, and at least the last
    // known token is recomputed: its logits give the first draft token.
    const int n = static_cast<int>(r.tokens.size());
    int valid = std::min(s->base, n);
    if (valid == s->base)
      for (int j = 0; j < s->n_fed && valid < n; ++j, ++valid)
        if (s->fed[static_cast<size_t>(j)] != r.tokens[static_cast<size_t>(valid)]) break;
    valid = std::min(valid, n - 1);
    if (kv_.seq_length(s->seq) > valid) kv_.seq_truncate(s->seq, valid);
    s->base = valid;
    s->n_fed = 0;
    if (!grow(s, n)) continue;  // no room: no draft this step
    active_.push_back({m, s, n, 1.0});
  }
}

Status ModelDrafter::catch_up(std::span<const DraftRequest> requests) {
  const size_t cap = static_cast<size_t>(limits_.max_batch_tokens);
  for (size_t i = 0, first = 0; i < active_.size();) {
    tokens_.clear();
    positions_.clear();
    seqs_.clear();
    rows_.clear();
    first = i;
    while (i < active_.size() && tokens_.size() < cap) {
      Active& a = active_[i];
      const std::span<const int32_t> t = requests[a.m].tokens;
      const int end = std::min(a.n, a.s->base + static_cast<int>(cap - tokens_.size()));
      for (int p = a.s->base; p < end; ++p) {
        tokens_.push_back(t[static_cast<size_t>(p)]);
        positions_.push_back(p);
        seqs_.push_back(a.s->seq);
      }
      a.s->base = end;
      if (end < a.n) break;
      rows_.push_back(static_cast<int32_t>(tokens_.size()) - 1);
      ++i;
    }
    SB_RETURN_IF_ERROR(run_batch(first));
  }
  return ok_status();
}

Status ModelDrafter::draft_positions(std::span<const DraftRequest> requests, const DraftStop& stop) {
  for (int j = 0; !active_.empty(); ++j) {
    tokens_.clear();
    positions_.clear();
    seqs_.clear();
    rows_.clear();
    size_t kept = 0;
    for (size_t i = 0; i < active_.size(); ++i) {
      Active a = active_[i];
      const DraftRequest& r = requests[a.m];
      if (!draw(r, next_.data() + i * static_cast<size_t>(n_vocab_), j, stop, &a)) continue;
      const int position = a.n + j;
      if (!grow(a.s, position + 1)) continue;
      const int32_t token = r.out->tokens.back();
      a.s->fed[static_cast<size_t>(j)] = token;
      a.s->n_fed = j + 1;
      rows_.push_back(static_cast<int32_t>(tokens_.size()));
      tokens_.push_back(token);
      positions_.push_back(position);
      seqs_.push_back(a.s->seq);
      active_[kept++] = a;
    }
    active_.resize(kept);
    if (kept > 0) SB_RETURN_IF_ERROR(run_batch(0));
  }
  return ok_status();
}

StatusOr<std::vector<std::pair<int, double>>> ModelDrafter::profile_pass_cost(int max_requests) {
  SB_CHECK(call_ == 0);  // the cache is still empty
  const int n = std::min({max_requests, limits_.max_seqs, limits_.max_batch_tokens});
  return profile_forward(*forward_, kv_, n, n);
}

}  // namespace sb
