#include "core/drafter.h"

#include <algorithm>
#include <charconv>

#include "core/drafter_ngram.h"

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

void Draft::push_one_hot(int32_t token, float c) {
  tokens.push_back(token);
  confidence.push_back(c);
  q.push_back({token, 1.0f});
  q_begin.push_back(static_cast<int32_t>(q.size()));
}

StatusOr<std::unique_ptr<Drafter>> make_drafter(const std::string& spec, int max_k) {
  const std::string ngram = "ngram";
  if (spec.compare(0, ngram.size(), ngram) == 0) {
    int n_max = 3;
    if (spec.size() > ngram.size()) {
      const char* b = spec.data() + ngram.size() + 1;
      const char* e = spec.data() + spec.size();
      const auto [end, ec] = std::from_chars(b, e, n_max);
      if (spec[ngram.size()] != ':' || ec != std::errc() || end != e || n_max < 1 || n_max > 64)
        return invalid_argument("--draft " + spec + ": expected ngram or ngram:N with N in [1, 64]");
    }
    return std::unique_ptr<Drafter>(new NgramDrafter(std::min(2, n_max), n_max, max_k));
  }
  return invalid_argument("--draft " + spec + ": unknown drafter; this build knows ngram and ngram:N");
}

}  // namespace sb
