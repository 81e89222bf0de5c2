// GGUF reader and writer: a round trip of every value and tensor type, and
// hand-made broken files that must each give one clear Status (never a crash).
#include <doctest/doctest.h>

#include <cmath>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <limits>

#include "core/modelgen/gguf_writer.h"
#include "formats/gguf.h"
#include "test_util.h"

namespace sb::gguf {
namespace {

// Little-endian byte builder for hand-made files.
struct Bytes {
  std::string s;
  template <typename T>
  Bytes& put(T x) {
    char b[sizeof(T)];
    std::memcpy(b, &x, sizeof(T));
    s.append(b, sizeof(T));
    return *this;
  }
  Bytes& u32(uint32_t x) { return put(x); }
  Bytes& u64(uint64_t x) { return put(x); }
  Bytes& str(const std::string& x) {
    u64(x.size());
    s += x;
    return *this;
  }
  Bytes& header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    s += "GGUF";
    return u32(version).u64(n_tensors).u64(n_kv);
  }
  // A tensor info entry.
  Bytes& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes& pad_to(size_t a) {
    s.resize((s.size() + a - 1) / a * a, '\0');
    return *this;
  }
};

std::string write_tmp(const std::string& name, const std::string& bytes) {
  const std::string path = test::scratch_dir("gguf_" + name) + "/" + name + ".gguf";
  test::write_file(path, bytes);
  return path;
}

// Opens bytes that must fail; checks the message names the file and `field`.
StatusCode open_bad(const std::string& name, const std::string& bytes, const std::string& field) {
  const std::string path = write_tmp(name, bytes);
  auto f = File::open(path);
  REQUIRE_MESSAGE(!f.ok(), name);
  const std::string& msg = f.status().message();
  CHECK_MESSAGE(msg.find(path) != std::string::npos, msg);
  CHECK_MESSAGE(msg.find(field) != std::string::npos, msg);
  return f.status().code();
}

std::string f32_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

TEST_CASE("gguf: round trip of every value type and tensor type") {
  Writer w(64);
  w.add_kv("u8", value_u8(250));
  w.add_kv("i8", value_i8(-100));
  w.add_kv("u16", value_u16(65000));
  w.add_kv("i16", value_i16(-32000));
  w.add_kv("u32", value_u32(4000000000u));
  w.add_kv("i32", value_i32(-2000000000));
  w.add_kv("u64", value_u64((uint64_t{1} << 63) + 5));
  w.add_kv("i64", value_i64(std::numeric_limits<int64_t>::min()));
  w.add_kv("f32", value_f32(0.1f));
  w.add_kv("f64", value_f64(0.1));
  w.add_kv("bool", value_bool(true));
  w.add_kv("str", value_string(std::string("h\xc3\xa9llo\0x", 8)));
  w.add_kv("strs", value_string_array({"a", "", "\xe2\x96\x81the"}));
  w.add_kv("f32s", value_f32_array({1.5f, -2.0f}));
  w.add_kv("empty", value_array(ValueType::kUint8, {}));
  w.add_kv("nested", value_array(ValueType::kArray, {value_i32_array({1, 2}), value_i32_array({}),
                                                     value_array(ValueType::kString, {value_string("x")})}));
  // Nested arrays with different inner types are legal GGUF; the last one above.
  std::vector<float> vals(64 * 3);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = static_cast<float>(i) * 0.25f - 7.0f;
  w.add_tensor("t.f32", TensorType::kF32, {7, 3}, f32_bytes(std::vector<float>(vals.begin(), vals.begin() + 21)));
  w.add_tensor_f32("t.f16", TensorType::kF16, {5}, {1, 2, 3, 0.5f, -65504});
  w.add_tensor_f32("t.bf16", TensorType::kBF16, {2, 2}, {1, -2, 3e30f, 0});
  w.add_tensor_f32("t.q8", TensorType::kQ8_0, {64, 3}, vals);
  w.add_tensor_f32("t.q4", TensorType::kQ4_0, {32, 2}, std::vector<float>(vals.begin(), vals.begin() + 64));
  const std::string path = test::scratch_dir("gguf_roundtrip") + "/rt.gguf";
  REQUIRE(w.write(path).ok());
  CHECK(test::read_file(path) == w.to_bytes());

  auto fo = File::open(path);
  REQUIRE_MESSAGE(fo.ok(), fo.status().to_string());
  const File& f = *fo;
  CHECK(f.version() == 3);
  CHECK(f.alignment() == 64);
  CHECK(f.get_int("u8").value() == 250);
  CHECK(f.get_int("i8").value() == -100);
  CHECK(f.get_int("u16").value() == 65000);
  CHECK(f.get_int("i16").value() == -32000);
  CHECK(f.get_int("u32").value() == 4000000000LL);
  CHECK(f.get_int("i32").value() == -2000000000);
  CHECK(std::get<uint64_t>(f.find("u64")->v) == (uint64_t{1} << 63) + 5);
  CHECK(f.get_int("u64").status().code() == StatusCode::kCorrupt);  // does not fit int64
  CHECK(f.get_int("i64").value() == std::numeric_limits<int64_t>::min());
  CHECK(f.get_float("f32").value() == static_cast<double>(0.1f));
  CHECK(f.get_float("f64").value() == 0.1);
  CHECK(f.get_float("u16").value() == 65000.0);
  CHECK(f.get_bool("bool").value());
  CHECK(f.get_string("str").value() == std::string("h\xc3\xa9llo\0x", 8));
  CHECK(f.get_string_array("strs").value() == std::vector<std::string>{"a", "", "\xe2\x96\x81the"});
  CHECK(f.get_float_array("f32s").value() == std::vector<double>{1.5, -2.0});
  CHECK(f.get_int_array("empty").value().empty());
  const Value* nested = f.find("nested");
  REQUIRE(nested != nullptr);
  CHECK(nested->elem_type == ValueType::kArray);
  REQUIRE(std::get<Array>(nested->v).n == 3);
  CHECK(std::get<int64_t>(array_element(array_element(*nested, 0), 1).v) == 2);
  CHECK(std::get<Array>(array_element(*nested, 1).v).n == 0);
  CHECK(std::get<std::string>(array_element(array_element(*nested, 2), 0).v) == "x");
  CHECK(f.metadata().size() == 17);  // 16 + general.alignment
  CHECK(f.metadata()[1].first == "u8");  // file order kept

  // Typed getter errors name the file and key.
  auto missing = f.get_int("nope");
  CHECK(missing.status().code() == StatusCode::kNotFound);
  CHECK(missing.status().message().find("'nope'") != std::string::npos);
  auto wrong = f.get_string("u8");
  CHECK(wrong.status().code() == StatusCode::kCorrupt);
  CHECK(wrong.status().message().find(path) != std::string::npos);
  CHECK(f.get_string_array("f32s").status().code() == StatusCode::kCorrupt);

  REQUIRE(f.tensors().size() == 5);
  for (const TensorInfo& t : f.tensors()) {
    CHECK(t.offset % 64 == 0);
    CHECK(reinterpret_cast<uintptr_t>(t.data) % 64 == 0);
  }
  const TensorInfo* tf = f.find_tensor("t.f32");
  REQUIRE(tf != nullptr);
  CHECK(tf->rows() == 3);
  CHECK(tf->cols() == 7);
  CHECK(std::memcmp(tf->data, vals.data(), 21 * 4) == 0);
  const TensorInfo* th = f.find_tensor("t.f16");
  REQUIRE(th != nullptr);
  CHECK(th->type == TensorType::kF16);
  CHECK(th->n_bytes == 10);
  float out[64 * 3];
  dequantize_row(DType::kF16, th->data, out, 5);
  CHECK(out[3] == 0.5f);
  CHECK(out[4] == -65504.0f);
  const TensorInfo* tb = f.find_tensor("t.bf16");
  dequantize_row(DType::kBF16, tb->data, out, 4);
  CHECK(out[1] == -2.0f);
  const TensorInfo* q8 = f.find_tensor("t.q8");
  CHECK(q8->n_bytes == 3 * 2 * 34);
  dequantize_row(DType::kQ8_0, q8->data, out, 64 * 3);
  for (int i = 0; i < 64 * 3; ++i) CHECK(std::fabs(out[i] - vals[static_cast<size_t>(i)]) < 0.5f);
  const TensorInfo* q4 = f.find_tensor("t.q4");
  CHECK(q4->n_bytes == 2 * 18);
  CHECK(q4->type == TensorType::kQ4_0);
  CHECK(tensor_type_dtype(q4->type) == DType::kQ4_0);
  CHECK(f.find_tensor("missing") == nullptr);
}

TEST_CASE("gguf: every truncation of a valid file is an error, never a crash") {
  Writer w;
  w.add_kv("general.architecture", value_string("llama"));
  w.add_kv("arr", value_array(ValueType::kArray, {value_f32_array({1, 2}), value_string_array({"ab"})}));
  w.add_kv("b", value_bool(false));
  w.add_tensor_f32("w", TensorType::kQ8_0, {32, 2}, std::vector<float>(64, 1.0f));
  w.add_tensor_f32("v", TensorType::kF32, {3}, {1, 2, 3});
  const std::string bytes = w.to_bytes();
  const std::string path = test::scratch_dir("gguf_trunc") + "/t.gguf";
  const size_t needed = bytes.size() - 20;  // the last tensor (12 bytes) is followed by padding
  for (size_t n = 0; n < needed; ++n) {
    test::write_file(path, bytes.substr(0, n));
    auto f = File::open(path);
    CHECK_MESSAGE(!f.ok(), "prefix " << n);
    if (!f.ok()) CHECK(f.status().message().find(path) != std::string::npos);
  }
  test::write_file(path, bytes.substr(0, needed));
  CHECK(File::open(path).ok());
}

TEST_CASE("gguf: hand-made broken headers") {
  const uint64_t kHuge = uint64_t{1} << 60;
  CHECK(open_bad("magic", "GGML" + std::string(20, '\0'), "magic") == StatusCode::kCorrupt);
  CHECK(open_bad("version1", Bytes().header(0, 0, 1).s, "version 1") == StatusCode::kUnsupported);
  CHECK(open_bad("bigendian", Bytes().header(0, 0, 0x03000000).s, "big-endian") == StatusCode::kUnsupported);
  open_bad("short", "GGUF\x03", "version");
  open_bad("no_counts", Bytes().header(0, 0).s.substr(0, 12), "tensor count");
  open_bad("huge_tensors", Bytes().header(kHuge, 0).s, "tensor count 1152921504606846976");
  open_bad("huge_kv", Bytes().header(0, kHuge).s, "metadata count 1152921504606846976");
  open_bad("huge_key", Bytes().header(0, 1).u64(kHuge).s + std::string(16, 'x'), "string length 1152921504606846976");
  open_bad("huge_string", Bytes().header(0, 1).str("k").u32(8).u64(kHuge).s + "abc", "metadata key 'k'");
  open_bad("huge_array", Bytes().header(0, 1).str("k").u32(9).u32(4).u64(kHuge).s + "abcd",
           "array length 1152921504606846976");
  open_bad("huge_str_array", Bytes().header(0, 1).str("k").u32(9).u32(8).u64(kHuge / 4).s + std::string(64, 'a'),
           "metadata key 'k'");
  open_bad("bad_value_type", Bytes().header(0, 1).str("k").u32(13).u32(0).s, "invalid value type code 13");
  open_bad("bad_elem_type", Bytes().header(0, 1).str("k").u32(9).u32(77).u64(1).s, "element type code 77");
  open_bad("bad_bool", Bytes().header(0, 1).str("k").u32(7).put<uint8_t>(2).s, "bool value 2");
  open_bad("dup_key", Bytes().header(0, 2).str("k").u32(4).u32(1).str("k").u32(4).u32(2).s, "'k' appears twice");
  Bytes deep;
  deep.header(0, 1).str("deep").u32(9);
  for (int i = 0; i < 100; ++i) deep.u32(9).u64(1);
  deep.u32(4).u64(0);
  open_bad("deep", deep.s, "nested deeper");
  open_bad("alignment", Bytes().header(0, 1).str("general.alignment").u32(4).u32(24).s, "general.alignment = 24");
}

TEST_CASE("gguf: hand-made broken tensor infos") {
  auto one_tensor = [](std::vector<uint64_t> ne, uint32_t type, uint64_t offset, size_t data_bytes) {
    Bytes b;
    b.header(1, 0).tensor("blk.0.attn_q.weight", std::move(ne), type, offset).pad_to(32);
    b.s += std::string(data_bytes, '\x01');
    return b.s;
  };
  CHECK(File::open(write_tmp("ok", one_tensor({4, 2}, 0, 0, 32))).ok());
  open_bad("past_end", one_tensor({4, 2}, 0, 0, 31), "runs past the end of the file");
  open_bad("offset_range", one_tensor({4, 2}, 0, uint64_t{1} << 62, 32), "blk.0.attn_q.weight");
  open_bad("offset_overflow", one_tensor({4, 2}, 0, ~uint64_t{31}, 32), "runs past the end");
  open_bad("misaligned", one_tensor({4, 2}, 0, 4, 64), "not a multiple of the alignment 32");
  open_bad("dims", one_tensor({1, 1, 1, 1, 1}, 0, 0, 64), "n_dims 5");
  open_bad("zero_dim", one_tensor({4, 0}, 0, 0, 64), "ne[1] = 0");
  open_bad("dim_overflow", one_tensor({uint64_t{1} << 40, uint64_t{1} << 40}, 0, 0, 64), "ne[1]");
  CHECK(open_bad("bad_type", one_tensor({4, 2}, 99, 0, 64), "invalid tensor type code 99") ==
        StatusCode::kCorrupt);
  CHECK(open_bad("q4k", one_tensor({256, 2}, 12, 0, 1024), "Q4_K") == StatusCode::kUnsupported);
  open_bad("q8_block", one_tensor({20, 2}, 8, 0, 1024), "block size 32");
  open_bad("huge_name", Bytes().header(1, 0).u64(uint64_t{1} << 60).s + std::string(40, 'n'), "tensor info #0 name");

  Bytes overlap;
  overlap.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 64).pad_to(32);
  overlap.s += std::string(128, '\0');
  CHECK(File::open(write_tmp("no_overlap", overlap.s)).ok());
  Bytes overlap2;
  overlap2.header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 0).pad_to(32);
  overlap2.s += std::string(96, '\0');
  open_bad("overlap", overlap2.s, "overlaps tensor");
  Bytes dup;
  dup.header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad_to(32);
  dup.s += std::string(64, '\0');
  open_bad("dup_tensor", dup.s, "'a' appears twice");
}

