#include "core/modelgen/random_model.h"

#include <cmath>
#include <cstdio>
#include <vector>

#include "core/modelgen/gguf_writer.h"

namespace sb {

RandomModelShape stories110m_shape() { return RandomModelShape{32000, 768, 12, 12, 12, 2048, 1024}; }

RandomModelShape qwen3_4b_shape() {
  RandomModelShape s{151936, 2560, 36, 32, 8, 9728, 4096};
  s.qwen3 = true;
  s.head_dim = 128;
  s.bf16 = true;
  return s;
}

std::vector<float> random_uniform_values(size_t n, float scale, uint64_t* state) {
  std::vector<float> v(n);
  for (float& x : v) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    x = scale * (static_cast<float>(z >> 40) * 0x1.0p-23f - 1.0f);
  }
  return v;
}

Status write_random_model(const std::string& path, const RandomModelShape& s, uint64_t seed) {
  const int head_dim = s.head_dim > 0 ? s.head_dim : (s.n_head > 0 && s.dim % s.n_head == 0 ? s.dim / s.n_head : 0);
  if (s.n_vocab < 260 || s.dim <= 0 || s.n_layer <= 0 || s.n_head <= 0 || s.n_kv_head <= 0 ||
      s.n_head % s.n_kv_head != 0 || head_dim <= 0 || head_dim % 2 != 0 || s.ffn_dim <= 0 || s.max_ctx <= 0)
    return invalid_argument("random model: inconsistent shape (vocab >= 260, a positive even head_dim, KV heads "
                            "dividing heads)");
  gguf::Writer w;
  const std::string a = s.qwen3 ? "qwen3" : "llama";
  w.add_kv("general.architecture", gguf::value_string(a));
  w.add_kv("general.name", gguf::value_string("random"));
  w.add_kv(a + ".context_length", gguf::value_u32(static_cast<uint32_t>(s.max_ctx)));
  w.add_kv(a + ".embedding_length", gguf::value_u32(static_cast<uint32_t>(s.dim)));
  w.add_kv(a + ".block_count", gguf::value_u32(static_cast<uint32_t>(s.n_layer)));
  w.add_kv(a + ".feed_forward_length", gguf::value_u32(static_cast<uint32_t>(s.ffn_dim)));
  w.add_kv(a + ".attention.head_count", gguf::value_u32(static_cast<uint32_t>(s.n_head)));
  w.add_kv(a + ".attention.head_count_kv", gguf::value_u32(static_cast<uint32_t>(s.n_kv_head)));
  if (s.head_dim > 0) {
    w.add_kv(a + ".attention.key_length", gguf::value_u32(static_cast<uint32_t>(head_dim)));
    w.add_kv(a + ".attention.value_length", gguf::value_u32(static_cast<uint32_t>(head_dim)));
  }
  w.add_kv(a + ".attention.layer_norm_rms_epsilon", gguf::value_f32(1e-5f));
  w.add_kv(a + ".rope.freq_base", gguf::value_f32(10000.0f));

  // Vocabulary: control tokens, byte tokens <0xNN>, then "▁w<i>" pieces.
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<float> scores = {0, 0, 0};
  std::vector<int32_t> types = {2, 3, 3};  // unknown, control, control
  char buf[16];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
    tokens.emplace_back(buf);
    scores.push_back(0);
    types.push_back(6);  // byte
  }
  for (int i = static_cast<int>(tokens.size()); i < s.n_vocab; ++i) {
    tokens.push_back("\xe2\x96\x81w" + std::to_string(i));
    scores.push_back(-static_cast<float>(i));
    types.push_back(1);  // normal
  }
  w.add_kv("tokenizer.ggml.model", gguf::value_string("llama"));
  w.add_kv("tokenizer.ggml.tokens", gguf::value_string_array(tokens));
  w.add_kv("tokenizer.ggml.scores", gguf::value_f32_array(scores));
  w.add_kv("tokenizer.ggml.token_type", gguf::value_i32_array(types));
  w.add_kv("tokenizer.ggml.bos_token_id", gguf::value_u32(1));
  w.add_kv("tokenizer.ggml.eos_token_id", gguf::value_u32(2));

  uint64_t state = seed;
  const uint64_t dim = static_cast<uint64_t>(s.dim), ffn = static_cast<uint64_t>(s.ffn_dim);
  const uint64_t hd = static_cast<uint64_t>(head_dim);
  const uint64_t q = hd * static_cast<uint64_t>(s.n_head), kv = hd * static_cast<uint64_t>(s.n_kv_head);
  const gguf::TensorType matrix_type = s.bf16 ? gguf::TensorType::kBF16 : gguf::TensorType::kF32;
  // Rows of [rows, cols] scaled by 1/sqrt(cols) so activations stay O(1).
  auto mat = [&](const std::string& name, uint64_t rows, uint64_t cols) {
    w.add_tensor_f32(name, matrix_type, {cols, rows},
                     random_uniform_values(rows * cols, 1.0f / std::sqrt(static_cast<float>(cols)), &state));
  };
  auto ones = [&](const std::string& name, uint64_t n) {
    w.add_tensor_f32(name, gguf::TensorType::kF32, {n}, std::vector<float>(n, 1.0f));
  };
  // Norm weights around 1 (in [0.5, 1.5)).
  auto near_ones = [&](const std::string& name, uint64_t n) {
    std::vector<float> v = random_uniform_values(n, 0.5f, &state);
    for (float& x : v) x += 1.0f;
    w.add_tensor_f32(name, gguf::TensorType::kF32, {n}, v);
  };
  mat("token_embd.weight", static_cast<uint64_t>(s.n_vocab), dim);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    ones(p + "attn_norm.weight", dim);
    mat(p + "attn_q.weight", q, dim);
    mat(p + "attn_k.weight", kv, dim);
    mat(p + "attn_v.weight", kv, dim);
    mat(p + "attn_output.weight", dim, q);
    if (s.qwen3) {
      near_ones(p + "attn_q_norm.weight", hd);
      near_ones(p + "attn_k_norm.weight", hd);
    }
    ones(p + "ffn_norm.weight", dim);
    mat(p + "ffn_gate.weight", ffn, dim);
    mat(p + "ffn_up.weight", ffn, dim);
    mat(p + "ffn_down.weight", dim, ffn);
  }
  ones("output_norm.weight", dim);
  mat("output.weight", static_cast<uint64_t>(s.n_vocab), dim);
  return w.write(path);
}

}  // namespace sb
