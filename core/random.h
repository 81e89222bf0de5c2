// Counter-based randomness (DESIGN.md section 10): every draw is a pure hash of
// (seed, record index, position, purpose), so a record's random numbers never
// depend on batch composition, resume or sharding. There is no stream state.
#pragma once

#include <cstdint>

namespace sb {

// What a draw is for; distinct purposes at one position are independent.
enum class RandomPurpose : uint64_t {
  kSample = 1,    // choosing the emitted token
  kAccept = 2,    // speculative accept/reject test
  kResidual = 3,  // sampling from the residual distribution after a rejection
  kDraft = 4,     // a drafter's own sampling
};

// SplitMix64: the golden-ratio increment, then the 64-bit finaliser.
uint64_t splitmix64(uint64_t z);
// 64 well-mixed bits (splitmix64 chained over the four keys).
uint64_t random_bits(uint64_t seed, uint64_t index, uint64_t position, RandomPurpose purpose);
// Uniform in [0, 1) with 53 random bits.
double random_uniform(uint64_t seed, uint64_t index, uint64_t position, RandomPurpose purpose);

}  // namespace sb
