#include "core/modelgen/gguf_writer.h"

#include <cstring>
#include <fstream>

namespace sb::gguf {
namespace {

template <typename T>
void put(std::string* out, T x) {
  char buf[sizeof(T)];
  std::memcpy(buf, &x, sizeof(T));
  out->append(buf, sizeof(T));
}

void put_string(std::string* out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out->append(s);
}

uint64_t as_u64(const Value& v) {
  if (const auto* u = std::get_if<uint64_t>(&v.v)) return *u;
  if (const auto* i = std::get_if<int64_t>(&v.v)) return static_cast<uint64_t>(*i);
  if (const auto* b = std::get_if<bool>(&v.v)) return *b ? 1 : 0;
  SB_CHECK_MSG(false, "gguf writer: integer value expected");
  return 0;
}

// Encodes the payload of v (no type tag) as type t.
void put_value(std::string* out, ValueType t, const Value& v) {
  switch (t) {
    case ValueType::kUint8: put<uint8_t>(out, static_cast<uint8_t>(as_u64(v))); return;
    case ValueType::kInt8: put<int8_t>(out, static_cast<int8_t>(as_u64(v))); return;
    case ValueType::kUint16: put<uint16_t>(out, static_cast<uint16_t>(as_u64(v))); return;
    case ValueType::kInt16: put<int16_t>(out, static_cast<int16_t>(as_u64(v))); return;
    case ValueType::kUint32: put<uint32_t>(out, static_cast<uint32_t>(as_u64(v))); return;
    case ValueType::kInt32: put<int32_t>(out, static_cast<int32_t>(as_u64(v))); return;
    case ValueType::kUint64: put<uint64_t>(out, as_u64(v)); return;
    case ValueType::kInt64: put<int64_t>(out, static_cast<int64_t>(as_u64(v))); return;
    case ValueType::kFloat32: put<float>(out, static_cast<float>(std::get<double>(v.v))); return;
    case ValueType::kFloat64: put<double>(out, std::get<double>(v.v)); return;
    case ValueType::kBool: put<uint8_t>(out, std::get<bool>(v.v) ? 1 : 0); return;
    case ValueType::kString: put_string(out, std::get<std::string>(v.v)); return;
    case ValueType::kArray: {
      SB_CHECK(v.type == ValueType::kArray);
      const Array& arr = std::get<Array>(v.v);
      put<uint32_t>(out, static_cast<uint32_t>(v.elem_type));
      put<uint64_t>(out, arr.n);
      if (v.elem_type == ValueType::kArray) {
        for (const Value& e : arr.nested) put_value(out, ValueType::kArray, e);
      } else if (v.elem_type == ValueType::kString) {
        for (uint64_t i = 0; i < arr.n; ++i) put_string(out, std::get<std::string>(array_element(v, i).v));
      } else {
        out->append(arr.packed);  // already in the file's encoding
      }
      return;
    }
  }
}

Value scalar(ValueType t, std::variant<int64_t, uint64_t, double, bool, std::string, Array> x) {
  Value v;
  v.type = t;
  v.v = std::move(x);
  return v;
}

uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

}  // namespace

Value value_u8(uint8_t x) { return scalar(ValueType::kUint8, uint64_t{x}); }
Value value_i8(int8_t x) { return scalar(ValueType::kInt8, int64_t{x}); }
Value value_u16(uint16_t x) { return scalar(ValueType::kUint16, uint64_t{x}); }
Value value_i16(int16_t x) { return scalar(ValueType::kInt16, int64_t{x}); }
Value value_u32(uint32_t x) { return scalar(ValueType::kUint32, uint64_t{x}); }
Value value_i32(int32_t x) { return scalar(ValueType::kInt32, int64_t{x}); }
Value value_u64(uint64_t x) { return scalar(ValueType::kUint64, x); }
Value value_i64(int64_t x) { return scalar(ValueType::kInt64, x); }
Value value_f32(float x) { return scalar(ValueType::kFloat32, double{x}); }
Value value_f64(double x) { return scalar(ValueType::kFloat64, x); }
Value value_bool(bool x) { return scalar(ValueType::kBool, x); }
Value value_string(std::string s) { return scalar(ValueType::kString, std::move(s)); }

Value value_array(ValueType elem_type, std::vector<Value> elems) {
  Array a;
  a.n = elems.size();
  for (Value& e : elems) {
    SB_CHECK_MSG(e.type == elem_type, "gguf writer: array element of the wrong type");
    if (elem_type == ValueType::kArray) {
      a.nested.push_back(std::move(e));
    } else if (elem_type == ValueType::kString) {
      a.packed += std::get<std::string>(e.v);
      a.ends.push_back(a.packed.size());
    } else {
      put_value(&a.packed, elem_type, e);
    }
  }
  Value v = scalar(ValueType::kArray, std::move(a));
  v.elem_type = elem_type;
  return v;
}

Value value_string_array(const std::vector<std::string>& xs) {
  std::vector<Value> a;
  a.reserve(xs.size());
  for (const auto& s : xs) a.push_back(value_string(s));
  return value_array(ValueType::kString, std::move(a));
}

Value value_f32_array(const std::vector<float>& xs) {
  std::vector<Value> a;
  a.reserve(xs.size());
  for (float x : xs) a.push_back(value_f32(x));
  return value_array(ValueType::kFloat32, std::move(a));
}

Value value_i32_array(const std::vector<int32_t>& xs) {
  std::vector<Value> a;
  a.reserve(xs.size());
  for (int32_t x : xs) a.push_back(value_i32(x));
  return value_array(ValueType::kInt32, std::move(a));
}

Writer::Writer(uint64_t alignment) : alignment_(alignment) {
  SB_CHECK(alignment > 0 && (alignment & (alignment - 1)) == 0);
  if (alignment != 32) add_kv("general.alignment", value_u32(static_cast<uint32_t>(alignment)));
}

void Writer::add_kv(std::string key, Value value) { kv_.emplace_back(std::move(key), std::move(value)); }

void Writer::add_tensor(std::string name, TensorType type, std::vector<uint64_t> ne, std::string bytes) {
  SB_CHECK(!ne.empty() && ne.size() <= 4);
  const DType dt = tensor_type_dtype(type);
  uint64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  SB_CHECK_MSG(bytes.size() == rows * dtype_row_bytes(dt, static_cast<int64_t>(ne[0])),
               "gguf writer: tensor '" + name + "' byte count does not match its shape");
  tensors_.push_back({std::move(name), type, std::move(ne), std::move(bytes)});
}

void Writer::add_tensor_f32(std::string name, TensorType type, std::vector<uint64_t> ne,
                            const std::vector<float>& values) {
  SB_CHECK(!ne.empty());
  const DType dt = tensor_type_dtype(type);
  const int64_t cols = static_cast<int64_t>(ne[0]);
  const size_t rows = values.size() / static_cast<size_t>(cols);
  SB_CHECK(rows * static_cast<size_t>(cols) == values.size());
  const size_t row_bytes = dtype_row_bytes(dt, cols);
  std::string bytes(rows * row_bytes, '\0');
  for (size_t r = 0; r < rows; ++r) {
    store_row(dt, values.data() + r * static_cast<size_t>(cols), bytes.data() + r * row_bytes, cols);
  }
  add_tensor(std::move(name), type, std::move(ne), std::move(bytes));
}

std::string Writer::header_bytes() const {
  std::string out = "GGUF";
  put<uint32_t>(&out, 3);
  put<uint64_t>(&out, tensors_.size());
  put<uint64_t>(&out, kv_.size());
  for (const auto& [key, value] : kv_) {
    put_string(&out, key);
    put<uint32_t>(&out, static_cast<uint32_t>(value.type));
    put_value(&out, value.type, value);
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    put_string(&out, t.name);
    put<uint32_t>(&out, static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) put<uint64_t>(&out, d);
    put<uint32_t>(&out, static_cast<uint32_t>(t.type));
    put<uint64_t>(&out, offset);
    offset = align_up(offset + t.bytes.size(), alignment_);
  }
  out.resize(align_up(out.size(), alignment_), '\0');
  return out;
}

std::string Writer::to_bytes() const {
  std::string out = header_bytes();
  for (const Tensor& t : tensors_) {
    out.append(t.bytes);
    out.resize(align_up(out.size(), alignment_), '\0');
  }
  return out;
}

Status Writer::write(const std::string& path) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return errno_error(path);
  const std::string header = header_bytes();
  f.write(header.data(), static_cast<std::streamsize>(header.size()));
  const std::string pad(alignment_, '\0');
  for (const Tensor& t : tensors_) {
    f.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
    const uint64_t rest = align_up(t.bytes.size(), alignment_) - t.bytes.size();
    f.write(pad.data(), static_cast<std::streamsize>(rest));
  }
  f.flush();
  if (!f) return errno_error(path + ": write");
  return ok_status();
}

}  // namespace sb::gguf
