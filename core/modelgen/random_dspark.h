// A DSpark block-drafter checkpoint (DESIGN.md section 8) with random weights:
// config.json and model.safetensors in a directory, for tests and the benchmark.
// embed_tokens / lm_head copy the target's when given, else are random. The
// pieces are exposed so tests can write broken checkpoints (drop or reshape a
// tensor, edit a field); the same shape and seed give the same bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/base/status.h"
#include "core/base/tensor.h"
#include "formats/safetensors.h"

namespace sb {

struct RandomDSparkShape {
  // The target it drafts for.
  int n_vocab = 128;
  int dim = 64;
  int target_n_layer = 4;
  TensorView embed_tokens;  // the target's [n_vocab, dim] (any dtype); absent: random
  TensorView lm_head;       // the target's [n_vocab, dim] (any dtype); absent: random
  // The drafter's Qwen3 decoder.
  int n_layer = 1;
  int n_head = 4;
  int n_kv_head = 2;
  int head_dim = 16;
  int ffn_dim = 128;
  int max_ctx = 4096;
  double rope_theta = 1000000.0;
  double rms_eps = 1e-6;
  // The DSpark fields.
  int block_size = 4;
  std::vector<int> target_layer_ids;  // empty: {1, n/2, n-2} of the target's n layers, clipped and deduplicated
  int mask_token_id = -1;             // -1: n_vocab - 1
  int markov_rank = 4;
  bool confidence_head = true;
  bool confidence_head_with_markov = true;
  // File layout.
  bool model_prefix = false;   // "model." before every tensor name but lm_head.weight
  std::string dtype = "F32";   // F32, F16 or BF16
};

// The target layer ids the shape asks for (its default filled in).
std::vector<int> random_dspark_layer_ids(const RandomDSparkShape& shape);
// config.json text.
std::string random_dspark_config_json(const RandomDSparkShape& shape);
// Every tensor, named as the shape asks.
std::vector<safetensors::WriteTensor> random_dspark_tensors(const RandomDSparkShape& shape, uint64_t seed);
// Creates `dir` if needed and writes config.json and model.safetensors there.
Status write_random_dspark(const std::string& dir, const RandomDSparkShape& shape, uint64_t seed);
// The same with the tensors given: config.json from `shape`, then the tensors.
Status write_dspark_checkpoint(const std::string& dir, const RandomDSparkShape& shape,
                               const std::vector<safetensors::WriteTensor>& tensors);

}  // namespace sb
