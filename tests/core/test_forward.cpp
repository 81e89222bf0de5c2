// The forward pass against an independent float64 numpy reference
// (tests/tools/make_reference_model.py) on small random Qwen2, Qwen3 and Llama
// models written as Hugging Face directories; batch invariance, bitwise.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model.h"
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

TEST_CASE("forward matches the float64 numpy reference (Qwen2, Qwen3, Llama)") {
  auto backend = sb::make_cpu_backend(2);
  for (const char* name : {"qwen2", "qwen3", "llama"}) {
    INFO("model " << name);
    const std::string dir = reference_dir() + "/" + name;
    auto model = sb::load_model(dir);
    REQUIRE_MESSAGE(model.ok(), model.status().to_string());
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

TEST_CASE("a sequence's logits are bitwise identical alone and in a batch of 17") {
  auto backend = sb::make_cpu_backend(2);
  auto model = sb::load_model(reference_dir() + "/qwen2");
  REQUIRE(model.ok());
  const int n_vocab = model->config.n_vocab;
  const Reference ref = read_reference(reference_dir() + "/qwen2/reference.txt");
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
