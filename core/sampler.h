// Turns a row of logits into a token id. temperature == 0 is greedy (argmax,
// lowest id on ties). Otherwise, in this fixed order: divide by temperature;
// top-k (keep the k highest); softmax; top-p (keep the shortest prefix, by
// descending probability, whose mass reaches top_p); min-p (drop p < min_p * p_max);
// typical-p (with entropy H of what is left, keep the shortest prefix, by
// ascending |-log p - H|, whose mass reaches typical_p; Hugging Face's
// TypicalLogitsWarper); renormalise; draw with a caller-supplied uniform u (see random.h).
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace sb {

struct SamplingParams {
  float temperature = 1.0f;  // 0 = greedy
  float top_p = 1.0f;        // (0, 1]
  int top_k = 0;             // 0 = off
  float min_p = 0.0f;        // [0, 1]
  uint64_t seed = 0;
  float typical_p = 1.0f;    // (0, 1]; 1 = off
};

// Index of the largest logit; the lowest index among equal maxima.
int32_t argmax(const float* logits, int n);

class Sampler {
 public:
  struct Candidate {
    int32_t id;
    float p;
  };

  explicit Sampler(int n_vocab);  // sizes the workspace once

  // The filtered distribution for temperature > 0: candidates with p summing
  // to 1, by typicality with typical-p, else in descending p (ties by id) when
  // top-k or top-p sorted them, else in id order. Valid until the next call.
  std::span<const Candidate> distribution(const float* logits, const SamplingParams& params);
  // A token id: argmax when temperature == 0, else the candidate where the
  // cumulative probability first exceeds u in [0, 1).
  int32_t sample(const float* logits, const SamplingParams& params, double u);

 private:
  // Typical-p over the n candidates, unnormalised probabilities in .p:
  // sorts them by typicality and returns how many stay.
  size_t keep_typical(size_t n, float typical_p);

  int n_vocab_;
  std::vector<Candidate> cand_;  // [n_vocab]
  std::vector<std::pair<double, Candidate>> typical_;  // [n_vocab] with typical-p: (|-log p - H|, candidate)
};

// Draws from candidates (probabilities summing to ~1) with uniform u in [0, 1).
int32_t sample_from(std::span<const Sampler::Candidate> dist, double u);

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
};

// Log-probabilities under log_softmax(logits / T), T = temperature, or 1 when
// temperature == 0 (greedy: the model's own likelihood); taken before top-k,
// top-p and min-p, so no alternative reads -inf. Returns the logprob of `token`
// and fills `top` with the top.size() most likely tokens, descending (the lower
// id first on ties). `work` is scratch of n_vocab entries.
float token_logprobs(const float* logits, int n_vocab, float temperature, int32_t token, std::span<TokenLogprob> top,
                     std::span<TokenLogprob> work);

}  // namespace sb
