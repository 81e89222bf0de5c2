// load_model(): stories260K.gguf, small GGUF and Hugging Face models written here
// (single file, sharded, tied and untied), and the errors for bad ones.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <random>

#include "core/model/model.h"
#include "core/modelgen/gguf_writer.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace sb {
namespace {

struct Dims {
  int vocab = 40, dim = 16, n_layer = 2, n_head = 4, n_kv = 2, head_dim = 4, ffn = 24;
};

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Every weight of a model as (HF name, rows, cols); cols == 0 marks a vector.
std::vector<std::tuple<std::string, int64_t, int64_t>> hf_tensors(const Dims& d, bool bias, bool qk_norm, bool lm_head) {
  std::vector<std::tuple<std::string, int64_t, int64_t>> t;
  const int64_t q = int64_t{d.n_head} * d.head_dim, kv = int64_t{d.n_kv} * d.head_dim;
  t.emplace_back("model.embed_tokens.weight", d.vocab, d.dim);
  for (int i = 0; i < d.n_layer; ++i) {
    const std::string p = "model.layers." + std::to_string(i) + ".";
    t.emplace_back(p + "input_layernorm.weight", d.dim, 0);
    t.emplace_back(p + "self_attn.q_proj.weight", q, d.dim);
    t.emplace_back(p + "self_attn.k_proj.weight", kv, d.dim);
    t.emplace_back(p + "self_attn.v_proj.weight", kv, d.dim);
    t.emplace_back(p + "self_attn.o_proj.weight", d.dim, q);
    if (bias) {
      t.emplace_back(p + "self_attn.q_proj.bias", q, 0);
      t.emplace_back(p + "self_attn.k_proj.bias", kv, 0);
      t.emplace_back(p + "self_attn.v_proj.bias", kv, 0);
    }
    if (qk_norm) {
      t.emplace_back(p + "self_attn.q_norm.weight", d.head_dim, 0);
      t.emplace_back(p + "self_attn.k_norm.weight", d.head_dim, 0);
    }
    t.emplace_back(p + "post_attention_layernorm.weight", d.dim, 0);
    t.emplace_back(p + "mlp.gate_proj.weight", d.ffn, d.dim);
    t.emplace_back(p + "mlp.up_proj.weight", d.ffn, d.dim);
    t.emplace_back(p + "mlp.down_proj.weight", d.dim, d.ffn);
  }
  t.emplace_back("model.norm.weight", d.dim, 0);
  if (lm_head) t.emplace_back("lm_head.weight", d.vocab, d.dim);
  return t;
}

std::string hf_config_json(const std::string& arch, const Dims& d, const std::string& extra) {
  return "{\"architectures\": [\"" + arch + "\"], \"vocab_size\": " + std::to_string(d.vocab) +
         ", \"hidden_size\": " + std::to_string(d.dim) + ", \"num_hidden_layers\": " + std::to_string(d.n_layer) +
         ", \"num_attention_heads\": " + std::to_string(d.n_head) +
         ", \"num_key_value_heads\": " + std::to_string(d.n_kv) +
         ", \"intermediate_size\": " + std::to_string(d.ffn) +
         ", \"max_position_embeddings\": 128, \"rms_norm_eps\": 1e-06, \"rope_theta\": 1000000.0" + extra + "}";
}

// Writes an HF directory; `edit` may change the tensor list before writing.
// n_shards > 1 splits it with an index.
std::string write_hf(const std::string& name, const std::string& arch, const Dims& d, const std::string& extra,
                     bool bias, bool qk_norm, bool lm_head, int n_shards = 1, const char* dtype = "F32",
                     const std::function<void(std::vector<safetensors::WriteTensor>*)>& edit = nullptr) {
  const std::string dir = test::scratch_dir("loader_" + name);
  test::write_file(dir + "/config.json", hf_config_json(arch, d, extra));
  std::vector<safetensors::WriteTensor> ts;
  uint32_t seed = 1;
  for (const auto& [tname, rows, cols] : hf_tensors(d, bias, qk_norm, lm_head)) {
    std::vector<int64_t> shape = cols == 0 ? std::vector<int64_t>{rows} : std::vector<int64_t>{rows, cols};
    ts.push_back(safetensors::make_tensor(tname, dtype, shape, random_values(static_cast<size_t>(rows * (cols ? cols : 1)), seed++)));
  }
  if (edit) edit(&ts);
  if (n_shards == 1) {
    REQUIRE(safetensors::write_file(dir + "/model.safetensors", ts).ok());
    return dir;
  }
  std::string index = "{\"weight_map\": {";
  for (int s = 0; s < n_shards; ++s) {
    std::vector<safetensors::WriteTensor> part;
    const std::string file = "model-0000" + std::to_string(s + 1) + "-of-0000" + std::to_string(n_shards) + ".safetensors";
    for (size_t i = static_cast<size_t>(s); i < ts.size(); i += static_cast<size_t>(n_shards)) {
      part.push_back(ts[i]);
      index += (index.back() == '{' ? "\"" : ", \"") + ts[i].name + "\": \"" + file + "\"";
    }
    REQUIRE(safetensors::write_file(dir + "/" + file, part).ok());
  }
  test::write_file(dir + "/model.safetensors.index.json", index + "}}");
  return dir;
}

TEST_CASE("model loader: stories260K.gguf") {
  auto m = load_model(test::shared_path("models/stories260K.gguf"));
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  const ModelConfig& c = m->config;
  CHECK(c.arch == Arch::kLlama);
  CHECK(c.arch_name == "llama");
  CHECK(c.n_vocab == 512);
  CHECK(c.dim == 64);
  CHECK(c.n_layer == 5);
  CHECK(c.n_head == 8);
  CHECK(c.n_kv_head == 4);
  CHECK(c.head_dim == 8);
  CHECK(c.ffn_dim == 172);
  CHECK(c.max_ctx == 2048);
  CHECK(c.rms_eps == doctest::Approx(1e-5));
  CHECK(c.rope_theta == 10000.0f);
  CHECK(c.rope_style == RopeStyle::kInterleaved);
  CHECK(c.rope_scaling.type == RopeScalingType::kNone);
  CHECK(!c.attn_bias);
  CHECK(!c.qk_norm);
  CHECK(!c.tied_embeddings);
  CHECK(c.bos_id == 1);
  CHECK(c.eos_ids == std::vector<int>{2});
  CHECK(m->n_params == 292800);
  const ModelWeights& w = m->weights;
  REQUIRE(w.layers.size() == 5);
  CHECK(w.tok_embd.rows == 512);
  CHECK(w.tok_embd.cols == 64);
  CHECK(w.lm_head.present());
  CHECK(w.lm_head.data != w.tok_embd.data);
  CHECK(w.layers[0].wk.rows == 32);
  CHECK(w.layers[0].wk.cols == 64);
  CHECK(w.layers[4].w_down.rows == 64);
  CHECK(w.layers[4].w_down.cols == 172);
  CHECK(w.layers[4].w_gate.rows == 172);
  CHECK(w.layers[2].attn_norm.rows == 1);
  CHECK(w.layers[2].attn_norm.dtype == DType::kF32);
  CHECK(!w.layers[0].bq.present());
  CHECK(!w.layers[0].q_norm.present());
  CHECK(w.layers[3].w_up.name == "blk.3.ffn_up.weight");
  CHECK(!m->storage.empty());
  // Norm weights of a trained model are not all zero: the view reads the file.
  float x[64];
  dequantize_row(DType::kF32, w.out_norm.data, x, 64);
  float sum = 0;
  for (float v : x) sum += v * v;
  CHECK(sum > 0);
}

TEST_CASE("model loader: Qwen2 HF directory, tied, with generation_config") {
  Dims d;
  const std::string dir = write_hf("qwen2", "Qwen2ForCausalLM", d, ", \"bos_token_id\": 1, \"eos_token_id\": 2", true,
                                   false, false);
  test::write_file(dir + "/generation_config.json", R"({"eos_token_id": [3, 2]})");
  auto m = load_model(dir);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  const ModelConfig& c = m->config;
  CHECK(c.arch == Arch::kQwen2);
  CHECK(c.rope_style == RopeStyle::kHalf);
  CHECK(c.attn_bias);
  CHECK(c.tied_embeddings);
  CHECK(c.head_dim == 4);
  CHECK(c.rope_theta == 1e6f);
  CHECK(c.bos_id == 1);
  CHECK(c.eos_ids == std::vector<int>{2, 3});
  CHECK(m->weights.lm_head.data == m->weights.tok_embd.data);
  CHECK(m->weights.layers[1].bk.cols == 8);
  const uint64_t per_layer = 16 + 16 * 16 + 8 * 16 * 2 + 16 * 16 + 16 + 8 + 8 + 16 + 24 * 16 * 3;
  CHECK(m->n_params == 40 * 16 + 2 * per_layer + 16);
  // A path to config.json works too.
  CHECK(load_model(dir + "/config.json").ok());
}

TEST_CASE("model loader: Qwen3 HF, sharded, BF16, explicit head_dim, unaligned data") {
  Dims d;
  d.head_dim = 8;  // != dim / n_head
  const std::string dir =
      write_hf("qwen3", "Qwen3ForCausalLM", d, ", \"head_dim\": 8, \"tie_word_embeddings\": false", false, true, true, 3,
               "BF16", [](std::vector<safetensors::WriteTensor>* ts) {
                 // Tensors the model does not use are ignored.
                 ts->push_back(safetensors::make_tensor("extra.x", "F32", {1}, {0.5f}));
               });
  auto m = load_model(dir);
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  CHECK(m->config.arch == Arch::kQwen3);
  CHECK(m->config.qk_norm);
  CHECK(!m->config.attn_bias);
  CHECK(!m->config.tied_embeddings);
  CHECK(m->config.head_dim == 8);
  CHECK(m->weights.layers[0].wq.rows == 32);
  CHECK(m->weights.layers[0].q_norm.cols == 8);
  CHECK(m->weights.layers[0].wo.cols == 32);
  CHECK(m->weights.lm_head.dtype == DType::kBF16);
  CHECK(m->weights.lm_head.data != m->weights.tok_embd.data);

  // Unaligned F32 data (header length 8k + 1): the loader copies it to aligned memory.
  const std::string d2 = write_hf("unaligned", "LlamaForCausalLM", Dims{}, "", false, false, true);
  std::string bytes = test::read_file(d2 + "/model.safetensors");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  bytes.insert(8 + n, " ");  // one more header byte shifts every tensor by one
  ++n;
  std::memcpy(bytes.data(), &n, 8);
  test::write_file(d2 + "/model.safetensors", bytes);
  auto u = load_model(d2);
  REQUIRE_MESSAGE(u.ok(), u.status().to_string());
  CHECK(reinterpret_cast<uintptr_t>(u->weights.layers[1].wq.data) % 4 == 0);
  const std::vector<float> want = random_values(16, 1);  // embed_tokens: first tensor, seed 1
  float got[16];
  std::memcpy(got, u->weights.tok_embd.data, sizeof got);
  CHECK(std::memcmp(got, want.data(), sizeof got) == 0);
}

TEST_CASE("model loader: HF errors name the file, the tensor, got and expected") {
  Dims d;
  const std::string bad_shape = write_hf("bad_shape", "LlamaForCausalLM", d, "", false, false, true, 1, "F32",
                                         [](std::vector<safetensors::WriteTensor>* ts) {
                                           for (auto& t : *ts) {
                                             if (t.name == "model.layers.1.self_attn.k_proj.weight") {
                                               t = safetensors::make_tensor(t.name, "F32", {16, 8}, random_values(128, 9));
                                             }
                                           }
                                         });
  auto m = load_model(bad_shape);
  REQUIRE(!m.ok());
  CHECK(m.status().message() == bad_shape + "/model.safetensors: tensor 'model.layers.1.self_attn.k_proj.weight' has shape "
                                            "[16, 8], expected [8, 16]");

  const std::string missing = write_hf("missing", "Qwen2ForCausalLM", d, "", false, false, true);  // no biases
  m = load_model(missing);
  REQUIRE(!m.ok());
  CHECK(m.status().code() == StatusCode::kNotFound);
  CHECK(m.status().message().find("'model.layers.0.self_attn.q_proj.bias' is missing") != std::string::npos);

  const std::string arch = write_hf("arch", "MixtralForCausalLM", d, "", false, false, true);
  m = load_model(arch);
  CHECK(m.status().code() == StatusCode::kUnsupported);
  std::string want = arch;
  want.append("/config.json: architecture 'MixtralForCausalLM' is not supported (supported: LlamaForCausalLM, "
              "MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Phi3ForCausalLM, Gemma2ForCausalLM, "
              "Gemma3ForCausalLM)");
  CHECK(m.status().message() == want);

  const std::string i64 = write_hf("i64", "LlamaForCausalLM", d, "", false, false, true, 1, "F32",
                                   [](std::vector<safetensors::WriteTensor>* ts) {
                                     (*ts)[0] = safetensors::WriteTensor{(*ts)[0].name, "I32", {40, 16}, (*ts)[0].bytes};
                                   });
  m = load_model(i64);
  CHECK(m.status().code() == StatusCode::kUnsupported);
  CHECK(m.status().message().find("'model.embed_tokens.weight' has dtype I32") != std::string::npos);

  Dims bad_heads;
  bad_heads.n_kv = 3;
  const std::string heads = write_hf("heads", "LlamaForCausalLM", bad_heads, "", false, false, true);
  m = load_model(heads);
  CHECK(m.status().message().find("config.json: key/value head count = 3") != std::string::npos);

  const std::string rope = write_hf("rope", "LlamaForCausalLM", d, ", \"rope_scaling\": {\"rope_type\": \"mrope\"}",
                                    false, false, true);
  CHECK(load_model(rope).status().message().find("'mrope'") != std::string::npos);
  const std::string longrope = write_hf("longrope", "Phi3ForCausalLM", d,
                                        ", \"original_max_position_embeddings\": 16, \"rope_scaling\": "
                                        "{\"type\": \"longrope\", \"short_factor\": [1, 2]}",
                                        false, false, true);
  CHECK(load_model(longrope).status().message().find("short_factor and long_factor need") != std::string::npos);
  const std::string llama3 = write_hf("llama3", "LlamaForCausalLM", d,
                                      ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
                                      "\"original_max_position_embeddings\": 64}",
                                      false, false, true);
  auto l3 = load_model(llama3);
  REQUIRE_MESSAGE(l3.ok(), l3.status().to_string());
  CHECK(l3->config.rope_scaling.type == RopeScalingType::kLlama3);
  CHECK(l3->config.rope_scaling.factor == 8.0f);
  CHECK(l3->config.rope_scaling.original_max_position == 64);

  CHECK(load_model(test::scratch_dir("loader_empty")).status().code() == StatusCode::kNotFound);
  CHECK(load_model("/nonexistent/model").status().code() == StatusCode::kNotFound);
  const std::string junk = test::scratch_dir("loader_junk") + "/junk.bin";
  test::write_file(junk, "hello");
  CHECK(load_model(junk).status().code() == StatusCode::kInvalidArgument);
}

// A small GGUF model of architecture `arch` with quantized matrices.
gguf::Writer gguf_model(const std::string& arch, const Dims& d, bool with_bias, bool with_qk_norm, bool tied) {
  gguf::Writer w;
  w.add_kv("general.architecture", gguf::value_string(arch));
  w.add_kv(arch + ".context_length", gguf::value_u32(256));
  w.add_kv(arch + ".embedding_length", gguf::value_u32(static_cast<uint32_t>(d.dim)));
  w.add_kv(arch + ".block_count", gguf::value_u32(static_cast<uint32_t>(d.n_layer)));
  w.add_kv(arch + ".feed_forward_length", gguf::value_u32(static_cast<uint32_t>(d.ffn)));
  w.add_kv(arch + ".attention.head_count", gguf::value_u32(static_cast<uint32_t>(d.n_head)));
  w.add_kv(arch + ".attention.head_count_kv", gguf::value_u32(static_cast<uint32_t>(d.n_kv)));
  w.add_kv(arch + ".attention.key_length", gguf::value_u32(static_cast<uint32_t>(d.head_dim)));
  w.add_kv(arch + ".attention.layer_norm_rms_epsilon", gguf::value_f32(1e-6f));
  w.add_kv(arch + ".rope.freq_base", gguf::value_f32(1e6f));
  w.add_kv("tokenizer.ggml.bos_token_id", gguf::value_u32(5));
  w.add_kv("tokenizer.ggml.eos_token_id", gguf::value_u32(6));
  w.add_kv("tokenizer.ggml.eot_token_id", gguf::value_u32(7));
  const uint64_t q = static_cast<uint64_t>(d.n_head * d.head_dim), kv = static_cast<uint64_t>(d.n_kv * d.head_dim);
  const uint64_t dim = static_cast<uint64_t>(d.dim), ffn = static_cast<uint64_t>(d.ffn);
  uint32_t seed = 100;
  auto mat = [&](const std::string& name, gguf::TensorType t, uint64_t cols, uint64_t rows) {
    w.add_tensor_f32(name, t, {cols, rows}, random_values(cols * rows, seed++));
  };
  auto vec = [&](const std::string& name, uint64_t n) { w.add_tensor_f32(name, gguf::TensorType::kF32, {n}, random_values(n, seed++)); };
  mat("token_embd.weight", gguf::TensorType::kQ8_0, dim, static_cast<uint64_t>(d.vocab));
  for (int i = 0; i < d.n_layer; ++i) {
    const std::string p = "blk." + std::to_string(i) + ".";
    vec(p + "attn_norm.weight", dim);
    mat(p + "attn_q.weight", gguf::TensorType::kQ4_0, dim, q);
    mat(p + "attn_k.weight", gguf::TensorType::kQ8_0, dim, kv);
    mat(p + "attn_v.weight", gguf::TensorType::kF16, dim, kv);
    mat(p + "attn_output.weight", gguf::TensorType::kBF16, q, dim);
    if (with_bias) {
      vec(p + "attn_q.bias", q);
      vec(p + "attn_k.bias", kv);
      vec(p + "attn_v.bias", kv);
    }
    if (with_qk_norm) {
      vec(p + "attn_q_norm.weight", static_cast<uint64_t>(d.head_dim));
      vec(p + "attn_k_norm.weight", static_cast<uint64_t>(d.head_dim));
    }
    vec(p + "ffn_norm.weight", dim);
    mat(p + "ffn_gate.weight", gguf::TensorType::kQ8_0, dim, ffn);
    mat(p + "ffn_up.weight", gguf::TensorType::kQ8_0, dim, ffn);
    mat(p + "ffn_down.weight", gguf::TensorType::kF32, ffn, dim);
  }
  vec("output_norm.weight", dim);
  if (!tied) mat("output.weight", gguf::TensorType::kQ8_0, dim, static_cast<uint64_t>(d.vocab));
  return w;
}

TEST_CASE("model loader: quantized GGUF qwen2 / qwen3") {
  Dims d;
  d.dim = 64;
  d.ffn = 96;
  d.head_dim = 16;
  const std::string dir = test::scratch_dir("loader_gguf");
  REQUIRE(gguf_model("qwen3", d, false, true, true).write(dir + "/q3.gguf").ok());
  auto m = load_model(dir + "/q3.gguf");
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  CHECK(m->config.arch == Arch::kQwen3);
  CHECK(m->config.rope_style == RopeStyle::kHalf);
  CHECK(m->config.qk_norm);
  CHECK(m->config.tied_embeddings);
  CHECK(m->config.head_dim == 16);
  CHECK(m->config.bos_id == 5);
  CHECK(m->config.eos_ids == std::vector<int>{6, 7});
  CHECK(m->config.rms_eps == 1e-6f);
  CHECK(m->weights.tok_embd.dtype == DType::kQ8_0);
  CHECK(m->weights.layers[0].wq.dtype == DType::kQ4_0);
  CHECK(m->weights.layers[0].wq.rows == 64);
  CHECK(m->weights.layers[0].wq.cols == 64);
  CHECK(m->weights.layers[1].w_down.rows == 64);
  CHECK(m->weights.layers[1].w_down.cols == 96);
  CHECK(m->weights.lm_head.data == m->weights.tok_embd.data);

  REQUIRE(gguf_model("qwen2", d, true, false, false).write(dir + "/q2.gguf").ok());
  m = load_model(dir + "/q2.gguf");
  REQUIRE_MESSAGE(m.ok(), m.status().to_string());
  CHECK(m->config.attn_bias);
  CHECK(m->weights.layers[1].bv.cols == 32);

  REQUIRE(gguf_model("qwen2", d, false, false, false).write(dir + "/nobias.gguf").ok());
  m = load_model(dir + "/nobias.gguf");
  CHECK(m.status().message() == dir + "/nobias.gguf: tensor 'blk.0.attn_q.bias' is missing");

  REQUIRE(gguf_model("gemma", d, false, false, false).write(dir + "/gemma.gguf").ok());
  CHECK(load_model(dir + "/gemma.gguf").status().message().find("'gemma'") != std::string::npos);

  gguf::Writer w = gguf_model("llama", d, false, false, false);
  w.add_kv("llama.feed_forward_length", gguf::value_u32(100));  // duplicate key: the file is corrupt
  REQUIRE(w.write(dir + "/dup.gguf").ok());
  CHECK(load_model(dir + "/dup.gguf").status().message().find("appears twice") != std::string::npos);
}

}  // namespace
}  // namespace sb
