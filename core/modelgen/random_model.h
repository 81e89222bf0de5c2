// A Llama-architecture GGUF model with random F32 weights of a chosen shape and
// a synthetic SentencePiece vocabulary (<unk> <s> </s>, the 256 byte tokens,
// then pieces), so it loads with its tokenizer like a real model. For tests and
// `specbatch bench`; the same shape and seed give the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/status.h"

namespace sb {

struct RandomModelShape {
  int n_vocab = 512;  // >= 260
  int dim = 64;
  int n_layer = 2;
  int n_head = 4;
  int n_kv_head = 4;
  int ffn_dim = 128;
  int max_ctx = 512;
  bool qwen3 = false;  // architecture qwen3 (per-head q/k RMSNorm, NeoX RoPE) instead of llama
  int head_dim = 0;    // 0: dim / n_head
  bool bf16 = false;   // weight matrices stored BF16 (norms stay F32)
};

// stories110M's shape: dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000, context 1024.
RandomModelShape stories110m_shape();
// Qwen3-4B's shape in BF16: dim 2560, 36 layers, 32 heads / 8 KV heads of dim 128,
// ffn 9728, vocab 151936, context 4096 (about 4.0B parameters, 8 GB).
RandomModelShape qwen3_4b_shape();

// n values uniform in [-scale, scale) from a SplitMix64 stream advanced in *state:
// fast for 100M+ values.
std::vector<float> random_uniform_values(size_t n, float scale, uint64_t* state);

Status write_random_model(const std::string& path, const RandomModelShape& shape, uint64_t seed);

}  // namespace sb
