// Helpers shared by the speculative decoding and constrained sampling tests: a
// chi-square goodness of fit, the target's next-token logits, draft models, random Qwen3 shapes and random DSpark checkpoints.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "core/engine_test_util.h"
#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/modelgen/random_dspark.h"
#include "core/modelgen/random_model.h"
#include "core/spec/model_drafter.h"
#include "test_util.h"

namespace sb::test {

inline const std::string kStories = shared_path("models/stories260K.gguf");

// Upper chi-square quantile for false-failure rate 1e-4 (Wilson-Hilferty; z = 3.719).
inline double chi2_critical(int dof) {
  const double k = dof, z = 3.719;
  const double t = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * t * t * t;
}

// Pearson's statistic of counts against expected probabilities; cells expected
// under 5 samples are pooled. Counts in cells of probability 0 fail at once.
template <typename Key>
bool fits(const std::map<Key, int>& counts, const std::map<Key, double>& expected, int n, double* stat_out) {
  double stat = 0, pooled_exp = 0, pooled_obs = 0;
  int cells = 0;
  for (const auto& [key, c] : counts)
    if (!expected.count(key)) return false;
  for (const auto& [key, p] : expected) {
    const double e = p * n;
    const double o = counts.count(key) ? counts.at(key) : 0;
    if (e < 5) {
      pooled_exp += e;
      pooled_obs += o;
      continue;
    }
    stat += (o - e) * (o - e) / e;
    ++cells;
  }
  if (pooled_exp > 0) {
    stat += (pooled_obs - pooled_exp) * (pooled_obs - pooled_exp) / std::max(pooled_exp, 1e-9);
    ++cells;
  }
  *stat_out = stat;
  return cells < 2 || stat < chi2_critical(cells - 1);
}

// The target's next-token logits after `tokens`, computed on a fresh sequence.
inline std::vector<float> target_logits(Loaded& l, const std::vector<int32_t>& tokens) {
  KvCache kv(8, 16, 1, 128);
  auto fwd = Forward::create(l.model, *l.backend, kv, ForwardLimits{128, 1, 1});
  REQUIRE(fwd.ok());
  const int seq = kv.seq_create();
  REQUIRE(kv.seq_grow(seq, static_cast<int>(tokens.size())));
  std::vector<int32_t> pos, seqs;
  for (size_t i = 0; i < tokens.size(); ++i) {
    pos.push_back(static_cast<int32_t>(i));
    seqs.push_back(seq);
  }
  const std::vector<int32_t> rows = {static_cast<int32_t>(tokens.size()) - 1};
  std::vector<float> logits(static_cast<size_t>(l.model.config.n_vocab));
  REQUIRE((*fwd)->run(ForwardBatch{tokens, pos, seqs, rows}, kv, logits.data()).ok());
  return logits;
}

// n records of one prompt (indices 0..n-1) for the first-tokens chi-square
// tests: max_tokens 3 leaves room for two draft tokens when the prompt ends.
inline std::vector<GenerationRequest> sampled_requests(const std::vector<int32_t>& prompt, const SamplingParams& sp,
                                                       int n) {
  std::vector<GenerationRequest> reqs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    GenerationRequest& r = reqs[static_cast<size_t>(i)];
    r.index = static_cast<uint64_t>(i);
    r.prompt = prompt;
    r.sampling = sp;
    r.max_tokens = 3;
  }
  return reqs;
}

// The draft model of a --draft value (self:q8_0, self:q4_0, PATH) for target.
inline Model draft_model(const std::string& spec, const Loaded& target) {
  auto d = load_draft_model(draft_spec(spec), target.model, *target.tok);
  REQUIRE_MESSAGE(d.ok(), d.status().to_string());
  return std::move(d).value();
}

inline RandomModelShape qwen3_shape(int dim, int n_layer, int n_head, int n_kv_head) {
  RandomModelShape s;
  s.n_vocab = 300;
  s.dim = dim;
  s.n_layer = n_layer;
  s.n_head = n_head;
  s.n_kv_head = n_kv_head;
  s.ffn_dim = dim * 3 / 2;
  s.qwen3 = true;
  return s;
}

// A random DSpark checkpoint for target l (its embedding and lm_head copied),
// reading the embedding output and every layer of a 2-layer target; the
// directory, for "dspark:DIR".
inline std::string write_dspark_for(const Loaded& l, const std::string& name) {
  RandomDSparkShape s;
  s.n_vocab = l.model.config.n_vocab;
  s.dim = l.model.config.dim;
  s.target_n_layer = l.model.config.n_layer;
  s.embed_tokens = l.model.weights.tok_embd;
  s.lm_head = l.model.weights.lm_head;
  s.n_layer = 1;
  s.n_head = 4;
  s.n_kv_head = 2;
  s.head_dim = 16;
  s.ffn_dim = 96;
  s.block_size = 4;
  s.target_layer_ids = {-1, 0, l.model.config.n_layer - 1};
  s.markov_rank = 4;
  const std::string dir = scratch_dir(name);
  REQUIRE(write_random_dspark(dir, s, 3).ok());
  return dir;
}

}  // namespace sb::test
