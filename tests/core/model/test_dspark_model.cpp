// load_dspark(): random DSpark checkpoints written by write_random_dspark (both
// tensor name styles, F32 and BF16, embed/lm_head copied from a target), the
// checkpoint of tests/tools/make_dspark_reference.py against numpy's reading of
// it, and the error for each kind of broken checkpoint, naming the field or tensor.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>

#include "core/model/dspark_model.h"
#include "core/model/model.h"
#include "core/modelgen/random_dspark.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace sb {
namespace {

ModelConfig target_config() {
  ModelConfig t;
  t.n_vocab = 120;
  t.dim = 48;
  t.n_layer = 5;
  return t;
}

RandomDSparkShape small_shape() {
  RandomDSparkShape s;
  s.n_vocab = 120;
  s.dim = 48;
  s.target_n_layer = 5;
  s.n_layer = 2;
  s.n_head = 4;
  s.n_kv_head = 2;
  s.head_dim = 16;  // != dim / n_head: must come from config.json
  s.ffn_dim = 72;
  s.block_size = 5;
  s.markov_rank = 6;
  return s;
}

float element(const TensorView& v, int64_t r, int64_t c) {
  float x = 0;
  std::vector<float> row(static_cast<size_t>(v.cols));
  dequantize_row(v.dtype, v.row(r), row.data(), v.cols);
  x = row[static_cast<size_t>(c)];
  return x;
}

// Writes `s`, lets `edit` change config.json text and the tensor list, and loads.
StatusOr<DSparkModel> write_edit_load(const std::string& name, const RandomDSparkShape& s,
                                      const std::function<void(std::string*, std::vector<safetensors::WriteTensor>*)>& edit,
                                      const ModelConfig& target = target_config()) {
  const std::string dir = test::scratch_dir("dspark_" + name);
  std::string cfg = random_dspark_config_json(s);
  std::vector<safetensors::WriteTensor> tensors = random_dspark_tensors(s, 7);
  edit(&cfg, &tensors);
  test::write_file(dir + "/config.json", cfg);
  REQUIRE(safetensors::write_file(dir + "/model.safetensors", tensors).ok());
  return load_dspark(dir, target);
}

void replace(std::string* text, const std::string& from, const std::string& to) {
  const size_t at = text->find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  text->replace(at, from.size(), to);
}

void drop(std::vector<safetensors::WriteTensor>* ts, const std::string& name) {
  const auto it = std::find_if(ts->begin(), ts->end(), [&](const auto& t) { return t.name == name; });
  REQUIRE_MESSAGE(it != ts->end(), name);
  ts->erase(it);
}

void reshape(std::vector<safetensors::WriteTensor>* ts, const std::string& name, std::vector<int64_t> shape) {
  const auto it = std::find_if(ts->begin(), ts->end(), [&](const auto& t) { return t.name == name; });
  REQUIRE_MESSAGE(it != ts->end(), name);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  *it = safetensors::make_tensor(name, "F32", std::move(shape), std::vector<float>(static_cast<size_t>(n), 0.5f));
}

std::string message_of(const StatusOr<DSparkModel>& m) {
  REQUIRE_FALSE(m.ok());
  return m.status().message();
}

// The loaded view a checkpoint tensor name refers to ("model." prefix or not).
const TensorView* view_by_name(const DSparkModel& m, std::string name) {
  if (name.rfind("model.", 0) == 0) name = name.substr(6);
  const ModelWeights& w = m.model.weights;
  const std::map<std::string, const TensorView*> top = {
      {"embed_tokens.weight", &w.tok_embd}, {"lm_head.weight", &w.lm_head}, {"norm.weight", &w.out_norm},
      {"fc.weight", &m.fc}, {"hidden_norm.weight", &m.hidden_norm},
      {"markov_head.markov_w1.weight", &m.markov_w1}, {"markov_head.markov_w2.weight", &m.markov_w2},
      {"confidence_head.proj.weight", &m.confidence_w}, {"confidence_head.proj.bias", &m.confidence_b}};
  if (const auto it = top.find(name); it != top.end()) return it->second;
  int layer = -1;
  char rest[128] = {};
  if (std::sscanf(name.c_str(), "layers.%d.%127s", &layer, rest) != 2 || layer < 0 ||
      layer >= static_cast<int>(w.layers.size())) {
    return nullptr;
  }
  const LayerWeights& l = w.layers[static_cast<size_t>(layer)];
  const std::map<std::string, const TensorView*> slots = {
      {"input_layernorm.weight", &l.attn_norm}, {"self_attn.q_proj.weight", &l.wq},
      {"self_attn.k_proj.weight", &l.wk}, {"self_attn.v_proj.weight", &l.wv}, {"self_attn.o_proj.weight", &l.wo},
      {"self_attn.q_norm.weight", &l.q_norm}, {"self_attn.k_norm.weight", &l.k_norm},
      {"post_attention_layernorm.weight", &l.ffn_norm}, {"mlp.gate_proj.weight", &l.w_gate},
      {"mlp.up_proj.weight", &l.w_up}, {"mlp.down_proj.weight", &l.w_down}};
  const auto it = slots.find(rest);
  return it == slots.end() ? nullptr : it->second;
}

}  // namespace

