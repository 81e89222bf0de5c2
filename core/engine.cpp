#include "core/engine.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/forward.h"
#include "core/model/model.h"
#include "core/request_constraint.h"
#include "core/spec/drafter.h"
#include "core/stop_matcher.h"
#include "core/tokenizer/tokenizer.h"

namespace sb {

// A request in flight. tokens holds prompt + generated ids; SeqState counts them.
struct Engine::Request : SeqState {
  Request(uint64_t id_, GenerationRequest req_, const Tokenizer& tok, std::span<const int> eos)
      : req(std::move(req_)), stop(tok, req, eos) {
    id = id_;
  }
  GenerationRequest req;
  std::vector<int32_t> tokens;  // [prompt + generated], reserved for the request's maximum
  StopMatcher stop;             // refers to req
  SpecCounts spec;
  std::vector<float> logprobs;             // [generated] with req.logprobs >= 0, reserved
  std::vector<TokenLogprob> top_logprobs;  // [generated, req.logprobs], reserved
  std::unique_ptr<RequestConstraint> constraint;  // with req.constraint
  Draft masked;                                   // with a constraint: this step's kept draft, q restricted
};

int64_t kv_bytes_per_token(const ModelConfig& c) {
  return int64_t{2} * c.n_layer * c.n_kv_head * c.head_dim * static_cast<int64_t>(sizeof(float));
}

int64_t default_kv_cache_tokens(const ModelConfig& config, int max_seqs, int max_ctx) {
  const int64_t want = int64_t{max_seqs} * max_ctx;
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return want;
  const int64_t cap = static_cast<int64_t>(pages) * page / 4 / std::max<int64_t>(1, kv_bytes_per_token(config));
  return std::max<int64_t>(max_ctx, std::min(want, cap));
}

namespace {
int blocks_for(int64_t tokens, int block_size) { return static_cast<int>((tokens + block_size - 1) / block_size); }

bool speculates(const EngineOptions& o) { return !o.draft.none() && o.spec_policy != SpecPolicy::kOff; }

// Logit rows per step: one per request, plus one per draft token.
int max_logit_rows(const EngineOptions& o) {
  if (!speculates(o)) return o.max_seqs;
  return static_cast<int>(std::min<int64_t>(o.max_batch_tokens, int64_t{o.max_seqs} * (o.spec_max + 1)));
}
}  // namespace

Engine::Engine(const Model& model, const Tokenizer& tokenizer, const EngineOptions& options, int max_ctx,
               int64_t kv_tokens)
    : tokenizer_(tokenizer),
      options_(options),
      max_ctx_(max_ctx),
      n_vocab_(model.config.n_vocab),
      kv_(blocks_for(kv_tokens, options.kv_block_size), options.kv_block_size, options.max_seqs, max_ctx,
          options.prefix_cache),
      scheduler_(kv_, options.max_batch_tokens, options.max_seqs),
      verifier_(model.config.n_vocab) {
  eos_ids_ = model.config.eos_ids;
  for (int id : tokenizer.eos_ids())
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
  const size_t mt = static_cast<size_t>(options.max_batch_tokens), ms = static_cast<size_t>(options.max_seqs);
  tokens_.reserve(mt);
  positions_.reserve(mt);
  seqs_.reserve(mt);
  const size_t rows = static_cast<size_t>(max_logit_rows(options));
  rows_.reserve(rows);
  sampled_.reserve(ms);
  logits_.resize(rows * static_cast<size_t>(n_vocab_));
  candidates_.reserve(ms);
  outcomes_.reserve(ms);
  logprob_work_.resize(static_cast<size_t>(n_vocab_));
}

Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::create(const Model& model, const Tokenizer& tokenizer, Backend& backend,
                                                 const EngineOptions& options, const Model* draft_model) {
  if (options.max_batch_tokens <= 0 || options.max_seqs <= 0 || options.kv_block_size <= 0 ||
      options.max_ctx < 0 || options.kv_cache_tokens < 0)
    return invalid_argument("engine: max_batch_tokens, max_seqs and kv_block_size must be positive");
  if (options.spec_max < 1 || options.spec_max > 64)
    return invalid_argument("engine: spec_max must be in [1, 64]");
  for (const auto* table : {&options.step_cost, &options.draft_pass_cost})
    for (size_t i = 0; i < table->size(); ++i)
      if ((*table)[i].first < 1 || !((*table)[i].second > 0) || (i > 0 && (*table)[i].first <= (*table)[i - 1].first))
        return invalid_argument("engine: step_cost and draft_pass_cost need token counts increasing from >= 1 and "
                                "positive seconds");
  if (tokenizer.n_vocab() > model.config.n_vocab)
    return invalid_argument(model.path + ": the tokenizer has " + std::to_string(tokenizer.n_vocab()) +
                            " tokens but the model's vocabulary " + std::to_string(model.config.n_vocab));
  const int max_ctx = options.max_ctx > 0 ? options.max_ctx : model.config.max_ctx;
  if (max_ctx <= 0) return invalid_argument(model.path + ": the model declares no context length; set max_ctx");
  const int64_t kv_tokens = options.kv_cache_tokens > 0
                                ? options.kv_cache_tokens
                                : default_kv_cache_tokens(model.config, options.max_seqs, max_ctx);
  if (blocks_for(kv_tokens, options.kv_block_size) >= (1 << 30) / options.kv_block_size)
    return invalid_argument("engine: a KV cache of " + std::to_string(kv_tokens) + " tokens is too large");
  std::unique_ptr<Drafter> drafter;
  EngineOptions o = options;
  std::span<const int> capture;
  if (speculates(options)) {
    const int64_t kv_pool = int64_t{blocks_for(kv_tokens, options.kv_block_size)} * options.kv_block_size;
    const DrafterLimits dl{options.spec_max, options.max_seqs, max_ctx, options.max_batch_tokens, kv_pool,
                           options.kv_block_size};
    SB_ASSIGN_OR_RETURN(drafter, make_drafter(options.draft, dl, draft_model, &backend, model.config));
    // Prefix-cache hits would skip positions whose hidden states the drafter needs.
    capture = drafter->hidden_layers();
    if (!capture.empty()) o.prefix_cache = false;
  }
  std::unique_ptr<Engine> e(new Engine(model, tokenizer, o, max_ctx, kv_tokens));
  const ForwardLimits limits{options.max_batch_tokens, options.max_seqs, max_logit_rows(options)};
  SB_ASSIGN_OR_RETURN(e->forward_, Forward::create(model, backend, e->kv_, limits, capture));
  if (drafter) {
    const SpeculatorOptions so{options.spec_policy, options.spec_max,  options.max_seqs,
                               options.max_batch_tokens, options.step_cost, options.draft_pass_cost};
    SB_ASSIGN_OR_RETURN(e->speculator_, Speculator::create(std::move(drafter), so, e->forward_.get(), &e->kv_));
  }
  return e;
}

StatusOr<std::shared_ptr<const constrain::Constraint>> Engine::constraint(const ConstraintSpec& spec) {
  if (!constraints_)
    constraints_ = std::make_unique<constrain::ConstraintCache>(
        constrain::Vocabulary::create(tokenizer_, n_vocab_, eos_ids_));
  return constraints_->get(spec);
}

StatusOr<uint64_t> Engine::add(GenerationRequest request) {
  const int n_prompt = static_cast<int>(request.prompt.size());
  const SamplingParams& s = request.sampling;
  if (n_prompt == 0) return invalid_argument("the prompt has no tokens");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= n_vocab_)
      return invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary");
  if (!(s.temperature >= 0) || !(s.top_p > 0 && s.top_p <= 1) || s.top_k < 0 || !(s.min_p >= 0 && s.min_p <= 1) ||
      request.max_tokens < 0 || request.logprobs < -1 || request.logprobs > kMaxTopLogprobs)
    return invalid_argument("sampling parameters out of range: temperature >= 0, top_p in (0, 1], top_k >= 0, "
                            "min_p in [0, 1], max_tokens >= 0, logprobs in [-1, " + std::to_string(kMaxTopLogprobs) +
                            "]");
  if (request.constraint) {
    if (request.ignore_eos)
      return invalid_argument("ignore_eos cannot be combined with an output constraint: the text ends where the "
                              "constraint completes");
    if (!request.stop.empty())
      return invalid_argument("stop strings cannot be combined with an output constraint: they could cut the "
                              "constrained text");
    if (request.constraint->tables->vocabulary().n_vocab() != n_vocab_)
      return invalid_argument("the constraint was compiled for another vocabulary (Engine::constraint())");
  }
  if (n_prompt > max_ctx_)
    return out_of_range("the prompt has " + std::to_string(n_prompt) + " tokens but the context holds " +
                        std::to_string(max_ctx_));
  // The cache holds every token but the last generated one, up to the context.
  const int64_t kv_need = std::min<int64_t>(int64_t{n_prompt} + std::max(request.max_tokens, 1) - 1, max_ctx_);
  if (blocks_for(kv_need, kv_.block_size()) > kv_.n_blocks())
    return out_of_range("prompt + max_tokens need " + std::to_string(kv_need) + " KV cache tokens but the cache holds " +
                        std::to_string(kv_cache_tokens()) + " (raise the KV cache size)");

