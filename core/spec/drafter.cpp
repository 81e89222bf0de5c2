#include "core/spec/drafter.h"

#include <algorithm>
#include <cmath>

#include "core/model/model_config.h"
#include "core/random.h"
#include "core/spec/dspark_drafter.h"
#include "core/spec/model_drafter.h"
#include "core/spec/ngram_drafter.h"

namespace sb {

void Draft::reserve_one_hot(int k) {
  const size_t n = static_cast<size_t>(k);
  tokens.reserve(n);
  confidence.reserve(n);
  q.reserve(n);
  q_begin.reserve(n + 1);
  clear();
}

void Draft::clear() {
  tokens.clear();
  confidence.clear();
  q.clear();
  q_begin.assign(1, 0);
}

void Draft::truncate(int n) {
  const size_t k = static_cast<size_t>(n);
  tokens.resize(k);
  confidence.resize(k);
  q.resize(static_cast<size_t>(q_begin[k]));
  q_begin.resize(k + 1);
}

void Draft::push_one_hot(int32_t token, float c) {
  const Sampler::Candidate one{token, 1.0f};
  push(token, c, std::span<const Sampler::Candidate>(&one, 1));
}

void Draft::push(int32_t token, float c, std::span<const Sampler::Candidate> token_q) {
  tokens.push_back(token);
  confidence.push_back(c);
  q.insert(q.end(), token_q.begin(), token_q.end());
  q_begin.push_back(static_cast<int32_t>(q.size()));
}

void Drafter::record_pass(int n_tokens, std::chrono::steady_clock::time_point start) {
  pass_times_.emplace_back(n_tokens, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
}

bool DraftStop::survives(const DraftRequest& r, int j, float raw, double* survival) const {
  if (calibrator == nullptr) return true;
  *survival *= calibrator->calibrated(draft_regime(*r.sampling), j, raw);
  return *survival >= min_survival;
}

float draw_draft_token(const DraftRequest& r, float* logits, int n_vocab, int j, Sampler& sampler,
                       std::vector<Sampler::Candidate>& q) {
  if (r.rule != nullptr && !r.rule->mask(r.out->tokens, logits, n_vocab)) return -1;
  const SamplingParams& sp = *r.sampling;
  float confidence = 0;
  if (sp.temperature <= 0) {
    const int32_t t = argmax(logits, n_vocab);
    double sum = 0;
    for (int i = 0; i < n_vocab; ++i) sum += std::exp(static_cast<double>(logits[i] - logits[t]));
    confidence = static_cast<float>(1 / sum);
    r.out->push_one_hot(t, confidence);
    return confidence;
  }
  q.clear();
  for (const Sampler::Candidate& c : sampler.distribution(logits, sp))
    if (c.p > 0) q.push_back(c);
  for (const Sampler::Candidate& c : q) confidence = std::max(confidence, c.p);
  const uint64_t position = r.tokens.size() + static_cast<uint64_t>(j);
  const int32_t t = sample_from(q, random_uniform(sp.seed, r.index, position, RandomPurpose::kDraft));
  r.out->push(t, confidence, q);
  return confidence;
}

StatusOr<std::unique_ptr<Drafter>> make_drafter(const DraftSpec& spec, const DrafterLimits& limits,
                                                const Model* draft_model, Backend* backend,
                                                const ModelConfig& target) {
  switch (spec.kind) {
    case DraftSpec::Kind::kNone:
      return invalid_argument("make_drafter: no drafter to make");
    case DraftSpec::Kind::kNgram:
      return std::unique_ptr<Drafter>(new NgramDrafter(std::min(2, spec.ngram_max), spec.ngram_max, limits.max_k));
    case DraftSpec::Kind::kDSpark: {
      if (backend == nullptr) return invalid_argument("--draft " + spec.text + ": a DSpark drafter needs a backend");
      auto dspark = load_dspark(spec.path, target);
      if (!dspark.ok()) return dspark.status().with_context("--draft");  // the draft is wrong, not the model
      SB_ASSIGN_OR_RETURN(std::unique_ptr<DSparkDrafter> d,
                          DSparkDrafter::create(std::move(dspark).value(), *backend, limits));
      return std::unique_ptr<Drafter>(std::move(d));
    }
    case DraftSpec::Kind::kSelf:
    case DraftSpec::Kind::kModel:
      break;
  }
  if (draft_model == nullptr || backend == nullptr)
    return invalid_argument("--draft " + spec.text + ": a model drafter needs its model loaded (load_draft_model)");
  SB_ASSIGN_OR_RETURN(std::unique_ptr<ModelDrafter> d,
                      ModelDrafter::create(*draft_model, *backend, limits, target.n_vocab));
  return std::unique_ptr<Drafter>(std::move(d));
}

}  // namespace sb