TEST_CASE("dspark loader: the numpy reference's checkpoint, tensor by tensor") {
  const std::string dir = test::scratch_dir("dspark_numpy");
  const std::string cmd = std::string("/usr/bin/python3 ") + SPECBATCH_SOURCE_DIR +
                          "/tests/tools/make_dspark_reference.py " + dir;
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "needs /usr/bin/python3 with numpy (python3-numpy)");
  const StatusOr<Model> target = load_model(dir + "/target");
  REQUIRE_MESSAGE(target.ok(), target.status().message());
  const StatusOr<DSparkModel> m = load_dspark(dir + "/dspark", target->config);
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->dspark.target_layer_ids == std::vector<int>{-1, 1, 2});
  CHECK(m->dspark.markov_rank == 6);
  CHECK(m->model.config.head_dim == 12);
  CHECK(m->model.config.n_kv_head == 1);

  std::ifstream in(dir + "/tensors.txt");
  std::string line;
  int n_checked = 0;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string name;
    int64_t rows = 0, cols = 0;
    double sum = 0, wsum = 0;
    REQUIRE(static_cast<bool>(s >> name >> rows >> cols >> sum >> wsum));
    CAPTURE(name);
    const TensorView* v = view_by_name(*m, name);
    REQUIRE(v != nullptr);
    REQUIRE(v->present());
    CHECK(v->rows == rows);
    CHECK(v->cols == cols);
    std::vector<float> row(static_cast<size_t>(v->cols));
    double got = 0, wgot = 0;
    for (int64_t r = 0; r < v->rows; ++r) {
      dequantize_row(v->dtype, v->row(r), row.data(), v->cols);
      for (int64_t c = 0; c < v->cols; ++c) {
        const int64_t i = r * v->cols + c;
        got += row[static_cast<size_t>(c)];
        wgot += row[static_cast<size_t>(c)] * static_cast<double>(i % 7 + 1);
      }
    }
    CHECK(got == doctest::Approx(sum).epsilon(1e-9).scale(1.0));
    CHECK(wgot == doctest::Approx(wsum).epsilon(1e-9).scale(1.0));
    ++n_checked;
  }
  CHECK(n_checked == 9 + 2 * 11);
}