  const uint64_t id = next_id_++;
  auto r = std::make_unique<Request>(id, std::move(request), tokenizer_, eos_ids_);
  r->tokens.reserve(static_cast<size_t>(kv_need) + 1);
  r->tokens = r->req.prompt;
  r->token_ids = r->tokens.data();  // stable: tokens never outgrows its reservation
  r->n_tokens = n_prompt;
  if (r->req.logprobs >= 0) {
    const size_t max_generated = static_cast<size_t>(std::min(r->req.max_tokens, max_ctx_ + 1 - n_prompt));
    r->logprobs.reserve(max_generated);
    r->top_logprobs.reserve(max_generated * static_cast<size_t>(r->req.logprobs));
  }
  if (r->req.constraint) {
    r->constraint = std::make_unique<RequestConstraint>(r->req.constraint, r->req.stop_token_ids,
                                                        tokenizer_.drops_leading_space(r->req.prompt));
    r->masked.reserve_one_hot(options_.spec_max);
  }
  Request* raw = r.get();
  stats_.prompt_tokens += static_cast<uint64_t>(n_prompt);
  requests_.emplace(id, std::move(r));
  if (raw->req.max_tokens == 0) {
    done_at_add_.push_back(raw);
  } else {
    scheduler_.add(raw);
  }
  return id;
}

