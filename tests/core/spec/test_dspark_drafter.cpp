// The DSpark drafter's block forward against the float64 numpy reference
// (tests/tools/make_dspark_reference.py): greedy draft tokens, Markov-corrected
// logits and confidences after its context was built the engine's way, in
// target steps with rejected draft rows rolled back and block slots written by
// proposals in between; several requests drafted in one call (the heads
// batched) against each drafted alone.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/dspark_model.h"
#include "core/model/model.h"
#include "core/spec/dspark_drafter.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {

struct Case {
  int p = 0;
  std::vector<int32_t> draft;               // [gamma]
  std::vector<std::vector<double>> logits;  // [gamma, n_vocab]
  std::vector<double> confidence;           // [gamma]
};

struct Reference {
  std::vector<int32_t> tokens;
  int gamma = 0;
  std::vector<Case> cases;
};

// Writes the reference target, checkpoint and outputs once per test run.
const std::string& reference_dir() {
  static const std::string dir = [] {
    const std::string d = sb::test::scratch_dir("dspark_reference");
    const std::string cmd = std::string("/usr/bin/python3 ") + SPECBATCH_SOURCE_DIR +
                            "/tests/tools/make_dspark_reference.py " + d;
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "needs /usr/bin/python3 with numpy (python3-numpy)");
    return d;
  }();
  return dir;
}

Reference read_reference(const std::string& path) {
  std::ifstream in(path);
  Reference r;
  std::string line;
  auto numbers = [&]() {
    std::getline(in, line);
    std::istringstream s(line);
    std::vector<double> out;
    for (double v; s >> v;) out.push_back(v);
    return out;
  };
  for (double t : numbers()) r.tokens.push_back(static_cast<int32_t>(t));
  const std::vector<double> head = numbers();
  REQUIRE(head.size() == 2);
  r.gamma = static_cast<int>(head[0]);
  for (int c = 0; c < static_cast<int>(head[1]); ++c) {
    Case k;
    k.p = static_cast<int>(numbers().at(0));
    for (double t : numbers()) k.draft.push_back(static_cast<int32_t>(t));
    for (int j = 0; j < r.gamma; ++j) k.logits.push_back(numbers());
    k.confidence = numbers();
    r.cases.push_back(std::move(k));
  }
  return r;
}

// The reference's target model and DSpark checkpoint.
std::pair<sb::StatusOr<sb::Model>, sb::StatusOr<sb::DSparkModel>> load_reference_pair() {
  auto target = sb::load_model(reference_dir() + "/target");
  REQUIRE_MESSAGE(target.ok(), target.status().to_string());
  auto dspark = sb::load_dspark(reference_dir() + "/dspark", target->config);
  REQUIRE_MESSAGE(dspark.ok(), dspark.status().to_string());
  return {std::move(target), std::move(dspark)};
}

double max_rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  double scale = 1e-3, err = 0;
  for (double v : want) scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.size(); ++i) err = std::max(err, std::fabs(got[i] - want[i]));
  return err / scale;
}

}  // namespace

