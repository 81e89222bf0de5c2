// The forward pass against an independent float64 numpy reference
// (tests/tools/make_reference_model.py) on small random models of every family
// written as Hugging Face directories; batch invariance, bitwise.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "kernels/cpu/cpu_backend.h"
#include "test_util.h"

namespace {

struct Reference {
  std::vector<int32_t> tokens;
  std::vector<int32_t> positions;
  std::vector<std::vector<double>> logits;  // [positions.size(), n_vocab]
};

// Writes the reference models once per test run and returns their parent directory.
const std::string& reference_dir() {
  static const std::string dir = [] {
    const std::string d = sb::test::scratch_dir("reference_models");
    const std::string cmd = std::string("/usr/bin/python3 ") + SPECBATCH_SOURCE_DIR +
                            "/tests/tools/make_reference_model.py " + d;
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "needs /usr/bin/python3 with numpy (python3-numpy)");
    return d;
  }();
  return dir;
}

Reference read_reference(const std::string& path) {
  std::ifstream in(path);
  Reference r;
  std::string line;
  auto ints = [&](std::vector<int32_t>* out) {
    std::getline(in, line);
    std::istringstream s(line);
    for (int32_t v; s >> v;) out->push_back(v);
  };
  ints(&r.tokens);
  ints(&r.positions);
  for (size_t i = 0; i < r.positions.size(); ++i) {
    std::getline(in, line);
    std::istringstream s(line);
    r.logits.emplace_back();
    for (double v; s >> v;) r.logits.back().push_back(v);
  }
  return r;
}

// Runs one sequence's tokens through the forward in steps of `chunk` tokens and
// returns the logits of every position.
std::vector<std::vector<float>> run_chunked(sb::Forward& fwd, sb::KvCache& kv, const std::vector<int32_t>& tokens,
                                            int chunk) {
  const int n_vocab = fwd.config().n_vocab;
  const int seq = kv.seq_create();
  REQUIRE(seq >= 0);
  std::vector<std::vector<float>> out;
  for (int start = 0; start < static_cast<int>(tokens.size()); start += chunk) {
    const int n = std::min(chunk, static_cast<int>(tokens.size()) - start);
    REQUIRE(kv.seq_grow(seq, start + n));
    std::vector<int32_t> pos(n), seqs(n, seq), rows(n);
    for (int i = 0; i < n; ++i) pos[i] = start + i, rows[i] = i;
    std::vector<float> logits(static_cast<size_t>(n) * n_vocab);
    const sb::ForwardBatch batch{std::span(tokens.data() + start, n), pos, seqs, rows};
    REQUIRE(fwd.run(batch, kv, logits.data()).ok());
    for (int i = 0; i < n; ++i) out.emplace_back(logits.begin() + i * n_vocab, logits.begin() + (i + 1) * n_vocab);
  }
  kv.seq_free(seq);
  return out;
}

}  // namespace

TEST_CASE("forward matches the float64 numpy reference (every family)") {
  auto backend = sb::make_cpu_backend(2);
  // Positions 6 and 12 lie past the sliding windows (Mistral 4, Phi-3 6, Gemma 2 5, Gemma 3 4).
  // llama32/model.gguf: the same weights as llama.cpp converts them (permuted q/k, rope_freqs).
  for (const char* name : {"qwen2", "qwen3", "llama", "llama32", "llama32/model.gguf", "mistral", "phi3", "gemma2",
                           "gemma3"}) {
    INFO("model " << name);
    const std::string path = reference_dir() + "/" + name;
    auto model = sb::load_model(path);
    REQUIRE_MESSAGE(model.ok(), model.status().to_string());
    const std::string dir =
        std::filesystem::is_directory(path) ? path : std::filesystem::path(path).parent_path().string();
    const Reference ref = read_reference(dir + "/reference.txt");
    REQUIRE(ref.tokens.size() == 13);
    // Block size 4: the 13 positions end mid-block.
    sb::KvCache kv(16, 4, 2, 32);
    auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{16, 2, 16});
    REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
    for (int chunk : {13, 5, 1}) {
      INFO("chunk " << chunk);
      const auto logits = run_chunked(**fwd, kv, ref.tokens, chunk);
      for (size_t i = 0; i < ref.positions.size(); ++i) {
        const auto& want = ref.logits[i];
        const auto& got = logits[static_cast<size_t>(ref.positions[i])];
        REQUIRE(got.size() == want.size());
        double scale = 1.0, err = 0.0;
        for (double v : want) scale = std::max(scale, std::fabs(v));
        for (size_t j = 0; j < want.size(); ++j) err = std::max(err, std::fabs(got[j] - want[j]));
        INFO("position " << ref.positions[i] << " max error " << err << " scale " << scale);
        CHECK(err <= 1e-4 * scale);
      }
    }
    CHECK(kv.n_free_blocks() == kv.n_blocks());
  }
}

