#include "core/generate.h"

#include <algorithm>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model.h"
#include "core/random.h"
#include "core/sampler.h"
#include "core/tokenizer.h"

namespace sb {

const char* finish_reason_name(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

namespace {

constexpr int kBlockSize = 16;
constexpr int kMaxChunk = 256;  // prompt tokens per forward step

// One sequence at a time: the prompt in chunks, then one token per step.
class SingleSequenceGenerator final : public Generator {
 public:
  SingleSequenceGenerator(const Tokenizer& tokenizer, int max_ctx, int n_vocab)
      : tokenizer_(tokenizer),
        max_ctx_(max_ctx),
        kv_((max_ctx + kBlockSize - 1) / kBlockSize, kBlockSize, 1, max_ctx),
        sampler_(n_vocab),
        logits_(static_cast<size_t>(n_vocab)) {}

  Status init(const Model& model, Backend& backend) {
    ForwardLimits limits;
    limits.max_tokens = std::min(kMaxChunk, max_ctx_);
    limits.max_seqs = 1;
    limits.max_logit_rows = 1;
    SB_ASSIGN_OR_RETURN(forward_, Forward::create(model, backend, kv_, limits));
    positions_.resize(static_cast<size_t>(limits.max_tokens));
    seqs_.resize(static_cast<size_t>(limits.max_tokens));
    return ok_status();
  }

  int max_ctx() const override { return max_ctx_; }

  StatusOr<GenerationResult> generate(const GenerationRequest& req) override {
    const int n_prompt = static_cast<int>(req.prompt.size());
    if (n_prompt == 0) return invalid_argument("empty prompt");
    if (n_prompt > max_ctx_)
      return invalid_argument("prompt of " + std::to_string(n_prompt) + " tokens exceeds the context of " +
                              std::to_string(max_ctx_));
    const int seq = kv_.seq_create();
    SB_CHECK(seq >= 0);
    StatusOr<GenerationResult> result = run(req, seq);
    kv_.seq_free(seq);
    return result;
  }

 private:
  // Feeds tokens at positions [start, start + n) and leaves the last token's logits in logits_.
  Status step(int seq, const int32_t* tokens, int start, int n) {
    SB_CHECK(kv_.seq_grow(seq, start + n));  // one sequence always fits: sized for max_ctx
    for (int i = 0; i < n; ++i) {
      positions_[static_cast<size_t>(i)] = start + i;
      seqs_[static_cast<size_t>(i)] = seq;
    }
    const int32_t last = n - 1;
    const size_t count = static_cast<size_t>(n);
    ForwardBatch batch{std::span(tokens, count), std::span(positions_.data(), count), std::span(seqs_.data(), count),
                       std::span(&last, 1)};
    return forward_->run(batch, kv_, logits_.data());
  }

  StatusOr<GenerationResult> run(const GenerationRequest& req, int seq) {
    GenerationResult res;
    res.prompt_tokens = static_cast<int>(req.prompt.size());
    const int chunk = forward_->limits().max_tokens;
    for (int start = 0; start < res.prompt_tokens; start += chunk)
      SB_RETURN_IF_ERROR(step(seq, req.prompt.data() + start, start, std::min(chunk, res.prompt_tokens - start)));

    const std::vector<int>& eos = forward_->config().eos_ids;
    size_t longest_stop = 0;
    for (const std::string& s : req.stop) longest_stop = std::max(longest_stop, s.size());
    StreamDecoder decoder(tokenizer_);
    int len = res.prompt_tokens;  // tokens in the KV cache
    res.finish_reason = FinishReason::kLength;
    bool stop_matched = false;
    while (static_cast<int>(res.tokens.size()) < req.max_tokens) {
      const double u = random_uniform(req.sampling.seed, req.index, static_cast<uint64_t>(len), RandomPurpose::kSample);
      const int32_t id = sampler_.sample(logits_.data(), req.sampling, u);
      res.tokens.push_back(id);
      if (!req.ignore_eos && std::find(eos.begin(), eos.end(), id) != eos.end()) {
        res.finish_reason = FinishReason::kStop;
        break;
      }
      const size_t before = res.text.size();
      res.text += decoder.push(id);
      if (cut_at_stop(req.stop, before, longest_stop, &res.text)) {
        stop_matched = true;
        res.finish_reason = FinishReason::kStop;
        break;
      }
      if (static_cast<int>(res.tokens.size()) == req.max_tokens || len >= max_ctx_) break;
      SB_RETURN_IF_ERROR(step(seq, &id, len, 1));
      ++len;
    }
    if (!stop_matched) {  // flush a held-back partial character; it may complete a stop string
      const size_t before = res.text.size();
      res.text += decoder.finish();
      if (cut_at_stop(req.stop, before, longest_stop, &res.text)) res.finish_reason = FinishReason::kStop;
    }
    res.completion_tokens = static_cast<int>(res.tokens.size());
    return res;
  }

  // Looks for a stop string that ends in the text appended after `before`;
  // on a match, cuts the text at its start and returns true.
  static bool cut_at_stop(const std::vector<std::string>& stops, size_t before, size_t longest, std::string* text) {
    if (stops.empty() || text->size() == before) return false;
    const size_t from = before >= longest ? before - longest + 1 : 0;
    size_t cut = std::string::npos;
    for (const std::string& s : stops) {
      if (s.empty()) continue;
      const size_t at = text->find(s, from);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut == std::string::npos) return false;
    text->resize(cut);
    return true;
  }

  const Tokenizer& tokenizer_;
  int max_ctx_;
  KvCache kv_;
  Sampler sampler_;
  std::unique_ptr<Forward> forward_;
  std::vector<float> logits_;        // [n_vocab]
  std::vector<int32_t> positions_;   // [max chunk]
  std::vector<int32_t> seqs_;        // [max chunk]
};

}  // namespace

StatusOr<std::unique_ptr<Generator>> Generator::create(const Model& model, const Tokenizer& tokenizer,
                                                       Backend& backend, int max_ctx) {
  if (max_ctx <= 0) max_ctx = model.config.max_ctx;
  if (max_ctx <= 0) return invalid_argument(model.path + ": the model declares no context length; pass max_ctx");
  auto gen = std::make_unique<SingleSequenceGenerator>(tokenizer, max_ctx, model.config.n_vocab);
  SB_RETURN_IF_ERROR(gen->init(model, backend));
  return std::unique_ptr<Generator>(std::move(gen));
}

}  // namespace sb