TEST_CASE("dspark loader: random checkpoint, with and without 'model.' prefixes, F32 and BF16") {
  const ModelConfig target = target_config();
  // The target's embedding and lm_head, copied into the checkpoint by the writer.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> embd(static_cast<size_t>(target.n_vocab * target.dim)), head(embd.size());
  for (float& x : embd) x = u(rng);
  for (float& x : head) x = u(rng);
  for (const bool prefix : {false, true}) {
    for (const char* dtype : {"F32", "BF16"}) {
      CAPTURE(prefix);
      CAPTURE(dtype);
      RandomDSparkShape s = small_shape();
      s.model_prefix = prefix;
      s.dtype = dtype;
      s.embed_tokens = TensorView{"token_embd.weight", DType::kF32, target.n_vocab, target.dim, embd.data()};
      s.lm_head = TensorView{"output.weight", DType::kF32, target.n_vocab, target.dim, head.data()};
      const std::string dir = test::scratch_dir(std::string("dspark_ok_") + (prefix ? "prefix_" : "") + dtype);
      REQUIRE(write_random_dspark(dir, s, 11).ok());
      // The writer's names: "model." on all but lm_head when asked.
      const auto set = safetensors::TensorSet::open_dir(dir);
      REQUIRE(set.ok());
      CHECK((set->find("model.fc.weight") != nullptr) == prefix);
      CHECK((set->find("fc.weight") != nullptr) == !prefix);
      CHECK(set->find("lm_head.weight") != nullptr);

      const StatusOr<DSparkModel> m = load_dspark(dir, target);
      REQUIRE_MESSAGE(m.ok(), m.status().message());
      const ModelConfig& c = m->model.config;
      CHECK(c.arch == Arch::kQwen3);
      CHECK(c.qk_norm);
      CHECK(c.rope_style == RopeStyle::kHalf);
      CHECK(c.n_vocab == 120);
      CHECK(c.dim == 48);
      CHECK(c.n_layer == 2);
      CHECK(c.n_head == 4);
      CHECK(c.n_kv_head == 2);
      CHECK(c.head_dim == 16);
      CHECK(c.ffn_dim == 72);
      CHECK(c.rope_theta == doctest::Approx(1e6));
      CHECK(c.rms_eps == doctest::Approx(1e-6));
      CHECK_FALSE(c.tied_embeddings);
      const DSparkConfig& d = m->dspark;
      CHECK(d.block_size == 5);
      CHECK(d.target_layer_ids == std::vector<int>{1, 2, 3});  // {1, n/2, n-2} for 5 target layers
      CHECK(d.mask_token_id == 119);
      CHECK(d.markov_rank == 6);
      CHECK(d.markov_head_type == "vanilla");
      CHECK(d.confidence_head);
      CHECK(d.confidence_head_with_markov);
      CHECK(m->fc.rows == 48);
      CHECK(m->fc.cols == 3 * 48);
      CHECK(m->hidden_norm.cols == 48);
      CHECK(m->markov_w1.rows == 120);
      CHECK(m->markov_w1.cols == 6);
      CHECK(m->markov_w2.rows == 120);
      CHECK(m->markov_w2.cols == 6);
      CHECK(m->confidence_w.rows == 1);
      CHECK(m->confidence_w.cols == 48 + 6);
      CHECK(m->confidence_b.n_elems() == 1);
      REQUIRE(m->model.weights.layers.size() == 2);
      CHECK(m->model.weights.layers[1].q_norm.cols == 16);
      CHECK(m->model.weights.layers[1].wq.rows == 4 * 16);
      CHECK(m->model.weights.layers[1].wk.rows == 2 * 16);
      // Copies of the target's embedding and lm_head (BF16: rounded once).
      const float tol = std::strcmp(dtype, "BF16") == 0 ? 1.0f / 128 : 0.0f;
      for (const int64_t r : {0, 57, 119}) {
        for (const int64_t col : {0, 31, 47}) {
          const size_t i = static_cast<size_t>(r * target.dim + col);
          CHECK(std::fabs(element(m->model.weights.tok_embd, r, col) - embd[i]) <= tol * std::fabs(embd[i]));
          CHECK(std::fabs(element(m->model.weights.lm_head, r, col) - head[i]) <= tol * std::fabs(head[i]));
        }
      }
      // The loaded fc equals what the file holds, read independently.
      const safetensors::TensorInfo* fc = set->find(prefix ? "model.fc.weight" : "fc.weight");
      REQUIRE(fc != nullptr);
      const size_t esize = std::strcmp(dtype, "F32") == 0 ? 4 : 2;
      CHECK(std::memcmp(fc->data, m->fc.data, fc->n_bytes) == 0);
      CHECK(fc->n_bytes == 48 * 3 * 48 * esize);
    }
  }
}