TEST_CASE("greedy tokens equal the float64 reference's (every family)") {
  auto backend = sb::make_cpu_backend(2);
  for (const char* name : {"qwen2", "qwen3", "llama", "llama32", "mistral", "phi3", "gemma2", "gemma3"}) {
    INFO("model " << name);
    const std::string dir = reference_dir() + "/" + name;
    auto model = sb::load_model(dir);
    REQUIRE(model.ok());
    const Reference ref = read_reference(dir + "/reference.txt");
    std::vector<int32_t> want;
    std::istringstream line(sb::test::read_file(dir + "/greedy.txt"));
    for (int32_t t; line >> t;) want.push_back(t);
    REQUIRE(want.size() == 12);
    sb::KvCache kv(16, 4, 2, 32);
    auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{16, 2, 16});
    REQUIRE(fwd.ok());
    // Prompt of 5 tokens in one step, then one token per step.
    std::vector<int32_t> seq(ref.tokens.begin(), ref.tokens.begin() + 5);
    const int s = kv.seq_create();
    std::vector<int32_t> got;
    for (size_t done = 0; got.size() < want.size();) {
      const int n = static_cast<int>(seq.size() - done);
      REQUIRE(kv.seq_grow(s, static_cast<int>(seq.size())));
      std::vector<int32_t> pos(n), seqs(n, s), rows = {n - 1};
      for (int i = 0; i < n; ++i) pos[i] = static_cast<int32_t>(done) + i;
      std::vector<float> logits(static_cast<size_t>(model->config.n_vocab));
      REQUIRE((*fwd)->run(sb::ForwardBatch{std::span(seq.data() + done, n), pos, seqs, rows}, kv, logits.data()).ok());
      done = seq.size();
      const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
      got.push_back(next);
      seq.push_back(next);
    }
    CHECK(got == want);
  }
}