// Resident memory of this process in bytes (/proc/self/statm).
uint64_t resident_bytes() {
  uint64_t pages = 0, resident = 0;
  std::ifstream("/proc/self/statm") >> pages >> resident;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

TEST_CASE("gguf: metadata arrays cost what the file holds (issue 22, item 5: a 20 MB file took 983 MB)") {
  const uint64_t n = uint64_t{8} << 20;  // 8 MiB of uint8 elements; 48 bytes each as Values
  Bytes b;
  b.header(0, 3).str("u8s").u32(9).u32(0).u64(n);
  b.s += std::string(n, '\x07');
  b.str("strs").u32(9).u32(8).u64(3).str("ab").str("").str("c");
  b.str("bools").u32(9).u32(7).u64(2).put<uint8_t>(1).put<uint8_t>(0);
  const std::string path = write_tmp("packed", b.s);
  b.s.clear();
  b.s.shrink_to_fit();
  const uint64_t before = resident_bytes();
  auto f = File::open(path);
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  const uint64_t grown = resident_bytes() - std::min(before, resident_bytes());
  MESSAGE("opening a GGUF with an 8 MiB uint8 array grew resident memory by " << (grown >> 20) << " MiB");
  CHECK(grown < (uint64_t{40} << 20));  // packed copy + the mapped file; 400+ MiB as one Value per element
  const Value* v = f->find("u8s");
  REQUIRE(v != nullptr);
  CHECK(std::get<Array>(v->v).n == n);
  CHECK(std::get<Array>(v->v).packed.size() == n);
  CHECK(std::get<uint64_t>(array_element(*v, n - 1).v) == 7);
  CHECK(f->get_int_array("u8s").value().size() == n);
  CHECK(f->get_string_array("strs").value() == std::vector<std::string>{"ab", "", "c"});
  CHECK(std::get<bool>(array_element(*f->find("bools"), 0).v));
  CHECK_FALSE(std::get<bool>(array_element(*f->find("bools"), 1).v));
  open_bad("bool_array", Bytes().header(0, 1).str("k").u32(9).u32(7).u64(2).put<uint8_t>(0).put<uint8_t>(5).s,
           "bool value 5");
  open_bad("many_keys", Bytes().header(0, uint64_t{1} << 21).s + std::string(uint64_t{30} << 20, 'x'),
           "metadata count 2097152");
}

TEST_CASE("gguf: a file that is not there") {
  auto f = File::open("/nonexistent/x.gguf");
  CHECK(f.status().code() == StatusCode::kIoError);
  CHECK(f.status().message().find("/nonexistent/x.gguf") != std::string::npos);
}

TEST_CASE("gguf: stories260K metadata") {
  auto f = File::open(test::shared_path("models/stories260K.gguf"));
  REQUIRE_MESSAGE(f.ok(), f.status().to_string());
  CHECK(f->get_string("general.architecture").value() == "llama");
  CHECK(f->get_int("llama.block_count").value() == 5);
  CHECK(f->get_string_array("tokenizer.ggml.tokens").value().size() == 512);
  CHECK(f->get_float_array("tokenizer.ggml.scores").value().size() == 512);
  CHECK(f->get_int_array("tokenizer.ggml.token_type").value()[1] == 3);
  CHECK(f->tensors().size() == 48);
  const TensorInfo* q = f->find_tensor("blk.0.attn_k.weight");
  REQUIRE(q != nullptr);
  CHECK(q->rows() == 32);
  CHECK(q->cols() == 64);
}

}  // namespace
}  // namespace sb::gguf