TEST_CASE("dspark loader: optional heads, explicit layer ids, the embedding output (-1)") {
  RandomDSparkShape s = small_shape();
  s.target_layer_ids = {-1, 4};
  s.markov_rank = 0;
  s.confidence_head_with_markov = false;
  // RoPE as transformers 5 writes it: rope_theta inside rope_parameters.
  const auto m = write_edit_load("no_markov", s, [](std::string* cfg, std::vector<safetensors::WriteTensor>*) {
    replace(cfg, "\"rope_theta\":1e+06", "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":5000}");
  });
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(m->model.config.rope_theta == 5000.0f);
  CHECK(m->model.config.rope_scaling.type == RopeScalingType::kNone);
  CHECK(m->dspark.target_layer_ids == std::vector<int>{-1, 4});
  CHECK(m->fc.cols == 2 * 48);
  CHECK_FALSE(m->markov_w1.present());
  CHECK_FALSE(m->markov_w2.present());
  CHECK(m->confidence_w.cols == 48);

  s.confidence_head = false;
  const auto bare = write_edit_load("bare", s, [](std::string*, std::vector<safetensors::WriteTensor>*) {});
  REQUIRE_MESSAGE(bare.ok(), bare.status().message());
  CHECK_FALSE(bare->confidence_w.present());
  CHECK_FALSE(bare->confidence_b.present());
}