TEST_CASE("dspark drafter: block logits and confidences match the numpy reference after steps with rejections") {
  const Reference ref = read_reference(reference_dir() + "/reference.txt");
  REQUIRE(ref.cases.size() >= 3);
  auto backend = sb::make_cpu_backend(2);
  auto [target, dspark] = load_reference_pair();
  REQUIRE(dspark->dspark.block_size == ref.gamma);
  REQUIRE(dspark->dspark.markov_rank > 0);
  const int n_vocab = target->config.n_vocab, gamma = ref.gamma;
  const std::vector<int> layers = dspark->dspark.target_layer_ids;

  // Target: block size 4, so steps end mid-block; one sequence per case.
  const int max_tokens = 16;
  sb::KvCache kv(64, 4, 4, 64);
  auto fwd = sb::Forward::create(*target, *backend, kv, sb::ForwardLimits{max_tokens, 4, max_tokens}, layers);
  REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
  const sb::DrafterLimits limits{gamma, 4, 64, max_tokens, 256, 4};
  auto drafter = sb::DSparkDrafter::create(std::move(dspark).value(), *backend, limits);
  REQUIRE_MESSAGE(drafter.ok(), drafter.status().to_string());
  sb::DSparkDrafter& d = **drafter;
  CHECK(std::vector<int>(d.hidden_layers().begin(), d.hidden_layers().end()) == layers);

  const sb::SamplingParams greedy{0.0f, 1.0f, 0, 0.0f, 0};
  sb::Draft out;
  auto propose = [&](uint64_t id, int n_known, int k) {
    const sb::DraftRequest req{id, std::span<const int32_t>(ref.tokens.data(), static_cast<size_t>(n_known)), k,
                               &greedy, 0, &out};
    REQUIRE(d.propose(std::span<const sb::DraftRequest>(&req, 1), sb::DraftStop{}).ok());
  };
  std::vector<float> logits(static_cast<size_t>(max_tokens * n_vocab));
  for (size_t ci = 0; ci < ref.cases.size(); ++ci) {
    const Case& c = ref.cases[ci];
    INFO("case p = " << c.p);
    const uint64_t id = 100 + ci;
    const int seq = kv.seq_create();
    REQUIRE(seq >= 0);
    // A prompt of min(p + 1, 3) tokens: its first chunk of 2 (all verified, no
    // sampling), then steps that verify the last known token and some correct
    // draft tokens, and reject one wrong draft token, until T[p] is the last known token.
    int n_known = std::min(c.p + 1, 3), n_computed = 0;
    const int accepts[] = {0, 2, 1, 3};
    for (int step = 0; !(n_known - 1 == c.p && n_computed == c.p); ++step) {
      // Drafts only once its context is complete; its block slots are overwritten.
      // Without proposals (later cases) verified rows wait, rejections included, until the last one.
      if (ci == 0) propose(id, n_known, gamma);
      std::vector<int32_t> tokens, pos, seqs, rows;
      int acc = 0, n_draft = 0;
      if (step == 0 && n_known > 2) {
        for (int i = 0; i < 2; ++i) tokens.push_back(ref.tokens[static_cast<size_t>(i)]);
      } else {
        for (int i = n_computed; i < n_known; ++i) tokens.push_back(ref.tokens[static_cast<size_t>(i)]);
        acc = std::min(accepts[step % 4], c.p - n_known);
        for (int j = 0; j < acc; ++j) tokens.push_back(ref.tokens[static_cast<size_t>(n_known + j)]);
        tokens.push_back((ref.tokens[static_cast<size_t>(n_known + acc)] + 1) % n_vocab);  // rejected
        n_draft = acc + 1;
      }
      const int n = static_cast<int>(tokens.size());
      REQUIRE(kv.seq_grow(seq, n_computed + n));
      for (int i = 0; i < n; ++i) {
        pos.push_back(n_computed + i);
        seqs.push_back(seq);
        rows.push_back(i);
      }
      REQUIRE((*fwd)->run(sb::ForwardBatch{tokens, pos, seqs, rows}, kv, logits.data()).ok());
      const sb::VerifiedRows v{id, n_computed, 0, n - n_draft + acc};
      REQUIRE(d.observe((*fwd)->captured(), std::span<const sb::VerifiedRows>(&v, 1)).ok());
      n_computed += v.count;
      kv.seq_truncate(seq, n_computed);
      if (n_draft > 0) n_known = n_computed + 1;
    }
    propose(id, c.p + 1, gamma);
    REQUIRE(out.size() == gamma);
    CHECK(out.tokens == c.draft);
    const auto u = d.last_logits();
    REQUIRE(u.size() == static_cast<size_t>(gamma * n_vocab));
    for (int j = 0; j < gamma; ++j) {
      INFO("block row " << j);
      // The drafter's logits: U plus the Markov head's correction, computed on the backend.
      const std::vector<float> row(u.begin() + j * n_vocab, u.begin() + (j + 1) * n_vocab);
      const double err = max_rel_error(row, c.logits[static_cast<size_t>(j)]);
      INFO("logits max relative error " << err);
      CHECK(err <= 1e-4);
      const double want = c.confidence[static_cast<size_t>(j)];
      INFO("confidence " << out.confidence[static_cast<size_t>(j)] << " want " << want);
      CHECK(std::fabs(out.confidence[static_cast<size_t>(j)] - want) <= 1e-4 * want);
    }
    // Fewer tokens than the block when k says so; a request whose context lags drafts nothing.
    propose(id, c.p + 1, 2);
    CHECK(out.tokens == std::vector<int32_t>(c.draft.begin(), c.draft.begin() + 2));
    propose(id, c.p + 2, gamma);
    CHECK(out.size() == 0);
    d.release(id);
    propose(id, c.p + 1, gamma);
    CHECK(out.size() == 0);
    kv.seq_free(seq);
  }
}

