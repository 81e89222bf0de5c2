#include "core/sampler.h"

#include <algorithm>
#include <cmath>

#include "core/base/status.h"

namespace sb {

namespace {
// Higher probability (here: scaled logit) first; the lower id on ties.
bool before(const Sampler::Candidate& a, const Sampler::Candidate& b) {
  return a.p > b.p || (a.p == b.p && a.id < b.id);
}
}  // namespace

int32_t argmax(const float* logits, int n) {
  int32_t best = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

Sampler::Sampler(int n_vocab) : n_vocab_(n_vocab) {
  cand_.resize(static_cast<size_t>(n_vocab));
  typical_.reserve(static_cast<size_t>(n_vocab));
}

std::span<const Sampler::Candidate> Sampler::distribution(const float* logits, const SamplingParams& params) {
  SB_CHECK(params.temperature > 0);
  // Scaled logits, held in .p until the softmax.
  const float inv_t = 1.0f / params.temperature;
  for (int i = 0; i < n_vocab_; ++i) cand_[static_cast<size_t>(i)] = {i, logits[i] * inv_t};
  size_t n = cand_.size();
  bool sorted = false;
  if (params.top_k > 0 && static_cast<size_t>(params.top_k) < n) {
    std::nth_element(cand_.begin(), cand_.begin() + params.top_k - 1, cand_.begin() + static_cast<long>(n), before);
    n = static_cast<size_t>(params.top_k);
    std::sort(cand_.begin(), cand_.begin() + static_cast<long>(n), before);
    sorted = true;
  }
  if (params.top_p < 1.0f && !sorted) {
    std::sort(cand_.begin(), cand_.begin() + static_cast<long>(n), before);
    sorted = true;
  }
  float z_max = cand_[0].p;
  for (size_t i = 1; i < n; ++i) z_max = std::max(z_max, cand_[i].p);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) {
    cand_[i].p = std::exp(cand_[i].p - z_max);
    sum += cand_[i].p;
  }
  // Probabilities are now exp(z - z_max) / sum; p_max is 1 / sum.
  if (params.top_p < 1.0f) {
    const double target = static_cast<double>(params.top_p) * sum;
    double cum = 0;
    size_t keep = 0;
    while (keep < n && cum < target) cum += cand_[keep++].p;
    n = std::max<size_t>(keep, 1);
  }
  if (params.min_p > 0.0f) {
    const float floor = params.min_p;  // relative to p_max == exp(0) == 1
    size_t out = 0;
    for (size_t i = 0; i < n; ++i)
      if (cand_[i].p >= floor) cand_[out++] = cand_[i];
    n = out;  // the maximum always survives (1 >= min_p)
  }
  if (params.typical_p < 1.0f) n = keep_typical(n, params.typical_p);
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += cand_[i].p;
  for (size_t i = 0; i < n; ++i) cand_[i].p = static_cast<float>(cand_[i].p / total);
  return std::span<const Candidate>(cand_.data(), n);
}

size_t Sampler::keep_typical(size_t n, float typical_p) {
  double total = 0;
  for (size_t i = 0; i < n; ++i) total += cand_[i].p;
  double entropy = 0;
  for (size_t i = 0; i < n; ++i) {
    const double p = cand_[i].p / total;
    if (p > 0) entropy -= p * std::log(p);
  }
  typical_.clear();
  for (size_t i = 0; i < n; ++i) {
    const double p = cand_[i].p / total;
    typical_.push_back({p > 0 ? std::fabs(-std::log(p) - entropy) : HUGE_VAL, cand_[i]});
  }
  std::sort(typical_.begin(), typical_.end(), [](const auto& a, const auto& b) {
    return a.first < b.first || (a.first == b.first && a.second.id < b.second.id);
  });
  const double target = static_cast<double>(typical_p) * total;
  double cum = 0;
  size_t keep = 0;
  while (keep < n && cum < target) {
    cand_[keep] = typical_[keep].second;
    cum += cand_[keep++].p;
  }
  return std::max<size_t>(keep, 1);
}

int32_t Sampler::sample(const float* logits, const SamplingParams& params, double u) {
  if (params.temperature <= 0.0f) return argmax(logits, n_vocab_);
  return sample_from(distribution(logits, params), u);
}

int32_t sample_from(std::span<const Sampler::Candidate> dist, double u) {
  SB_CHECK(!dist.empty());
  double cum = 0;
  for (const auto& c : dist) {
    cum += c.p;
    if (u < cum) return c.id;
  }
  return dist.back().id;  // u beyond the rounded total
}

float token_logprobs(const float* logits, int n_vocab, float temperature, int32_t token, std::span<TokenLogprob> top,
                     std::span<TokenLogprob> work) {
  SB_CHECK(token >= 0 && token < n_vocab && top.size() <= static_cast<size_t>(n_vocab) &&
           work.size() >= static_cast<size_t>(n_vocab));
  const double inv_t = temperature > 0 ? 1.0 / static_cast<double>(temperature) : 1.0;
  double z_max = logits[0];
  for (int i = 1; i < n_vocab; ++i) z_max = std::max(z_max, static_cast<double>(logits[i]));
  double sum = 0;
  for (int i = 0; i < n_vocab; ++i) sum += std::exp((logits[i] - z_max) * inv_t);
  const double log_z = z_max * inv_t + std::log(sum);  // log of the normaliser of exp(z / T)
  auto logprob = [&](int32_t id) { return static_cast<float>(logits[id] * inv_t - log_z); };
  if (!top.empty()) {
    // Ordered by logit: the same order as by logprob, without rounding ties.
    for (int i = 0; i < n_vocab; ++i) work[static_cast<size_t>(i)] = {i, logits[i]};
    const auto by_logit = [](const TokenLogprob& a, const TokenLogprob& b) {
      return a.logprob > b.logprob || (a.logprob == b.logprob && a.id < b.id);
    };
    std::partial_sort(work.begin(), work.begin() + static_cast<long>(top.size()), work.begin() + n_vocab, by_logit);
    for (size_t k = 0; k < top.size(); ++k) top[k] = {work[k].id, logprob(work[k].id)};
  }
  return logprob(token);
}

}  // namespace sb
