#include "core/spec/drafter.h"

#include <algorithm>
#include <charconv>
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

namespace {
const std::string kNgram = "ngram";
const std::string kDSpark = "dspark:";
bool is_ngram(const std::string& spec) { return spec.compare(0, kNgram.size(), kNgram) == 0; }
bool is_dspark(const std::string& spec) { return spec.compare(0, kDSpark.size(), kDSpark) == 0; }
}  // namespace

bool draft_needs_model(const std::string& spec) { return !spec.empty() && !is_ngram(spec) && !is_dspark(spec); }

StatusOr<std::unique_ptr<Drafter>> make_drafter(const std::string& spec, const DrafterLimits& limits,
                                                const Model* draft_model, Backend* backend,
                                                const ModelConfig& target) {
  if (is_ngram(spec)) {
    int n_max = 3;
    if (spec.size() > kNgram.size()) {
      const char* b = spec.data() + kNgram.size() + 1;
      const char* e = spec.data() + spec.size();
      const auto [end, ec] = std::from_chars(b, e, n_max);
      if (spec[kNgram.size()] != ':' || ec != std::errc() || end != e || n_max < 1 || n_max > 64)
        return invalid_argument("--draft " + spec + ": expected ngram or ngram:N with N in [1, 64]");
    }
    return std::unique_ptr<Drafter>(new NgramDrafter(std::min(2, n_max), n_max, limits.max_k));
  }
  if (is_dspark(spec)) {
    const std::string dir = spec.substr(kDSpark.size());
    if (dir.empty()) return invalid_argument("--draft " + spec + ": expected dspark:DIR");
    if (backend == nullptr) return invalid_argument("--draft " + spec + ": a DSpark drafter needs a backend");
    auto dspark = load_dspark(dir, target);
    if (!dspark.ok()) return dspark.status().with_context("--draft");  // the draft is wrong, not the model
    SB_ASSIGN_OR_RETURN(std::unique_ptr<DSparkDrafter> d,
                        DSparkDrafter::create(std::move(dspark).value(), *backend, limits));
    return std::unique_ptr<Drafter>(std::move(d));
  }
  if (draft_model == nullptr || backend == nullptr)
    return invalid_argument("--draft " + spec + ": a model drafter needs its model loaded (load_draft_model)");
  SB_ASSIGN_OR_RETURN(std::unique_ptr<ModelDrafter> d,
                      ModelDrafter::create(*draft_model, *backend, limits, target.n_vocab));
  return std::unique_ptr<Drafter>(std::move(d));
}

}  // namespace sb