Engine::Request& Engine::request_of(const ScheduledChunk& c) { return *static_cast<Request*>(c.seq); }

void Engine::complete(Request* r, std::vector<FinishedRequest>* finished, Status status) {
  if (r->kv_seq >= 0) scheduler_.finish(r);
  if (speculator_) speculator_->release(r->id);
  FinishedRequest f;
  f.id = r->id;
  GenerationResult& g = f.result;
  g.prompt_tokens = static_cast<int>(r->req.prompt.size());
  g.completion_tokens = r->n_tokens - g.prompt_tokens;
  g.tokens.assign(r->tokens.begin() + g.prompt_tokens, r->tokens.end());
  g.text = r->stop.text();
  g.finish_reason = r->stop.finish_reason();
  g.spec = r->spec;
  // A json_schema output is checked by a validator of its own before it goes out.
  if (status.ok() && r->constraint && r->constraint->complete()) {
    const Status check = r->constraint->constraint().check_output(g.text);
    if (!check.ok()) status = internal_error("the output violates its schema: " + check.message());
  }
  g.status = std::move(status);
  if (r->req.logprobs >= 0) {
    g.n_top_logprobs = r->req.logprobs;
    g.logprobs = std::move(r->logprobs);
    g.top_logprobs = std::move(r->top_logprobs);
  }
  finished->push_back(std::move(f));
  requests_.erase(r->id);
}

std::span<const SpecCandidate> Engine::draft_candidates(std::span<const ScheduledChunk> running) {
  candidates_.clear();
  for (size_t i = 0; i < running.size(); ++i) {
    Request& r = request_of(running[i]);
    if (running[i].start + running[i].count != r.n_tokens) continue;  // drafts follow the last known token
    // Emitted tokens stay within max_tokens; draft K/V within the context.
    const int generated = r.n_tokens - static_cast<int>(r.req.prompt.size());
    const int k = std::min(r.req.max_tokens - generated - 1, max_ctx_ - r.n_tokens);
    const std::span<const int32_t> tokens(r.tokens.data(), static_cast<size_t>(r.n_tokens));
    candidates_.push_back(
        {i, DraftRequest{r.id, tokens, k, &r.req.sampling, r.req.index, nullptr, r.constraint.get()}});
  }
  return candidates_;
}

std::vector<uint64_t> Engine::cancel_waiting() {
  std::vector<uint64_t> ids;
  for (SeqState* s : scheduler_.cancel_waiting()) {
    ids.push_back(s->id);
    requests_.erase(s->id);
  }
  return ids;
}

void Engine::build_batch(std::span<const ScheduledChunk> chunks) {
  tokens_.clear();
  positions_.clear();
  seqs_.clear();
  rows_.clear();
  sampled_.clear();
  outcomes_.clear();
  for (size_t i = 0; i < chunks.size(); ++i) {
    const ScheduledChunk& c = chunks[i];
    Request& r = request_of(c);
    const int end = c.start + c.count, first_row = static_cast<int>(tokens_.size());
    const Draft* draft = speculator_ ? speculator_->draft(i) : nullptr;
    for (int p = c.start; p < end; ++p) {
      tokens_.push_back(p < r.n_tokens ? r.tokens[static_cast<size_t>(p)]
                                       : draft->tokens[static_cast<size_t>(p - r.n_tokens)]);
      positions_.push_back(p);
      seqs_.push_back(r.kv_seq);
      if (p >= r.n_tokens - 1) rows_.push_back(static_cast<int32_t>(tokens_.size() - 1));
    }
    // All of a chunk's tokens are final unless it reaches the last known one (verification decides).
    outcomes_.push_back({r.id, c.start, first_row, end < r.n_tokens ? c.count : 0, 0, 0});
    if (end >= r.n_tokens) {
      const int n_draft = end - r.n_tokens;
      sampled_.push_back({&r, static_cast<int>(rows_.size()) - 1 - n_draft, n_draft, draft, i});
    }
  }
}

