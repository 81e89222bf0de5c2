// safetensors reader: single files, shards with an index, and hand-made broken
// headers that must each give one clear Status naming the file and the field.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>

#include "formats/hf_config.h"
#include "formats/safetensors.h"
#include "test_util.h"

namespace sb::safetensors {
namespace {

// A file made of an explicit header JSON and data bytes.
std::string raw_file(const std::string& json, const std::string& data, uint64_t declared_len = UINT64_MAX) {
  std::string out(8, '\0');
  const uint64_t n = declared_len == UINT64_MAX ? json.size() : declared_len;
  std::memcpy(out.data(), &n, 8);
  return out + json + data;
}

void expect_bad(const std::string& name, const std::string& bytes, const std::string& field) {
  const std::string path = test::scratch_dir("st_" + name) + "/model.safetensors";
  test::write_file(path, bytes);
  auto s = TensorSet::open_file(path);
  REQUIRE_MESSAGE(!s.ok(), name);
  const std::string& msg = s.status().message();
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find(field) != std::string::npos, msg);
}

TEST_CASE("safetensors: single file round trip") {
  const std::string dir = test::scratch_dir("st_single");
  std::vector<WriteTensor> ts = {
      make_tensor("a", "F32", {2, 3}, {1, 2, 3, 4, 5, 6}),
      make_tensor("b", "BF16", {4}, {1, -2, 0.5f, 8}),
      make_tensor("c", "F16", {1, 2}, {0.25f, -1}),
      WriteTensor{"ids", "I64", {2}, std::string(16, '\0')},
  };
  REQUIRE(write_file(dir + "/model.safetensors", ts).ok());
  auto set = TensorSet::open_dir(dir);
  REQUIRE_MESSAGE(set.ok(), set.status().to_string());
  CHECK(set->tensors().size() == 4);
  auto a = set->view("a");
  REQUIRE(a.ok());
  CHECK(a->rows == 2);
  CHECK(a->cols == 3);
  CHECK(a->dtype == DType::kF32);
  float x[6];
  std::memcpy(x, a->data, 24);
  CHECK(x[5] == 6.0f);
  auto b = set->view("b");
  CHECK(b->rows == 1);
  CHECK(b->cols == 4);
  dequantize_row(DType::kBF16, b->data, x, 4);
  CHECK(x[2] == 0.5f);
  auto c = set->view("c");
  dequantize_row(DType::kF16, c->data, x, 2);
  CHECK(x[1] == -1.0f);
  auto ids = set->view("ids");
  CHECK(ids.status().code() == StatusCode::kUnsupported);
  CHECK(ids.status().message().find("'ids'") != std::string::npos);
  CHECK(ids.status().message().find("I64") != std::string::npos);
  CHECK(set->view("nope").status().code() == StatusCode::kNotFound);
}

TEST_CASE("safetensors: sharded with an index") {
  const std::string dir = test::scratch_dir("st_sharded");
  REQUIRE(write_file(dir + "/model-00001-of-00002.safetensors", {make_tensor("x", "F32", {2}, {1, 2})}).ok());
  REQUIRE(write_file(dir + "/model-00002-of-00002.safetensors",
                     {make_tensor("y", "F32", {1}, {3}), make_tensor("z", "F16", {2, 2}, {1, 2, 3, 4})}).ok());
  const std::string index = R"({"metadata": {"total_size": 20}, "weight_map": {
      "x": "model-00001-of-00002.safetensors", "y": "model-00002-of-00002.safetensors",
      "z": "model-00002-of-00002.safetensors"}})";
  test::write_file(dir + "/model.safetensors.index.json", index);
  auto set = TensorSet::open_dir(dir);
  REQUIRE_MESSAGE(set.ok(), set.status().to_string());
  CHECK(set->tensors().size() == 3);
  CHECK(set->mappings().size() == 2);
  CHECK(set->find("z")->file.find("00002") != std::string::npos);
  CHECK(set->view("z")->rows == 2);

  // The index lists a tensor its shard does not hold.
  test::write_file(dir + "/model.safetensors.index.json",
                   R"({"weight_map": {"x": "model-00002-of-00002.safetensors"}})");
  auto missing = TensorSet::open_dir(dir);
  REQUIRE(!missing.ok());
  CHECK(missing.status().message().find("'x'") != std::string::npos);
  CHECK(missing.status().message().find("index.json") != std::string::npos);

  for (const char* evil : {"../model-00001-of-00002.safetensors", "/etc/passwd", "sub/x.safetensors", "..", ""}) {
    test::write_file(dir + "/model.safetensors.index.json",
                     std::string(R"({"weight_map": {"x": ")") + evil + "\"}}");
    auto s = TensorSet::open_dir(dir);
    REQUIRE(!s.ok());
    CHECK_MESSAGE(s.status().message().find("not a plain file name") != std::string::npos, s.status().message());
  }
  test::write_file(dir + "/model.safetensors.index.json", R"({"weight_map": [1, 2]})");
  CHECK(TensorSet::open_dir(dir).status().message().find("weight_map") != std::string::npos);
  test::write_file(dir + "/model.safetensors.index.json", R"({"weight_map": {)");
  CHECK(TensorSet::open_dir(dir).status().message().find("invalid JSON") != std::string::npos);

  // Without an index, every *.safetensors file is read.
  std::filesystem::remove(dir + "/model.safetensors.index.json");
  auto all = TensorSet::open_dir(dir);
  REQUIRE(all.ok());
  CHECK(all->tensors().size() == 3);
  CHECK(TensorSet::open_dir(test::scratch_dir("st_empty")).status().code() == StatusCode::kNotFound);
}

