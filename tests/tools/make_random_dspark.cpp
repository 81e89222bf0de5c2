// make_random_dspark TARGET OUT_DIR [KEY=VALUE ...]: writes a random (useless)
// DSpark checkpoint for the target model (GGUF or Hugging Face directory): its
// embedding and lm_head copied (as F32), every other weight random. For the
// benchmark's "a DSpark draft that predicts nothing" row.
//   layers=1 heads=<target's> kv_heads=<target's> head_dim=<target's> ffn=<target's>
//   block_size=7 markov_rank=32 confidence=1 dtype=F32 seed=1
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "core/model/model.h"
#include "core/modelgen/random_dspark.h"

namespace {

bool parse_int(std::string_view v, int* out) {
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), *out);
  return ec == std::errc() && p == v.data() + v.size();
}

int usage() {
  std::fprintf(stderr,
               "usage: make_random_dspark TARGET OUT_DIR [layers=N] [heads=N] [kv_heads=N] [head_dim=N] [ffn=N]\n"
               "                          [block_size=N] [markov_rank=N] [confidence=0|1] [dtype=F32|F16|BF16] [seed=N]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const auto target = sb::load_model(argv[1]);
  if (!target.ok()) {
    std::fprintf(stderr, "make_random_dspark: %s\n", target.status().message().c_str());
    return 1;
  }
  const sb::ModelConfig& t = target->config;
  sb::RandomDSparkShape s;
  s.n_vocab = t.n_vocab;
  s.dim = t.dim;
  s.target_n_layer = t.n_layer;
  s.embed_tokens = target->weights.tok_embd;
  s.lm_head = target->weights.lm_head;
  s.n_head = t.n_head;
  s.n_kv_head = t.n_kv_head;
  s.head_dim = t.head_dim;
  s.ffn_dim = t.ffn_dim;
  s.block_size = 7;
  s.markov_rank = 32;
  int seed = 1, confidence = 1;
  for (int i = 3; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    if (eq == std::string_view::npos) return usage();
    const std::string_view key = arg.substr(0, eq), value = arg.substr(eq + 1);
    bool ok = true;
    if (key == "layers") ok = parse_int(value, &s.n_layer);
    else if (key == "heads") ok = parse_int(value, &s.n_head);
    else if (key == "kv_heads") ok = parse_int(value, &s.n_kv_head);
    else if (key == "head_dim") ok = parse_int(value, &s.head_dim);
    else if (key == "ffn") ok = parse_int(value, &s.ffn_dim);
    else if (key == "block_size") ok = parse_int(value, &s.block_size);
    else if (key == "markov_rank") ok = parse_int(value, &s.markov_rank);
    else if (key == "confidence") ok = parse_int(value, &confidence);
    else if (key == "seed") ok = parse_int(value, &seed);
    else if (key == "dtype") s.dtype = std::string(value);
    else ok = false;
    if (!ok) {
      std::fprintf(stderr, "make_random_dspark: bad argument '%s'\n", argv[i]);
      return usage();
    }
  }
  s.confidence_head = confidence != 0;
  s.confidence_head_with_markov = s.confidence_head && s.markov_rank > 0;
  const sb::Status st = sb::write_random_dspark(argv[2], s, static_cast<uint64_t>(seed));
  if (!st.ok()) {
    std::fprintf(stderr, "make_random_dspark: %s\n", st.message().c_str());
    return 1;
  }
  return 0;
}
