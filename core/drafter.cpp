#include "core/drafter.h"

#include <algorithm>
#include <charconv>

#include "core/drafter_model.h"
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
  const Sampler::Candidate one{token, 1.0f};
  push(token, c, std::span<const Sampler::Candidate>(&one, 1));
}

void Draft::push(int32_t token, float c, std::span<const Sampler::Candidate> token_q) {
  tokens.push_back(token);
  confidence.push_back(c);
  q.insert(q.end(), token_q.begin(), token_q.end());
  q_begin.push_back(static_cast<int32_t>(q.size()));
}

namespace {
const std::string kNgram = "ngram";
bool is_ngram(const std::string& spec) { return spec.compare(0, kNgram.size(), kNgram) == 0; }
}  // namespace

bool draft_needs_model(const std::string& spec) { return !spec.empty() && !is_ngram(spec); }

StatusOr<std::unique_ptr<Drafter>> make_drafter(const std::string& spec, const DrafterLimits& limits,
                                                const Model* draft_model, Backend* backend, int target_vocab) {
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
  if (draft_model == nullptr || backend == nullptr)
    return invalid_argument("--draft " + spec + ": a model drafter needs its model loaded (load_draft_model)");
  SB_ASSIGN_OR_RETURN(std::unique_ptr<ModelDrafter> d,
                      ModelDrafter::create(*draft_model, *backend, limits, target_vocab));
  return std::unique_ptr<Drafter>(std::move(d));
}

}  // namespace sb