TEST_CASE("a sequence's logits are bitwise identical alone and in a batch of 17") {
  auto backend = sb::make_cpu_backend(2);
  // Qwen2, and the families with windows, soft-caps, post-norms and fused projections.
  for (const char* name : {"qwen2", "mistral", "phi3", "gemma2", "gemma3"}) {
    INFO("model " << name);
    auto model = sb::load_model(reference_dir() + "/" + name);
    REQUIRE(model.ok());
    const int n_vocab = model->config.n_vocab;
    const Reference ref = read_reference(reference_dir() + "/" + name + "/reference.txt");
    const std::vector<int32_t>& target = ref.tokens;

    sb::KvCache kv(160, 4, 17, 32);
    auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{128, 17, 128});
    REQUIRE(fwd.ok());
    const auto alone = run_chunked(**fwd, kv, target, static_cast<int>(target.size()));

    // The target's 13 tokens fed 1, 4, 8 at a time, interleaved with 16 other
    // sequences of different lengths and steps, all computed in the same calls.
    std::vector<int> seqs(17);
    for (int& s : seqs) s = kv.seq_create();
    std::vector<std::vector<int32_t>> prompts(17);
    prompts[0] = target;
    for (int s = 1; s < 17; ++s)
      for (int i = 0; i < 3 + 2 * s; ++i) prompts[s].push_back((s * 31 + i * 7) % n_vocab);
    std::vector<size_t> done(17, 0);
    std::vector<std::vector<float>> in_batch;
    const int steps[] = {1, 4, 8};
    for (int step = 0; done[0] < target.size(); ++step) {
      std::vector<int32_t> tokens, pos, seq_ids, rows;
      int target_first_row = -1, target_n = 0;
      for (int s = 0; s < 17; ++s) {
        const size_t want = s == 0 ? static_cast<size_t>(steps[step % 3]) : static_cast<size_t>(1 + (s + step) % 5);
        const size_t n = std::min(want, prompts[s].size() - done[s]);
        if (n == 0) continue;
        REQUIRE(kv.seq_grow(seqs[s], static_cast<int>(done[s] + n)));
        if (s == 0) target_first_row = static_cast<int>(tokens.size()), target_n = static_cast<int>(n);
        for (size_t i = 0; i < n; ++i) {
          rows.push_back(static_cast<int32_t>(tokens.size()));
          tokens.push_back(prompts[s][done[s] + i]);
          pos.push_back(static_cast<int32_t>(done[s] + i));
          seq_ids.push_back(seqs[s]);
        }
        done[s] += n;
      }
      std::vector<float> logits(rows.size() * n_vocab);
      REQUIRE((*fwd)->run(sb::ForwardBatch{tokens, pos, seq_ids, rows}, kv, logits.data()).ok());
      for (int i = 0; i < target_n; ++i) {
        const float* row = logits.data() + static_cast<size_t>(target_first_row + i) * n_vocab;
        in_batch.emplace_back(row, row + n_vocab);
      }
    }
    REQUIRE(in_batch.size() == alone.size());
    for (size_t p = 0; p < alone.size(); ++p) {
      INFO("position " << p);
      CHECK(std::memcmp(alone[p].data(), in_batch[p].data(), alone[p].size() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("forward rejects positions outside the reserved length") {
  auto backend = sb::make_cpu_backend(1);
  auto model = sb::load_model(reference_dir() + "/qwen3");
  REQUIRE(model.ok());
  sb::KvCache kv(4, 4, 1, 16);
  auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{8, 1, 1});
  REQUIRE(fwd.ok());
  const int seq = kv.seq_create();
  REQUIRE(kv.seq_grow(seq, 2));
  const std::vector<int32_t> tokens = {1, 2, 3}, pos = {0, 1, 2}, seqs = {seq, seq, seq}, rows = {2};
  std::vector<float> logits(static_cast<size_t>(model->config.n_vocab));
  CHECK((*fwd)->run(sb::ForwardBatch{tokens, pos, seqs, rows}, kv, logits.data()).code() ==
        sb::StatusCode::kInvalidArgument);
  const std::vector<int32_t> too_many(9, 1);
  CHECK(!(*fwd)->run(sb::ForwardBatch{too_many, too_many, too_many, rows}, kv, logits.data()).ok());
}

TEST_CASE("hidden-state capture: embedding rows, the last layer gives the logits, logits unchanged") {
  auto backend = sb::make_cpu_backend(2);
  auto model = sb::load_model(reference_dir() + "/qwen3");
  REQUIRE(model.ok());
  const sb::ModelConfig& c = model->config;
  const int n_vocab = c.n_vocab, dim = c.dim, last = c.n_layer - 1;
  const Reference ref = read_reference(reference_dir() + "/qwen3/reference.txt");
  // Two sequences in one batch: the reference tokens and 5 others; every row's logits.
  std::vector<int32_t> tokens = ref.tokens, pos, seq_ids, rows;
  for (int i = 0; i < 5; ++i) tokens.push_back((i * 37 + 11) % n_vocab);
  const int n = static_cast<int>(tokens.size()), n0 = static_cast<int>(ref.tokens.size());
  for (int i = 0; i < n; ++i) {
    pos.push_back(i < n0 ? i : i - n0);
    seq_ids.push_back(i < n0 ? 0 : 1);
    rows.push_back(i);
  }
  auto run = [&](std::span<const int> capture, std::vector<float>* captured) {
    sb::KvCache kv(16, 4, 2, 32);
    auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{32, 2, 32}, capture);
    REQUIRE_MESSAGE(fwd.ok(), fwd.status().to_string());
    REQUIRE(kv.seq_create() == 0);
    REQUIRE(kv.seq_create() == 1);
    REQUIRE(kv.seq_grow(0, n0));
    REQUIRE(kv.seq_grow(1, n - n0));
    std::vector<float> logits(static_cast<size_t>(n) * n_vocab);
    REQUIRE((*fwd)->run(sb::ForwardBatch{tokens, pos, seq_ids, rows}, kv, logits.data()).ok());
    if (captured != nullptr) {
      CHECK((*fwd)->captured() != nullptr);
      captured->resize(static_cast<size_t>(n) * capture.size() * dim);
      REQUIRE(backend->copy_to_host(captured->data(), (*fwd)->captured(), captured->size() * sizeof(float)).ok());
    } else {
      CHECK((*fwd)->captured() == nullptr);
    }
    return logits;
  };
  const std::vector<float> plain = run({}, nullptr);
  const std::vector<int> layers = {last, -1, 0};
  std::vector<float> captured;
  const std::vector<float> with = run(layers, &captured);
  CHECK(std::memcmp(plain.data(), with.data(), plain.size() * sizeof(float)) == 0);

  const sb::ModelWeights& w = model->weights;
  const size_t width = layers.size() * static_cast<size_t>(dim);
  std::vector<float> row(static_cast<size_t>(dim)), norm_w(static_cast<size_t>(dim)),
      head(static_cast<size_t>(dim));
  sb::dequantize_row(w.out_norm.dtype, w.out_norm.data, norm_w.data(), dim);
  double max_err = 0;
  for (int t = 0; t < n; ++t) {
    const float* cap = captured.data() + static_cast<size_t>(t) * width;
    // Column block 1 is layer -1: the token's embedding row.
    sb::dequantize_row(w.tok_embd.dtype, w.tok_embd.row(tokens[static_cast<size_t>(t)]), row.data(), dim);
    CHECK(std::memcmp(cap + dim, row.data(), row.size() * sizeof(float)) == 0);
    // Block 0, the last layer, through the output norm and lm_head (naive float64) gives the logits.
    double ss = 0;
    for (int i = 0; i < dim; ++i) ss += static_cast<double>(cap[i]) * cap[i];
    const double inv = 1 / std::sqrt(ss / dim + c.rms_eps);
    double scale = 1, err = 0;
    for (int v = 0; v < n_vocab; ++v) {
      sb::dequantize_row(w.lm_head.dtype, w.lm_head.row(v), head.data(), dim);
      double logit = 0;
      for (int i = 0; i < dim; ++i) logit += cap[i] * inv * norm_w[static_cast<size_t>(i)] * head[static_cast<size_t>(i)];
      const float got = with[static_cast<size_t>(t) * n_vocab + static_cast<size_t>(v)];
      scale = std::max(scale, std::fabs(logit));
      err = std::max(err, std::fabs(got - logit));
    }
    max_err = std::max(max_err, err / scale);
  }
  INFO("max relative error " << max_err);
  CHECK(max_err <= 1e-5);
  // Layer 0's rows differ from both (the capture follows each layer).
  CHECK(std::memcmp(captured.data() + 2 * dim, captured.data() + dim, sizeof(float) * dim) != 0);
  sb::KvCache kv(4, 4, 1, 16);
  const std::vector<int> bad = {c.n_layer};
  CHECK(!sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{8, 1, 1}, bad).ok());
}