TEST_CASE("dspark drafter: requests drafted together draw what each draws alone, greedy and sampled") {
  const Reference ref = read_reference(reference_dir() + "/reference.txt");
  REQUIRE(ref.cases.size() >= 3);
  auto backend = sb::make_cpu_backend(2);
  auto [target, dspark] = load_reference_pair();
  const int n_vocab = target->config.n_vocab, gamma = ref.gamma;
  const std::vector<int> layers = dspark->dspark.target_layer_ids;
  sb::KvCache kv(64, 4, 4, 64);
  const int max_tokens = 32;
  auto fwd = sb::Forward::create(*target, *backend, kv, sb::ForwardLimits{max_tokens, 4, max_tokens}, layers);
  REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
  const sb::DrafterLimits limits{gamma, 4, 64, max_tokens, 256, 4};
  auto drafter = sb::DSparkDrafter::create(std::move(dspark).value(), *backend, limits);
  REQUIRE_MESSAGE(drafter.ok(), drafter.status().to_string());
  sb::DSparkDrafter& d = **drafter;

  // Three contexts (the reference cases' prefixes) in one target forward.
  std::vector<int32_t> tokens, pos, seqs, rows;
  std::vector<sb::VerifiedRows> verified;
  for (uint64_t i = 0; i < 3; ++i) {
    const int p = ref.cases[i].p, seq = kv.seq_create();
    REQUIRE((seq >= 0 && kv.seq_grow(seq, p)));
    verified.push_back({i + 1, 0, static_cast<int>(tokens.size()), p});
    for (int t = 0; t < p; ++t) {
      tokens.push_back(ref.tokens[static_cast<size_t>(t)]);
      pos.push_back(t);
      seqs.push_back(seq);
      rows.push_back(static_cast<int32_t>(tokens.size()) - 1);
    }
  }
  std::vector<float> logits(static_cast<size_t>(max_tokens * n_vocab));
  REQUIRE((*fwd)->run(sb::ForwardBatch{tokens, pos, seqs, rows}, kv, logits.data()).ok());
  REQUIRE(d.observe((*fwd)->captured(), verified).ok());

  for (const sb::SamplingParams& sampling : {sb::SamplingParams{0.0f, 1.0f, 0, 0.0f, 0},
                                             sb::SamplingParams{1.0f, 1.0f, 0, 0.0f, 7}}) {
    INFO("temperature " << sampling.temperature);
    std::vector<sb::Draft> together(3), alone(3);
    std::vector<sb::DraftRequest> reqs;
    for (uint64_t i = 0; i < 3; ++i) {
      const int k = i == 1 ? 3 : gamma;  // one asks for fewer tokens
      reqs.push_back({i + 1, std::span<const int32_t>(ref.tokens.data(), static_cast<size_t>(ref.cases[i].p) + 1), k,
                      &sampling, i, &together[i]});
    }
    REQUIRE(d.propose(reqs, sb::DraftStop{}).ok());
    const std::vector<float> batched(d.last_logits().begin(), d.last_logits().end());
    size_t row = 0;
    for (size_t i = 0; i < 3; ++i) {
      sb::DraftRequest one = reqs[i];
      one.out = &alone[i];
      REQUIRE(d.propose(std::span<const sb::DraftRequest>(&one, 1), sb::DraftStop{}).ok());
      CHECK(together[i].tokens == alone[i].tokens);
      CHECK(together[i].confidence == alone[i].confidence);
      CHECK(together[i].q_begin == alone[i].q_begin);
      REQUIRE(together[i].q.size() == alone[i].q.size());
      for (size_t c = 0; c < alone[i].q.size(); ++c) {
        CHECK(together[i].q[c].id == alone[i].q[c].id);
        CHECK(together[i].q[c].p == alone[i].q[c].p);
      }
      const auto mine = d.last_logits();
      REQUIRE(mine.size() == static_cast<size_t>(alone[i].size() * n_vocab));
      CHECK(std::equal(mine.begin(), mine.end(), batched.begin() + static_cast<std::ptrdiff_t>(row * n_vocab)));
      row += static_cast<size_t>(alone[i].size());
    }
  }
}
