// The lossless verification rule of speculative decoding (DESIGN.md section 7).
// Greedy: draft tokens are accepted while they equal the target argmax; the
// target token follows the first mismatch, or a bonus token all of them. Sampling
// (p, q after the request's temperature / top-k / top-p / min-p): token x is
// accepted with probability min(1, p(x)/q(x)); the first rejection is replaced
// by a draw from normalize(max(0, p - q)) (from p if that has no mass); a bonus
// token is drawn from p. Draws are keyed by (seed, index, position, purpose); with
// no draft tokens this is exactly the plain sampler's draw. Allocates nothing.
#pragma once

#include <cstdint>
#include <vector>

#include "core/sampler.h"
#include "core/spec/drafter.h"

namespace sb {

// The step emits draft tokens [0, n_accepted) and then `next`.
struct Verdict {
  int n_accepted = 0;
  int32_t next = -1;
};

class Verifier {
 public:
  explicit Verifier(int n_vocab);  // sizes the workspaces once

  // logits: [n_draft + 1, n_vocab]; row j is the target's next-token logits for
  // position `position + j`, where draft token j (n_draft <= draft.size()) sits.
  // draft may be null when n_draft == 0.
  Verdict verify(const float* logits, const Draft* draft, int n_draft, const SamplingParams& params, uint64_t index,
                 uint64_t position);

 private:
  int n_vocab_;
  Sampler sampler_;
  std::vector<float> q_dense_;                  // [n_vocab] zero between calls
  std::vector<Sampler::Candidate> residual_;    // [n_vocab]
};

}  // namespace sb