void Engine::verify_and_emit(const Sampled& s, std::vector<FinishedRequest>* finished) {
  Request* r = s.r;
  const int known = r->n_tokens;
  const auto row = [&](int j) { return logits_.data() + static_cast<size_t>(s.row + j) * static_cast<size_t>(n_vocab_); };
  // With a constraint, the rows are masked and the draft may be cut further
  // (its tokens past the cut were computed all the same: rolled back below).
  const Draft* draft = s.draft;
  int n_draft = s.n_draft;
  if (r->constraint) {
    const StatusOr<int> kept = r->constraint->mask_rows(row(0), n_vocab_, s.draft, s.n_draft, &r->masked);
    if (!kept.ok()) {
      complete(r, finished, kept.status());
      return;
    }
    draft = &r->masked;
    n_draft = *kept;
  }
  const Verdict v = verifier_.verify(row(0), draft, n_draft, r->req.sampling, r->req.index,
                                     static_cast<uint64_t>(known));
  ++r->spec.steps;
  ++stats_.sampled_steps;
  SpecOutcome& o = outcomes_[s.chunk];
  o.n_verified = n_draft;
  o.n_accepted = v.n_accepted;
  if (n_draft > 0) {
    r->spec.drafted += n_draft;
    r->spec.accepted += v.n_accepted;
    stats_.drafted_tokens += static_cast<uint64_t>(n_draft);
    stats_.accepted_tokens += static_cast<uint64_t>(v.n_accepted);
    ++stats_.spec_verifications;
  }
  // Draft token j was checked against row j; the token after the accepted ones comes from the next row.
  bool done = false;
  for (int j = 0; j < v.n_accepted && !done; ++j) done = emit(r, draft->tokens[static_cast<size_t>(j)], row(j));
  if (!done) done = emit(r, v.next, row(v.n_accepted));
  if (done) {
    complete(r, finished);
    return;
  }
  // The cache keeps the last known token and the accepted draft tokens.
  scheduler_.rollback(r, s.n_draft - v.n_accepted);
  o.n_final = r->n_computed - o.position;
}

bool Engine::emit(Request* r, int32_t id, const float* logits) {
  if (r->req.logprobs >= 0) {
    const size_t k = static_cast<size_t>(r->req.logprobs), at = r->top_logprobs.size();
    r->top_logprobs.resize(at + k);  // within the reservation
    r->logprobs.push_back(token_logprobs(logits, n_vocab_, r->req.sampling.temperature, id,
                                         std::span<TokenLogprob>(r->top_logprobs.data() + at, k), logprob_work_));
  }
  r->tokens.push_back(id);
  ++r->n_tokens;
  ++stats_.generated_tokens;
  if (r->constraint) r->constraint->advance(id);
  if (r->stop.push(id)) return true;
  if (r->n_tokens - 1 >= max_ctx_) {  // the context is full
    r->stop.end();
    return true;
  }
  return false;
}

Status Engine::step(std::vector<FinishedRequest>* finished) {
  for (Request* r : done_at_add_) complete(r, finished);
  done_at_add_.clear();
  // Schedule: the running requests' known tokens, then (with a drafter) their
  // draft tokens, then admissions with the budget left.
  const std::span<const ScheduledChunk> running = scheduler_.plan_running();
  if (speculator_) {
    for (const SeqState* s : scheduler_.preempted()) speculator_->release(s->id);
    SB_RETURN_IF_ERROR(speculator_->propose(running, draft_candidates(running), scheduler_));
  }
  const std::span<const ScheduledChunk> chunks = scheduler_.admit();
  if (chunks.empty()) return ok_status();

  // One forward over every chunk; known tokens' K/V are final from here (draft
  // positions may yet be rolled back).
  build_batch(chunks);
  const auto start = std::chrono::steady_clock::now();
  SB_RETURN_IF_ERROR(forward_->run(ForwardBatch{tokens_, positions_, seqs_, rows_}, kv_, logits_.data()));
  const double forward_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  scheduler_.computed();
  ++stats_.steps;
  stats_.computed_tokens += tokens_.size();

  // Verify and emit, then let the speculator learn how its drafts fared.
  for (const Sampled& s : sampled_) verify_and_emit(s, finished);
  if (!speculator_) return ok_status();
  return speculator_->observe(outcomes_, forward_->captured(), static_cast<int>(tokens_.size()), forward_seconds);
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.preemptions = scheduler_.stats().preemptions;
  s.cached_prompt_tokens = scheduler_.stats().cached_tokens;
  s.drafter_steps = speculator_ ? speculator_->drafter_steps() : 0;
  return s;
}

}  // namespace sb
