// Benchmark: the Qwen3-MoE forward's expert grouping. A random Qwen3-MoE
// (BF16 in the file: dim 1024, 4 layers, 16 heads / 4 KV heads of 64, 64
// experts of 512, 8 per token, vocab 2048) runs the same 64 tokens of one
// sequence as one step (each active expert's weights read once for all of its
// tokens) and as 64 one-token steps (each token reads its 8 experts alone), and
// 64 sequences of one token as one step; best of 3 each, ratios against the
// one-step time. Not a test: it asserts nothing about time.
// Usage: bench_moe [threads=all]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include "core/forward.h"
#include "core/kv_cache.h"
#include "core/model/model.h"
#include "core/modelgen/random_model.h"
#include "kernels/cpu/cpu_backend.h"

namespace {

constexpr int kTokens = 64;

// Seconds of the best of three runs of fn.
template <typename F>
double best_of_3(F&& fn) {
  double best = 1e30;
  for (int r = 0; r < 3; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void run_or_die(sb::Forward& f, sb::KvCache& kv, const std::vector<int32_t>& tokens, const std::vector<int32_t>& pos,
                const std::vector<int32_t>& seqs, std::vector<float>* logits) {
  std::vector<int32_t> rows(tokens.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int32_t>(i);
  const sb::Status st = f.run(sb::ForwardBatch{tokens, pos, seqs, rows}, kv, logits->data());
  if (!st.ok()) {
    std::fprintf(stderr, "bench_moe: %s\n", st.to_string().c_str());
    std::exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  const char* tmp = std::getenv("TMPDIR");
  const std::string path = std::string(tmp ? tmp : "/tmp") + "/bench_moe_" + std::to_string(getpid()) + ".gguf";
  sb::RandomModelShape s;
  s.n_vocab = 2048;
  s.dim = 1024;
  s.n_layer = 4;
  s.n_head = 16;
  s.n_kv_head = 4;
  s.ffn_dim = 512;
  s.qwen3 = true;
  s.bf16 = true;
  s.n_expert = 64;
  s.n_expert_used = 8;
  if (!sb::write_random_model(path, s, 1).ok()) return 1;
  auto model = sb::load_model(path);
  std::remove(path.c_str());
  if (!model.ok()) return 1;
  auto backend = sb::make_cpu_backend(threads);
  sb::KvCache kv(kTokens * 4, 16, kTokens + 1, kTokens * 4);
  auto fwd = sb::Forward::create(*model, *backend, kv, sb::ForwardLimits{kTokens, kTokens, kTokens});
  if (!fwd.ok()) return 1;
  std::vector<float> logits(static_cast<size_t>(kTokens) * static_cast<size_t>(s.n_vocab));
  std::vector<int32_t> tokens(kTokens), pos(kTokens);
  for (int i = 0; i < kTokens; ++i) tokens[i] = (i * 37 + 5) % s.n_vocab, pos[i] = i;

  const double one_step = best_of_3([&] {
    const int seq = kv.seq_create();
    if (!kv.seq_grow(seq, kTokens)) std::exit(1);
    run_or_die(**fwd, kv, tokens, pos, std::vector<int32_t>(kTokens, seq), &logits);
    kv.seq_free(seq);
  });
  const double per_token = best_of_3([&] {
    const int seq = kv.seq_create();
    for (int i = 0; i < kTokens; ++i) {
      if (!kv.seq_grow(seq, i + 1)) std::exit(1);
      run_or_die(**fwd, kv, {tokens[i]}, {i}, {seq}, &logits);
    }
    kv.seq_free(seq);
  });
  const double batch = best_of_3([&] {
    std::vector<int32_t> seqs(kTokens);
    for (int32_t& q : seqs) {
      q = kv.seq_create();
      if (!kv.seq_grow(q, 1)) std::exit(1);
    }
    run_or_die(**fwd, kv, tokens, std::vector<int32_t>(kTokens, 0), seqs, &logits);
    for (int32_t q : seqs) kv.seq_free(q);
  });
  std::printf("Qwen3-MoE random (dim 1024, 4 layers, 64 experts of 512, 8 per token), %d tokens, cpu backend:\n",
              kTokens);
  std::printf("  one sequence, one step:        %8.1f ms  (baseline)\n", one_step * 1e3);
  std::printf("  one sequence, one token a step: %8.1f ms  %.2fx\n", per_token * 1e3, per_token / one_step);
  std::printf("  %d sequences, one step:        %8.1f ms  %.2fx\n", kTokens, batch * 1e3, batch / one_step);
  return 0;
}