TEST_CASE("dspark loader: broken checkpoints name the field or tensor") {
  const RandomDSparkShape s = small_shape();
  using Tensors = std::vector<safetensors::WriteTensor>;
  const auto cfg_edit = [](std::string from, std::string to) {
    return [from, to](std::string* cfg, Tensors*) { replace(cfg, from, to); };
  };
  const auto tensor_edit = [](std::function<void(Tensors*)> f) { return [f](std::string*, Tensors* ts) { f(ts); }; };
  struct Case {
    const char* name;
    std::function<void(std::string*, Tensors*)> edit;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"missing_fc", tensor_edit([](Tensors* ts) { drop(ts, "fc.weight"); }),
       "tensor 'fc.weight' is missing (looked for with and without a leading 'model.')"},
      {"missing_layer", tensor_edit([](Tensors* ts) { drop(ts, "layers.1.self_attn.k_norm.weight"); }),
       "tensor 'layers.1.self_attn.k_norm.weight' is missing"},
      {"missing_lm_head", tensor_edit([](Tensors* ts) { drop(ts, "lm_head.weight"); }),
       "tensor 'lm_head.weight' is missing"},
      {"missing_confidence_bias", tensor_edit([](Tensors* ts) { drop(ts, "confidence_head.proj.bias"); }),
       "tensor 'confidence_head.proj.bias' is missing"},
      {"shape_markov", tensor_edit([](Tensors* ts) { reshape(ts, "markov_head.markov_w1.weight", {120, 7}); }),
       "tensor 'markov_head.markov_w1.weight' has shape [120, 7], expected [120, 6]"},
      {"shape_fc", tensor_edit([](Tensors* ts) { reshape(ts, "fc.weight", {48, 96}); }),
       "tensor 'fc.weight' has shape [48, 96], expected [48, 144]"},
      {"shape_embed", tensor_edit([](Tensors* ts) { reshape(ts, "embed_tokens.weight", {121, 48}); }),
       "tensor 'embed_tokens.weight' has shape [121, 48], expected [120, 48]"},
      {"shape_confidence", tensor_edit([](Tensors* ts) { reshape(ts, "confidence_head.proj.weight", {1, 48}); }),
       "tensor 'confidence_head.proj.weight' has shape [48], expected [54]"},
      {"layer_id_high", cfg_edit("\"target_layer_ids\":[1,2,3]", "\"target_layer_ids\":[1,5]"),
       "config.json: target_layer_ids[1] = 5 is outside [-1, 5): the target has 5 layers"},
      {"layer_id_low", cfg_edit("\"target_layer_ids\":[1,2,3]", "\"target_layer_ids\":[-2,2,3]"),
       "config.json: target_layer_ids[0] = -2 is outside [-1, 5)"},
      {"layer_ids_empty", cfg_edit("\"target_layer_ids\":[1,2,3]", "\"target_layer_ids\":[]"),
       "config.json: 'target_layer_ids' is missing or empty"},
      {"num_target_layers", cfg_edit("\"num_target_layers\":5", "\"num_target_layers\":36"),
       "config.json: num_target_layers = 36 differs from the target's 5 layers"},
      {"vocab", cfg_edit("\"vocab_size\":120", "\"vocab_size\":150000"),
       "config.json: vocab_size = 150000 differs from the target's 120"},
      {"hidden", cfg_edit("\"hidden_size\":48", "\"hidden_size\":64"),
       "config.json: hidden_size = 64 differs from the target's 48"},
      {"mask_token", cfg_edit("\"mask_token_id\":119", "\"mask_token_id\":120"),
       "config.json: mask_token_id = 120 is outside the vocabulary [0, 120)"},
      {"mask_token_missing", cfg_edit("\"mask_token_id\":119,", ""), "config.json: 'mask_token_id' is missing"},
      {"block_size_zero", cfg_edit("\"block_size\":5", "\"block_size\":0"),
       "config.json: block_size = 0 is outside 1..64"},
      {"block_size_huge", cfg_edit("\"block_size\":5", "\"block_size\":65"),
       "config.json: block_size = 65 is outside 1..64"},
      {"not_dspark", cfg_edit("\"block_size\":5,", ""), "config.json: 'block_size' is missing (not a DSpark checkpoint?)"},
      {"markov_rank", cfg_edit("\"markov_rank\":6", "\"markov_rank\":-1"),
       "config.json: markov_rank = -1 is outside 0..65536"},
      {"markov_type", cfg_edit("\"markov_head_type\":\"vanilla\"", "\"markov_head_type\":\"gated\""),
       "config.json: markov_head_type 'gated' is not supported (vanilla)"},
      {"confidence_needs_markov", cfg_edit("\"markov_rank\":6", "\"markov_rank\":0"),
       "config.json: confidence_head_with_markov needs markov_rank > 0"},
      {"layer_ids_type", cfg_edit("\"target_layer_ids\":[1,2,3]", "\"target_layer_ids\":[\"a\"]"),
       "config.json: field 'target_layer_ids' must be an integer"},
      {"gemma4_drafter", cfg_edit("\"Qwen3DSparkModel\"", "\"Gemma4DSparkModel\""),
       "config.json: architectures 'Gemma4DSparkModel' is not a supported DSpark drafter (supported: "
       "Qwen3DSparkModel)"},
      {"sliding_layers", cfg_edit("\"block_size\":5,", "\"block_size\":5,\"layer_types\":[\"sliding_attention\"],"),
       "config.json: layer_types[0] 'sliding_attention' is not supported in a DSpark drafter (full_attention only)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string msg = message_of(write_edit_load(std::string("bad_") + c.name, s, c.edit));
    CHECK_MESSAGE(msg.find(c.want) != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("dspark_bad_") != std::string::npos, msg);  // names the directory
  }
}

}  // namespace sb
