#include "formats/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace sb::gguf {
namespace {

constexpr uint32_t kMaxDims = 4;        // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 8;       // nested arrays deeper than this are refused
constexpr uint64_t kDefaultAlignment = 32;
// Counts far above any model's (tens of keys, thousands of tensors) that bound what the
// parsed header costs in memory: each key, tensor or nested array is a ~100-byte object.
constexpr uint64_t kMaxKeys = uint64_t{1} << 20;
constexpr uint64_t kMaxTensors = uint64_t{1} << 20;
constexpr uint64_t kMaxNestedArrays = uint64_t{1} << 20;

bool valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

// Smallest encoding of one value of type t: lets array counts be checked
// against the bytes left before anything is allocated.
size_t min_encoded_size(ValueType t) {
  if (t == ValueType::kString) return 8;      // length
  if (t == ValueType::kArray) return 4 + 8;   // element type + count
  return scalar_size(t);
}

bool is_integer(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kUint16: case ValueType::kInt16:
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kUint64: case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool supported_tensor_type(uint32_t code) {
  switch (static_cast<TensorType>(code)) {
    case TensorType::kF32: case TensorType::kF16: case TensorType::kQ4_0: case TensorType::kQ8_0:
    case TensorType::kBF16:
      return true;
  }
  return false;
}

// Names of ggml type codes, so an unsupported file says what it holds.
const char* ggml_type_name(uint32_t code) {
  static constexpr const char* kNames[] = {
      "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
      "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
      "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
      "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0"};
  return code < std::size(kNames) ? kNames[code] : nullptr;
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

template <typename T>
T load(const uint8_t* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

}  // namespace

size_t scalar_size(ValueType t) {
  switch (t) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: case ValueType::kArray: return 0;
  }
  return 0;
}

Value decode_scalar(ValueType t, const uint8_t* p) {
  Value v;
  v.type = t;
  switch (t) {
    case ValueType::kUint8: v.v = uint64_t{load<uint8_t>(p)}; break;
    case ValueType::kUint16: v.v = uint64_t{load<uint16_t>(p)}; break;
    case ValueType::kUint32: v.v = uint64_t{load<uint32_t>(p)}; break;
    case ValueType::kUint64: v.v = load<uint64_t>(p); break;
    case ValueType::kInt8: v.v = int64_t{load<int8_t>(p)}; break;
    case ValueType::kInt16: v.v = int64_t{load<int16_t>(p)}; break;
    case ValueType::kInt32: v.v = int64_t{load<int32_t>(p)}; break;
    case ValueType::kInt64: v.v = load<int64_t>(p); break;
    case ValueType::kFloat32: v.v = double{load<float>(p)}; break;
    case ValueType::kFloat64: v.v = load<double>(p); break;
    case ValueType::kBool: v.v = load<uint8_t>(p) != 0; break;
    case ValueType::kString: case ValueType::kArray: SB_CHECK_MSG(false, "decode_scalar: not a scalar type");
  }
  return v;
}

Value array_element(const Value& array, uint64_t i) {
  const Array& a = std::get<Array>(array.v);
  SB_CHECK(i < a.n);
  if (array.elem_type == ValueType::kArray) return a.nested[i];
  if (array.elem_type == ValueType::kString) {
    const uint64_t begin = i == 0 ? 0 : a.ends[i - 1];
    Value v;
    v.type = ValueType::kString;
    v.v = a.packed.substr(begin, a.ends[i] - begin);
    return v;
  }
  return decode_scalar(array.elem_type, reinterpret_cast<const uint8_t*>(a.packed.data()) + i * scalar_size(array.elem_type));
}

const char* value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "?";
}

std::string tensor_type_name(uint32_t code) {
  const char* name = ggml_type_name(code);
  return name != nullptr ? std::string(name) : "type " + std::to_string(code);
}

DType tensor_type_dtype(TensorType type) {
  switch (type) {
    case TensorType::kF32: return DType::kF32;
    case TensorType::kF16: return DType::kF16;
    case TensorType::kQ4_0: return DType::kQ4_0;
    case TensorType::kQ8_0: return DType::kQ8_0;
    case TensorType::kBF16: return DType::kBF16;
  }
  SB_CHECK_MSG(false, "unknown TensorType");
  return DType::kF32;
}

int64_t TensorInfo::rows() const {
  int64_t r = 1;
  for (size_t i = 1; i < ne.size(); ++i) r *= static_cast<int64_t>(ne[i]);
  return r;
}

// Reads the file front to back. Every read checks the bytes left first; values
// are copied out with memcpy (the file gives no alignment guarantees).
class Parser {
 public:
  Parser(File* file, const uint8_t* data, size_t size) : f_(file), p_(data), size_(size) {}

