#include "core/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "core/forward.h"
#include "core/model.h"
#include "core/random.h"
#include "core/stop_matcher.h"
#include "core/tokenizer.h"

namespace sb {

// A request in flight. tokens holds prompt + generated ids; SeqState counts them.
struct Engine::Request : SeqState {
  Request(uint64_t id_, GenerationRequest req_, const Tokenizer& tok, std::span<const int> eos)
      : id(id_), req(std::move(req_)), stop(tok, req, eos) {}
  uint64_t id;
  GenerationRequest req;
  std::vector<int32_t> tokens;  // [prompt + generated], reserved for the request's maximum
  StopMatcher stop;             // refers to req
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
}  // namespace

Engine::Engine(const Model& model, const Tokenizer& tokenizer, const EngineOptions& options, int max_ctx,
               int64_t kv_tokens)
    : tokenizer_(tokenizer),
      options_(options),
      max_ctx_(max_ctx),
      n_vocab_(model.config.n_vocab),
      kv_(blocks_for(kv_tokens, options.kv_block_size), options.kv_block_size, options.max_seqs, max_ctx),
      scheduler_(kv_, options.max_batch_tokens, options.max_seqs),
      sampler_(model.config.n_vocab) {
  eos_ids_ = model.config.eos_ids;
  for (int id : tokenizer.eos_ids())
    if (std::find(eos_ids_.begin(), eos_ids_.end(), id) == eos_ids_.end()) eos_ids_.push_back(id);
  const size_t mt = static_cast<size_t>(options.max_batch_tokens), ms = static_cast<size_t>(options.max_seqs);
  tokens_.reserve(mt);
  positions_.reserve(mt);
  seqs_.reserve(mt);
  rows_.reserve(ms);
  sampled_.reserve(ms);
  logits_.resize(ms * static_cast<size_t>(n_vocab_));
}

Engine::~Engine() = default;

StatusOr<std::unique_ptr<Engine>> Engine::create(const Model& model, const Tokenizer& tokenizer, Backend& backend,
                                                 const EngineOptions& options) {
  if (options.max_batch_tokens <= 0 || options.max_seqs <= 0 || options.kv_block_size <= 0 ||
      options.max_ctx < 0 || options.kv_cache_tokens < 0)
    return invalid_argument("engine: max_batch_tokens, max_seqs and kv_block_size must be positive");
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
  std::unique_ptr<Engine> e(new Engine(model, tokenizer, options, max_ctx, kv_tokens));
  const ForwardLimits limits{options.max_batch_tokens, options.max_seqs, options.max_seqs};
  SB_ASSIGN_OR_RETURN(e->forward_, Forward::create(model, backend, e->kv_, limits));
  return e;
}

StatusOr<uint64_t> Engine::add(GenerationRequest request) {
  const int n_prompt = static_cast<int>(request.prompt.size());
  const SamplingParams& s = request.sampling;
  if (n_prompt == 0) return invalid_argument("the prompt has no tokens");
  for (int32_t id : request.prompt)
    if (id < 0 || id >= n_vocab_)
      return invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary");
  if (!(s.temperature >= 0) || !(s.top_p > 0 && s.top_p <= 1) || s.top_k < 0 || !(s.min_p >= 0 && s.min_p <= 1) ||
      request.max_tokens < 0)
    return invalid_argument("sampling parameters out of range: temperature >= 0, top_p in (0, 1], top_k >= 0, "
                            "min_p in [0, 1], max_tokens >= 0");
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
  r->n_tokens = n_prompt;
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

void Engine::complete(Request* r, std::vector<FinishedRequest>* finished) {
  if (r->kv_seq >= 0) scheduler_.finish(r);
  FinishedRequest f;
  f.id = r->id;
  GenerationResult& g = f.result;
  g.prompt_tokens = static_cast<int>(r->req.prompt.size());
  g.completion_tokens = r->n_tokens - g.prompt_tokens;
  g.tokens.assign(r->tokens.begin() + g.prompt_tokens, r->tokens.end());
  g.text = r->stop.text();
  g.finish_reason = r->stop.finish_reason();
  finished->push_back(std::move(f));
  requests_.erase(r->id);
}

Status Engine::step(std::vector<FinishedRequest>* finished) {
  for (Request* r : done_at_add_) complete(r, finished);
  done_at_add_.clear();
  const std::span<const ScheduledChunk> chunks = scheduler_.schedule();
  if (chunks.empty()) return ok_status();

  // The batch: every chunk's tokens; a logit row where a chunk reaches the
  // request's last known token (the next one is sampled from it).
  tokens_.clear();
  positions_.clear();
  seqs_.clear();
  rows_.clear();
  sampled_.clear();
  for (const ScheduledChunk& c : chunks) {
    Request* r = static_cast<Request*>(c.seq);
    for (int p = c.start; p < c.start + c.count; ++p) {
      tokens_.push_back(r->tokens[static_cast<size_t>(p)]);
      positions_.push_back(p);
      seqs_.push_back(r->kv_seq);
    }
    if (c.start + c.count == r->n_tokens) {
      rows_.push_back(static_cast<int32_t>(tokens_.size() - 1));
      sampled_.push_back(r);
    }
  }
  const ForwardBatch batch{tokens_, positions_, seqs_, rows_};
  SB_RETURN_IF_ERROR(forward_->run(batch, kv_, logits_.data()));
  ++stats_.steps;
  stats_.computed_tokens += tokens_.size();
  for (const ScheduledChunk& c : chunks) c.seq->n_computed = c.start + c.count;

  for (size_t i = 0; i < sampled_.size(); ++i) {
    Request* r = sampled_[i];
    const SamplingParams& sp = r->req.sampling;
    const uint64_t position = static_cast<uint64_t>(r->n_tokens);
    const double u = sp.temperature > 0 ? random_uniform(sp.seed, r->req.index, position, RandomPurpose::kSample) : 0;
    const int32_t id = sampler_.sample(logits_.data() + i * static_cast<size_t>(n_vocab_), sp, u);
    r->tokens.push_back(id);
    ++r->n_tokens;
    ++stats_.generated_tokens;
    bool done = r->stop.push(id);
    if (!done && r->n_tokens - 1 >= max_ctx_) {  // the context is full
      r->stop.end();
      done = true;
    }
    if (done) complete(r, finished);
  }
  return ok_status();
}

EngineStats Engine::stats() const {
  EngineStats s = stats_;
  s.preemptions = scheduler_.stats().preemptions;
  return s;
}

}  // namespace sb