TEST_CASE("safetensors: hand-made broken files") {
  const std::string data8(8, '\0');
  const std::string ok_json = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  REQUIRE(TensorSet::open_file([&] {
            const std::string p = test::scratch_dir("st_ok") + "/model.safetensors";
            test::write_file(p, raw_file(ok_json, data8));
            return p;
          }()).ok());
  expect_bad("short", "abc", "too short");
  expect_bad("header_len", raw_file(ok_json, data8, 1000), "header length 1000 is larger than the file");
  expect_bad("header_huge", raw_file(ok_json, data8, uint64_t{1} << 63), "larger than the file");
  expect_bad("bad_json", raw_file(R"({"t":{"dtype":"F32",)", data8), "not valid JSON");
  expect_bad("not_object", raw_file("[1,2]", data8), "not a JSON object");
  expect_bad("bytes", raw_file(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data8),
             "tensor 't' has 8 bytes, expected 12");
  expect_bad("past_end", raw_file(R"({"t":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data8),
             "past the end of the data area");
  expect_bad("begin_end", raw_file(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", data8),
             "begin > end");
  expect_bad("neg_offset", raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", data8),
             "data_offsets");
  expect_bad("offsets_len", raw_file(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", data8),
             "data_offsets");
  expect_bad("dtype", raw_file(R"({"t":{"dtype":"Q9","shape":[2],"data_offsets":[0,8]}})", data8),
             "unknown dtype 'Q9'");
  expect_bad("no_dtype", raw_file(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", data8), "'dtype'");
  expect_bad("neg_shape", raw_file(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data8), "shape");
  expect_bad("shape_overflow",
             raw_file(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}})", data8),
             "overflow");
  expect_bad("overlap",
             raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                      data8),
             "overlaps");
  expect_bad("entry", raw_file(R"({"t":5})", data8), "tensor 't'");
}

TEST_CASE("hf config: fields, nulls, eos lists, generation_config") {
  auto c = hf::parse_model_config(R"({
    "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936,
    "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
    "intermediate_size": 4864, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0, "rope_scaling": null, "tie_word_embeddings": true, "head_dim": null,
    "bos_token_id": 151643, "eos_token_id": 151643, "torch_dtype": "bfloat16"})", "config.json");
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  CHECK(c->architectures == std::vector<std::string>{"Qwen2ForCausalLM"});
  CHECK(c->model_type == "qwen2");
  CHECK(c->vocab_size == 151936);
  CHECK(c->num_key_value_heads == 2);
  CHECK(c->head_dim == 0);
  CHECK(c->rms_norm_eps == 1e-6);
  CHECK(c->rope_theta == 1e6);
  CHECK(!c->rope_scaling.present);
  CHECK(c->tie_word_embeddings);
  CHECK(c->has_tie_word_embeddings);
  CHECK(c->eos_token_ids == std::vector<int64_t>{151643});
  hf::ModelJsonConfig cfg = *c;
  REQUIRE(hf::merge_generation_config(R"({"eos_token_id": [151645, 151643], "bos_token_id": 151643})", "gen.json", &cfg).ok());
  CHECK(cfg.eos_token_ids == std::vector<int64_t>{151643, 151645});

  auto l = hf::parse_model_config(R"({"architectures": ["LlamaForCausalLM"], "rope_scaling": {"factor": 8.0,
    "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
    "rope_type": "llama3"}, "eos_token_id": [128001, 128008, 128009]})", "c.json");
  REQUIRE(l.ok());
  CHECK(l->rope_scaling.present);
  CHECK(l->rope_scaling.type == "llama3");
  CHECK(l->rope_scaling.factor == 8.0);
  CHECK(l->rope_scaling.original_max_position_embeddings == 8192);
  CHECK(l->eos_token_ids.size() == 3);
  CHECK(!l->has_tie_word_embeddings);

  auto bad = hf::parse_model_config(R"({"hidden_size": "big"})", "dir/config.json");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message() == "dir/config.json: field 'hidden_size' must be an integer");
  CHECK(hf::parse_model_config(R"({"hidden_size": 1.5})", "c").status().message().find("hidden_size") != std::string::npos);
  CHECK(hf::parse_model_config("{", "c.json").status().message().find("c.json: invalid JSON") == 0);
  CHECK(hf::parse_model_config(R"({"rope_scaling": 3})", "c").status().message().find("rope_scaling") != std::string::npos);
  CHECK(hf::read_model_config("/nonexistent").status().code() == StatusCode::kNotFound);
}

TEST_CASE("hf config: integers beyond 64 bits and floats where ints are expected") {
  // Unused fields of any size are numbers like others; needed ones may be written as floats.
  auto c = hf::parse_model_config(R"({"hidden_size": 4096.0, "max_position_embeddings": 131072,
    "model_max_length": 1000000000000000019884624838656, "neg": -123456789012345678901234567890,
    "s": "1000000000000000019884624838656", "rope_scaling": {"factor": 8, "original_max_position_embeddings": 8192.0}})",
                                  "config.json");
  REQUIRE_MESSAGE(c.ok(), c.status().to_string());
  CHECK(c->hidden_size == 4096);
  CHECK(c->max_position_embeddings == 131072);
  CHECK(c->rope_scaling.original_max_position_embeddings == 8192);
  // A needed field that large is an error naming it.
  auto big = hf::parse_model_config(R"({"vocab_size": 1000000000000000019884624838656})", "dir/config.json");
  REQUIRE(!big.ok());
  CHECK(big.status().message() == "dir/config.json: field 'vocab_size' is too large");
}

}  // namespace
}  // namespace sb::safetensors