  Status parse();

 private:
  size_t left() const { return size_ - pos_; }
  template <typename T>
  bool read(T* out) {
    if (left() < sizeof(T)) return false;
    std::memcpy(out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  Status error(const std::string& what) const { return corrupt(f_->path() + ": " + what); }
  Status truncated(const std::string& what) const {
    return corrupt(f_->path() + ": " + what + ": file ends at byte " + std::to_string(size_) +
                   " (truncated?)");
  }
  Status read_string(std::string* out, const std::string& what);
  Status read_value(ValueType type, Value* out, int depth, const std::string& what);
  Status read_array(Value* out, int depth, const std::string& what);
  Status parse_tensor_info(uint64_t i, TensorInfo* t);
  Status place_tensors();

  File* f_;
  const uint8_t* p_;
  size_t size_;
  size_t pos_ = 0;
  uint64_t n_nested_ = 0;  // nested arrays read so far, all keys together
};

Status Parser::read_string(std::string* out, const std::string& what) {
  uint64_t n = 0;
  if (!read(&n)) return truncated(what + " length");
  if (n > left()) {
    return error(what + ": string length " + std::to_string(n) + " exceeds the " +
                 std::to_string(left()) + " bytes left in the file");
  }
  out->assign(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(n));
  pos_ += static_cast<size_t>(n);
  return ok_status();
}

Status Parser::read_value(ValueType type, Value* out, int depth, const std::string& what) {
  if (type == ValueType::kArray) return read_array(out, depth, what);
  if (type == ValueType::kString) {
    std::string s;
    SB_RETURN_IF_ERROR(read_string(&s, what));
    out->type = type;
    out->v = std::move(s);
    return ok_status();
  }
  if (left() < scalar_size(type)) return truncated(what + " (" + value_type_name(type) + " value)");
  if (type == ValueType::kBool && p_[pos_] > 1)
    return error(what + ": bool value " + std::to_string(p_[pos_]) + " is not 0 or 1");
  *out = decode_scalar(type, p_ + pos_);
  pos_ += scalar_size(type);
  return ok_status();
}

Status Parser::read_array(Value* out, int depth, const std::string& what) {
  if (depth >= kMaxArrayDepth) {
    return error(what + ": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
  }
  uint32_t et = 0;
  uint64_t n = 0;
  if (!read(&et)) return truncated(what + " array element type");
  if (!valid_value_type(et)) return error(what + ": invalid array element type code " + std::to_string(et));
  if (!read(&n)) return truncated(what + " array length");
  const ValueType elem = static_cast<ValueType>(et);
  if (n > left() / min_encoded_size(elem)) {
    return error(what + ": array length " + std::to_string(n) + " of " + value_type_name(elem) +
                 " exceeds the " + std::to_string(left()) + " bytes left in the file");
  }
  out->type = ValueType::kArray;
  out->elem_type = elem;
  Array arr;
  arr.n = n;
  if (elem == ValueType::kArray) {
    n_nested_ += n;
    if (n_nested_ > kMaxNestedArrays)
      return error(what + ": more than " + std::to_string(kMaxNestedArrays) + " nested arrays in the metadata");
    arr.nested.resize(static_cast<size_t>(n));
    // Errors name the key; the element index only matters for arrays of strings.
    for (Value& e : arr.nested) SB_RETURN_IF_ERROR(read_array(&e, depth + 1, what));
  } else if (elem == ValueType::kString) {
    arr.ends.reserve(static_cast<size_t>(n));  // n <= left() / 8: no more than the file holds
    for (uint64_t i = 0; i < n; ++i) {
      uint64_t len = 0;
      if (!read(&len)) return truncated(what + " string length");
      if (len > left()) {
        return error(what + ": string length " + std::to_string(len) + " exceeds the " +
                     std::to_string(left()) + " bytes left in the file");
      }
      arr.packed.append(reinterpret_cast<const char*>(p_ + pos_), static_cast<size_t>(len));
      pos_ += static_cast<size_t>(len);
      arr.ends.push_back(arr.packed.size());
    }
  } else {
    const size_t bytes = static_cast<size_t>(n) * scalar_size(elem);  // <= left()
    if (elem == ValueType::kBool) {
      for (size_t i = 0; i < bytes; ++i) {
        if (p_[pos_ + i] > 1) return error(what + ": bool value " + std::to_string(p_[pos_ + i]) + " is not 0 or 1");
      }
    }
    arr.packed.assign(reinterpret_cast<const char*>(p_ + pos_), bytes);
    pos_ += bytes;
  }
  out->v = std::move(arr);
  return ok_status();
}

Status Parser::parse_tensor_info(uint64_t i, TensorInfo* t) {
  const std::string what = "tensor info #" + std::to_string(i);
  SB_RETURN_IF_ERROR(read_string(&t->name, what + " name"));
  const std::string tw = "tensor " + quote(t->name);
  uint32_t n_dims = 0;
  if (!read(&n_dims)) return truncated(tw + " n_dims");
  if (n_dims == 0 || n_dims > kMaxDims) {
    return error(tw + ": n_dims " + std::to_string(n_dims) + " is outside 1.." + std::to_string(kMaxDims));
  }
  t->ne.resize(n_dims);
  uint64_t n_elems = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    if (!read(&t->ne[d])) return truncated(tw + " ne[" + std::to_string(d) + "]");
    if (t->ne[d] == 0 || __builtin_mul_overflow(n_elems, t->ne[d], &n_elems) ||
        n_elems > (uint64_t{1} << 50)) {
      return error(tw + ": shape dimension ne[" + std::to_string(d) + "] = " + std::to_string(t->ne[d]) +
                   " is zero or makes the element count overflow");
    }
  }
  uint32_t code = 0;
  if (!read(&code)) return truncated(tw + " type");
  if (!supported_tensor_type(code)) {
    if (ggml_type_name(code) == nullptr) {
      return error(tw + ": invalid tensor type code " + std::to_string(code));
    }
    return unsupported(f_->path() + ": " + tw + " has type " + tensor_type_name(code) +
                       "; specbatch reads F32, F16, BF16, Q8_0 and Q4_0 (requantize the model)");
  }
  t->type = static_cast<TensorType>(code);
  if (!read(&t->offset)) return truncated(tw + " offset");
  if (t->offset % f_->alignment_ != 0) {
    return error(tw + ": data offset " + std::to_string(t->offset) + " is not a multiple of the alignment " +
                 std::to_string(f_->alignment_));
  }
  const DType dt = tensor_type_dtype(t->type);
  const uint64_t block = static_cast<uint64_t>(dtype_block_elems(dt));
  if (t->ne[0] % block != 0) {
    return error(tw + ": ne[0] = " + std::to_string(t->ne[0]) + " is not a multiple of the " +
                 dtype_name(dt) + " block size " + std::to_string(block));
  }
  t->n_bytes = n_elems / block * dtype_block_bytes(dt);  // n_elems <= 2^50: no overflow
  return ok_status();
}

// Checks every tensor lies inside the data section without overlapping another.
Status Parser::place_tensors() {
  const uint64_t a = f_->alignment_;
  const uint64_t data_start = (static_cast<uint64_t>(pos_) + a - 1) / a * a;
  if (f_->tensors_.empty()) return ok_status();
  if (data_start > size_) return truncated("tensor data section (starts at byte " + std::to_string(data_start) + ")");
  const uint64_t data_size = size_ - data_start;
  std::vector<size_t> order(f_->tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t x, size_t y) { return f_->tensors_[x].offset < f_->tensors_[y].offset; });
  uint64_t prev_end = 0;
  const TensorInfo* prev = nullptr;
  for (size_t i : order) {
    TensorInfo& t = f_->tensors_[i];
    if (t.offset > data_size || t.n_bytes > data_size - t.offset) {
      return error("tensor " + quote(t.name) + ": data [" + std::to_string(t.offset) + ", +" +
                   std::to_string(t.n_bytes) + ") runs past the end of the file (data section holds " +
                   std::to_string(data_size) + " bytes)");
    }
    if (prev != nullptr && t.offset < prev_end) {
      return error("tensor " + quote(t.name) + ": data at offset " + std::to_string(t.offset) +
                   " overlaps tensor " + quote(prev->name) + " ending at " + std::to_string(prev_end));
    }
    t.data = p_ + data_start + t.offset;
    prev_end = t.offset + t.n_bytes;
    prev = &t;
  }
  return ok_status();
}

Status Parser::parse() {
  char magic[4];
  if (!read(&magic)) return truncated("magic");
  if (std::memcmp(magic, "GGUF", 4) != 0) return error("bad magic: not a GGUF file");
  uint32_t version = 0;
  if (!read(&version)) return truncated("version");
  if (version != 2 && version != 3) {
    if ((version & 0xffff) == 0 && version != 0) {
      return unsupported(f_->path() + ": big-endian GGUF files are not supported");
    }
    return unsupported(f_->path() + ": GGUF version " + std::to_string(version) +
                       " is not supported (specbatch reads versions 2 and 3)");
  }
  f_->version_ = version;
  uint64_t n_tensors = 0, n_kv = 0;
  if (!read(&n_tensors)) return truncated("tensor count");
  if (!read(&n_kv)) return truncated("metadata count");
  // A key-value pair needs >= 8 (key length) + 4 (type) + 1 bytes; a tensor info >= 24.
  if (n_kv > left() / 13 || n_kv > kMaxKeys) {
    return error("metadata count " + std::to_string(n_kv) + " is impossible for the " +
                 std::to_string(left()) + " bytes left in the file (or above " + std::to_string(kMaxKeys) + ")");
  }
  if (n_tensors > left() / 24 || n_tensors > kMaxTensors) {
    return error("tensor count " + std::to_string(n_tensors) + " is impossible for the " +
                 std::to_string(left()) + " bytes left in the file (or above " + std::to_string(kMaxTensors) + ")");
  }
  f_->metadata_.reserve(static_cast<size_t>(n_kv));
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key;
    SB_RETURN_IF_ERROR(read_string(&key, "metadata key #" + std::to_string(i)));
    const std::string what = "metadata key " + quote(key);
    uint32_t type = 0;
    if (!read(&type)) return truncated(what + " type");
    if (!valid_value_type(type)) return error(what + ": invalid value type code " + std::to_string(type));
    Value value;
    SB_RETURN_IF_ERROR(read_value(static_cast<ValueType>(type), &value, 0, what));
    if (!f_->metadata_index_.emplace(key, f_->metadata_.size()).second) {
      return error(what + " appears twice");
    }
    f_->metadata_.emplace_back(std::move(key), std::move(value));
  }
  if (f_->find("general.alignment") != nullptr) {
    SB_ASSIGN_OR_RETURN(const int64_t a, f_->get_int("general.alignment"));
    if (a <= 0 || a > (1 << 20) || (a & (a - 1)) != 0) {
      return error("general.alignment = " + std::to_string(a) + " is not a power of two in 1..2^20");
    }
    f_->alignment_ = static_cast<uint64_t>(a);
  }
  f_->tensors_.resize(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    TensorInfo& t = f_->tensors_[i];
    SB_RETURN_IF_ERROR(parse_tensor_info(i, &t));
    if (!f_->tensor_index_.emplace(t.name, i).second) {
      return error("tensor " + quote(t.name) + " appears twice");
    }
  }
  return place_tensors();
}

StatusOr<File> File::open(const std::string& path) {
  SB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  File f;
  f.map_ = map;
  f.alignment_ = kDefaultAlignment;
  Parser parser(&f, map->data(), map->size());
  SB_RETURN_IF_ERROR(parser.parse());
  return f;
}

const Value* File::find(std::string_view key) const {
  auto it = metadata_index_.find(std::string(key));
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const TensorInfo* File::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(std::string(name));
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

Status missing_key(const std::string& path, std::string_view key) {
  return not_found(path + ": metadata key " + quote(key) + " is missing");
}

Status wrong_type(const std::string& path, std::string_view key, const Value& v, const char* expected) {
  std::string got = value_type_name(v.type);
  if (v.type == ValueType::kArray) got += std::string(" of ") + value_type_name(v.elem_type);
  return corrupt(path + ": metadata key " + quote(key) + " has type " + got + ", expected " + expected);
}

// Integer value as int64, or false when it does not fit (uint64 > INT64_MAX).
bool int_of(const Value& v, int64_t* out) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) {
    *out = *i;
    return true;
  }
  if (const auto* u = std::get_if<uint64_t>(&v.v)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(*u);
    return true;
  }
  return false;
}

}  // namespace

