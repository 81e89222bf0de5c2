#include "core/modelgen/random_dspark.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/modelgen/random_model.h"
#include "formats/json_writer.h"

namespace sb {
namespace {

// A [n_vocab, dim] tensor of the target read as F32.
std::vector<float> to_f32(const TensorView& v) {
  std::vector<float> out(static_cast<size_t>(v.n_elems()));
  for (int64_t r = 0; r < v.rows; ++r) dequantize_row(v.dtype, v.row(r), out.data() + r * v.cols, v.cols);
  return out;
}

}  // namespace

std::vector<int> random_dspark_layer_ids(const RandomDSparkShape& s) {
  if (!s.target_layer_ids.empty()) return s.target_layer_ids;
  const int n = s.target_n_layer;
  std::vector<int> ids;
  for (int id : {1, n / 2, n - 2}) ids.push_back(std::clamp(id, -1, n - 1));
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

std::string random_dspark_config_json(const RandomDSparkShape& s) {
  JsonWriter w;
  w.begin_object();
  w.key("architectures").begin_array().value("Qwen3DSparkModel").end_array();
  w.key("model_type").value("qwen3");
  w.key("hidden_act").value("silu");
  w.key("vocab_size").value(s.n_vocab);
  w.key("hidden_size").value(s.dim);
  w.key("num_hidden_layers").value(s.n_layer);
  w.key("num_attention_heads").value(s.n_head);
  w.key("num_key_value_heads").value(s.n_kv_head);
  w.key("head_dim").value(s.head_dim);
  w.key("intermediate_size").value(s.ffn_dim);
  w.key("max_position_embeddings").value(s.max_ctx);
  w.key("rms_norm_eps").value(s.rms_eps);
  w.key("rope_theta").value(s.rope_theta);
  w.key("attention_bias").value(false);
  w.key("tie_word_embeddings").value(false);
  w.key("torch_dtype").value(s.dtype == "F32" ? "float32" : s.dtype == "F16" ? "float16" : "bfloat16");
  w.key("block_size").value(s.block_size);
  w.key("target_layer_ids").begin_array();
  for (int id : random_dspark_layer_ids(s)) w.value(id);
  w.end_array();
  w.key("num_target_layers").value(s.target_n_layer);
  w.key("mask_token_id").value(s.mask_token_id >= 0 ? s.mask_token_id : s.n_vocab - 1);
  w.key("markov_rank").value(s.markov_rank);
  w.key("markov_head_type").value("vanilla");
  w.key("enable_confidence_head").value(s.confidence_head);
  w.key("confidence_head_with_markov").value(s.confidence_head_with_markov);
  w.end_object();
  return w.take() + "\n";
}

std::vector<safetensors::WriteTensor> random_dspark_tensors(const RandomDSparkShape& s, uint64_t seed) {
  std::vector<safetensors::WriteTensor> out;
  uint64_t state = seed;
  const std::string pre = s.model_prefix ? "model." : "";
  auto put = [&](const std::string& name, int64_t rows, int64_t cols, std::vector<float> values) {
    std::vector<int64_t> shape = rows == 0 ? std::vector<int64_t>{cols} : std::vector<int64_t>{rows, cols};
    out.push_back(safetensors::make_tensor(name, s.dtype, std::move(shape), values));
  };
  // Rows scaled by 1/sqrt(cols) so activations stay O(1); rows == 0 writes a vector.
  auto mat = [&](const std::string& name, int64_t rows, int64_t cols) {
    put(name, rows, cols,
        random_uniform_values(static_cast<size_t>(rows * cols), 1.0f / std::sqrt(static_cast<float>(cols)), &state));
  };
  // Norm weights around 1 (in [0.5, 1.5)).
  auto norm = [&](const std::string& name, int64_t n) {
    std::vector<float> v = random_uniform_values(static_cast<size_t>(n), 0.5f, &state);
    for (float& x : v) x += 1.0f;
    put(name, 0, n, std::move(v));
  };
  const int64_t vocab = s.n_vocab, dim = s.dim, q = int64_t{s.n_head} * s.head_dim;
  const int64_t kv = int64_t{s.n_kv_head} * s.head_dim, r = s.markov_rank;
  if (s.embed_tokens.present()) put(pre + "embed_tokens.weight", vocab, dim, to_f32(s.embed_tokens));
  else mat(pre + "embed_tokens.weight", vocab, dim);
  for (int l = 0; l < s.n_layer; ++l) {
    const std::string p = pre + "layers." + std::to_string(l) + ".";
    norm(p + "input_layernorm.weight", dim);
    mat(p + "self_attn.q_proj.weight", q, dim);
    mat(p + "self_attn.k_proj.weight", kv, dim);
    mat(p + "self_attn.v_proj.weight", kv, dim);
    mat(p + "self_attn.o_proj.weight", dim, q);
    norm(p + "self_attn.q_norm.weight", s.head_dim);
    norm(p + "self_attn.k_norm.weight", s.head_dim);
    norm(p + "post_attention_layernorm.weight", dim);
    mat(p + "mlp.gate_proj.weight", s.ffn_dim, dim);
    mat(p + "mlp.up_proj.weight", s.ffn_dim, dim);
    mat(p + "mlp.down_proj.weight", dim, s.ffn_dim);
  }
  norm(pre + "norm.weight", dim);
  if (s.lm_head.present()) put("lm_head.weight", vocab, dim, to_f32(s.lm_head));
  else mat("lm_head.weight", vocab, dim);
  mat(pre + "fc.weight", dim, static_cast<int64_t>(random_dspark_layer_ids(s).size()) * dim);
  norm(pre + "hidden_norm.weight", dim);
  if (r > 0) {
    mat(pre + "markov_head.markov_w1.weight", vocab, r);
    mat(pre + "markov_head.markov_w2.weight", vocab, r);
  }
  if (s.confidence_head) {
    mat(pre + "confidence_head.proj.weight", 1, dim + (s.confidence_head_with_markov ? r : 0));
    put(pre + "confidence_head.proj.bias", 0, 1, random_uniform_values(1, 1.0f, &state));
  }
  return out;
}

Status write_random_dspark(const std::string& dir, const RandomDSparkShape& s, uint64_t seed) {
  if (s.n_vocab <= 0 || s.dim <= 0 || s.target_n_layer <= 0 || s.n_layer <= 0 || s.n_head <= 0 ||
      s.n_kv_head <= 0 || s.n_head % s.n_kv_head != 0 || s.head_dim <= 0 || s.head_dim % 2 != 0 || s.ffn_dim <= 0 ||
      s.markov_rank < 0 || (s.dtype != "F32" && s.dtype != "F16" && s.dtype != "BF16"))
    return invalid_argument("random DSpark checkpoint: inconsistent shape (positive sizes, kv heads divide heads, "
                            "even head_dim, dtype F32/F16/BF16)");
  for (const TensorView* v : {&s.embed_tokens, &s.lm_head}) {
    if (v->present() && (v->rows != s.n_vocab || v->cols != s.dim)) {
      return invalid_argument("random DSpark checkpoint: target tensor '" + v->name + "' is not [n_vocab, dim]");
    }
  }
  return write_dspark_checkpoint(dir, s, random_dspark_tensors(s, seed));
}

Status write_dspark_checkpoint(const std::string& dir, const RandomDSparkShape& s,
                               const std::vector<safetensors::WriteTensor>& tensors) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error(dir + ": " + ec.message());
  const std::string cfg = (std::filesystem::path(dir) / "config.json").string();
  std::ofstream out(cfg, std::ios::binary | std::ios::trunc);
  const std::string text = random_dspark_config_json(s);
  if (!out.write(text.data(), static_cast<std::streamsize>(text.size())) || !out.flush()) return errno_error(cfg);
  return safetensors::write_file((std::filesystem::path(dir) / "model.safetensors").string(), tensors);
}

}  // namespace sb
