#include "core/random.h"

namespace sb {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint64_t random_bits(uint64_t seed, uint64_t index, uint64_t position, RandomPurpose purpose) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ index);
  h = splitmix64(h ^ position);
  return splitmix64(h ^ static_cast<uint64_t>(purpose));
}

double random_uniform(uint64_t seed, uint64_t index, uint64_t position, RandomPurpose purpose) {
  return static_cast<double>(random_bits(seed, index, position, purpose) >> 11) * 0x1.0p-53;
}

}  // namespace sb