StatusOr<std::string> File::get_string(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  if (v->type != ValueType::kString) return wrong_type(path(), key, *v, "string");
  return std::get<std::string>(v->v);
}

StatusOr<int64_t> File::get_int(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  int64_t x = 0;
  if (!is_integer(v->type)) return wrong_type(path(), key, *v, "an integer");
  if (!int_of(*v, &x)) return corrupt(path() + ": metadata key " + quote(key) + " is too large for int64");
  return x;
}

StatusOr<double> File::get_float(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  if (v->type == ValueType::kFloat32 || v->type == ValueType::kFloat64) return std::get<double>(v->v);
  if (const auto* i = std::get_if<int64_t>(&v->v); i != nullptr && is_integer(v->type)) return static_cast<double>(*i);
  if (const auto* u = std::get_if<uint64_t>(&v->v); u != nullptr && is_integer(v->type)) return static_cast<double>(*u);
  return wrong_type(path(), key, *v, "a number");
}

StatusOr<bool> File::get_bool(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  if (v->type != ValueType::kBool) return wrong_type(path(), key, *v, "bool");
  return std::get<bool>(v->v);
}

StatusOr<std::vector<std::string>> File::get_string_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  if (v->type != ValueType::kArray || v->elem_type != ValueType::kString) {
    return wrong_type(path(), key, *v, "array of string");
  }
  const Array& arr = std::get<Array>(v->v);
  std::vector<std::string> out;
  out.reserve(arr.n);
  uint64_t begin = 0;
  for (uint64_t end : arr.ends) {
    out.push_back(arr.packed.substr(begin, end - begin));
    begin = end;
  }
  return out;
}

