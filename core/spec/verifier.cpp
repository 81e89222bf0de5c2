#include "core/spec/verifier.h"

#include <algorithm>

#include "core/base/status.h"
#include "core/random.h"

namespace sb {

Verifier::Verifier(int n_vocab) : n_vocab_(n_vocab), sampler_(n_vocab) {
  q_dense_.assign(static_cast<size_t>(n_vocab), 0.0f);
  residual_.reserve(static_cast<size_t>(n_vocab));
}

namespace {
float prob_of(std::span<const Sampler::Candidate> dist, int32_t id) {
  for (const Sampler::Candidate& c : dist)
    if (c.id == id) return c.p;
  return 0.0f;
}
}  // namespace

Verdict Verifier::verify(const float* logits, const Draft* draft, int n_draft, const SamplingParams& params,
                         uint64_t index, uint64_t position) {
  SB_CHECK(n_draft == 0 || (draft != nullptr && n_draft <= draft->size()));
  const bool greedy = params.temperature <= 0.0f;
  for (int j = 0; j < n_draft; ++j) {
    const float* row = logits + static_cast<size_t>(j) * static_cast<size_t>(n_vocab_);
    const int32_t x = draft->tokens[static_cast<size_t>(j)];
    const uint64_t pos = position + static_cast<uint64_t>(j);
    if (greedy) {
      const int32_t target = argmax(row, n_vocab_);
      if (x != target) return {j, target};
      continue;
    }
    const std::span<const Sampler::Candidate> p = sampler_.distribution(row, params);
    const std::span<const Sampler::Candidate> q = draft->q_of(j);
    const float qx = prob_of(q, x);
    SB_CHECK(qx > 0.0f);
    const double u = random_uniform(params.seed, index, pos, RandomPurpose::kAccept);
    if (u * qx < prob_of(p, x)) continue;  // accepted with probability min(1, p(x) / q(x))
    // Rejected: draw from normalize(max(0, p - q)), or from p when that is empty.
    for (const Sampler::Candidate& c : q) q_dense_[static_cast<size_t>(c.id)] = c.p;
    residual_.clear();
    double mass = 0;
    for (const Sampler::Candidate& c : p) {
      const float r = c.p - q_dense_[static_cast<size_t>(c.id)];
      if (r > 0.0f) {
        residual_.push_back({c.id, r});
        mass += r;
      }
    }
    for (const Sampler::Candidate& c : q) q_dense_[static_cast<size_t>(c.id)] = 0.0f;
    const double u2 = random_uniform(params.seed, index, pos, RandomPurpose::kResidual);
    if (mass <= 0) return {j, sample_from(p, u2)};
    for (Sampler::Candidate& c : residual_) c.p = static_cast<float>(c.p / mass);
    return {j, sample_from(residual_, u2)};
  }
  // Every draft token accepted: the bonus token, drawn as the plain sampler would.
  const float* row = logits + static_cast<size_t>(n_draft) * static_cast<size_t>(n_vocab_);
  const uint64_t pos = position + static_cast<uint64_t>(n_draft);
  const double u = greedy ? 0 : random_uniform(params.seed, index, pos, RandomPurpose::kSample);
  return {n_draft, sampler_.sample(row, params, u)};
}

}  // namespace sb