StatusOr<std::vector<double>> File::get_float_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  if (v->type != ValueType::kArray || v->elem_type == ValueType::kString ||
      v->elem_type == ValueType::kArray || v->elem_type == ValueType::kBool) {
    return wrong_type(path(), key, *v, "array of numbers");
  }
  const uint64_t n = std::get<Array>(v->v).n;
  std::vector<double> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const Value e = array_element(*v, i);
    if (const auto* d = std::get_if<double>(&e.v)) out.push_back(*d);
    else if (const auto* x = std::get_if<int64_t>(&e.v)) out.push_back(static_cast<double>(*x));
    else out.push_back(static_cast<double>(std::get<uint64_t>(e.v)));
  }
  return out;
}

StatusOr<std::vector<int64_t>> File::get_int_array(std::string_view key) const {
  const Value* v = find(key);
  if (v == nullptr) return missing_key(path(), key);
  if (v->type != ValueType::kArray || !is_integer(v->elem_type)) {
    return wrong_type(path(), key, *v, "array of integers");
  }
  const uint64_t n = std::get<Array>(v->v).n;
  std::vector<int64_t> out;
  out.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    int64_t x = 0;
    if (!int_of(array_element(*v, i), &x)) {
      return corrupt(path() + ": metadata key " + quote(key) + "[" + std::to_string(i) + "] is too large for int64");
    }
    out.push_back(x);
  }
  return out;
}

}  // namespace sb::gguf
