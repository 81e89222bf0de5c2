#include "formats/safetensors.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "formats/hf_config.h"

namespace sb::safetensors {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr uint64_t kMaxHeaderBytes = uint64_t{100} << 20;  // the format's own limit
constexpr uint64_t kMaxElements = uint64_t{1} << 50;        // of one tensor, and of one dimension
constexpr size_t kMaxDims = 8;

// Element size of every dtype the format defines; 0 for unknown names.
size_t dtype_size(std::string_view d) {
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "BOOL" || d == "U8" || d == "I8" || d == "F8_E5M2" || d == "F8_E4M3" || d == "F8_E8M0") return 1;
  return 0;
}

bool core_dtype(std::string_view d, DType* out) {
  if (d == "F32") *out = DType::kF32;
  else if (d == "F16") *out = DType::kF16;
  else if (d == "BF16") *out = DType::kBF16;
  else return false;
  return true;
}

bool get_u64(element e, uint64_t* out) {
  if (e.type() == element_type::UINT64) {
    *out = e.get_uint64().value_unsafe();
    return true;
  }
  if (e.type() == element_type::INT64 && e.get_int64().value_unsafe() >= 0) {
    *out = static_cast<uint64_t>(e.get_int64().value_unsafe());
    return true;
  }
  return false;
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// Parses one header entry into t (name already set); sizes checked against data_size.
Status parse_entry(const std::string& path, element e, uint64_t data_size, TensorInfo* t, uint64_t* begin_out) {
  const std::string where = path + ": tensor " + quote(t->name);
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return corrupt(where + ": header entry is not an object");
  std::string_view dtype;
  if (obj["dtype"].get_string().get(dtype) != simdjson::SUCCESS) return corrupt(where + ": 'dtype' missing or not a string");
  t->dtype = std::string(dtype);
  const size_t elem = dtype_size(dtype);
  if (elem == 0) return unsupported(where + ": unknown dtype " + quote(dtype));
  t->dtype_supported = core_dtype(dtype, &t->core_dtype);

  simdjson::dom::array shape;
  if (obj["shape"].get_array().get(shape) != simdjson::SUCCESS) return corrupt(where + ": 'shape' missing or not a list");
  if (shape.size() > kMaxDims) return corrupt(where + ": shape has " + std::to_string(shape.size()) + " dimensions");
  uint64_t n_elems = 1;
  for (element d : shape) {
    uint64_t v = 0;
    if (!get_u64(d, &v)) return corrupt(where + ": shape holds something other than a non-negative integer");
    // Checked alone too: beside a 0 dimension the product stays 0, and above INT64_MAX the shape would turn negative.
    if (v > kMaxElements) {
      return corrupt(where + ": shape dimension " + std::to_string(v) + " is larger than any tensor can be (2^50)");
    }
    if (__builtin_mul_overflow(n_elems, v, &n_elems) || n_elems > kMaxElements) {
      return corrupt(where + ": shape dimension " + std::to_string(v) + " makes the element count overflow");
    }
    t->shape.push_back(static_cast<int64_t>(v));
  }
  simdjson::dom::array offs;
  uint64_t begin = 0, end = 0;
  if (obj["data_offsets"].get_array().get(offs) != simdjson::SUCCESS || offs.size() != 2 ||
      !get_u64(offs.at(0).value_unsafe(), &begin) || !get_u64(offs.at(1).value_unsafe(), &end)) {
    return corrupt(where + ": 'data_offsets' must be a list of two non-negative integers");
  }
  if (begin > end) {
    return corrupt(where + ": data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "] has begin > end");
  }
  if (end > data_size) {
    return corrupt(where + ": data_offsets end " + std::to_string(end) + " is past the end of the data area (" +
                   std::to_string(data_size) + " bytes)");
  }
  t->n_bytes = end - begin;
  const uint64_t expected = n_elems * elem;  // n_elems <= kMaxElements, elem <= 8
  if (t->n_bytes != expected) {
    return corrupt(where + " has " + std::to_string(t->n_bytes) + " bytes, expected " + std::to_string(expected) +
                   " (shape x " + t->dtype + ")");
  }
  *begin_out = begin;
  return ok_status();
}

bool plain_file_name(std::string_view s) {
  if (s.empty() || s == "." || s == "..") return false;
  return s.find('/') == std::string_view::npos && s.find('\\') == std::string_view::npos &&
         s.find('\0') == std::string_view::npos;
}

}  // namespace

Status TensorSet::add_file(const std::string& path) {
  SB_ASSIGN_OR_RETURN(auto map, MappedFile::open(path));
  const uint64_t size = map->size();
  uint64_t n = 0;
  if (size < 8) return corrupt(path + ": file too short for the 8-byte header length (" + std::to_string(size) + " bytes)");
  std::memcpy(&n, map->data(), 8);
  if (n > size - 8) {
    return corrupt(path + ": header length " + std::to_string(n) + " is larger than the file (" +
                   std::to_string(size) + " bytes)");
  }
  if (n > kMaxHeaderBytes) return corrupt(path + ": header length " + std::to_string(n) + " exceeds 100 MiB");
  const uint8_t* data_start = map->data() + 8 + n;
  const uint64_t data_size = size - 8 - n;

  simdjson::dom::parser parser;
  simdjson::padded_string padded(reinterpret_cast<const char*>(map->data() + 8), static_cast<size_t>(n));
  element doc;
  if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS) {
    return corrupt(path + ": header is not valid JSON: " + simdjson::error_message(err));
  }
  object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return corrupt(path + ": header is not a JSON object");

  std::vector<TensorInfo> found;
  std::vector<uint64_t> begins;  // data_offsets[0] of each found tensor
  for (auto field : obj) {
    if (field.key == "__metadata__") continue;
    TensorInfo t;
    t.name = std::string(field.key);
    t.file = path;
    uint64_t begin = 0;
    SB_RETURN_IF_ERROR(parse_entry(path, field.value, data_size, &t, &begin));
    begins.push_back(begin);
    found.push_back(std::move(t));
  }
  // No two tensors may share bytes.
  std::vector<size_t> order(found.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto begin_of = [&](size_t i) { return begins[i]; };
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return begin_of(a) < begin_of(b); });
  for (size_t k = 1; k < order.size(); ++k) {
    const TensorInfo& prev = found[order[k - 1]];
    const TensorInfo& cur = found[order[k]];
    if (begin_of(order[k]) < begin_of(order[k - 1]) + prev.n_bytes) {
      return corrupt(path + ": tensor " + quote(cur.name) + " overlaps tensor " + quote(prev.name));
    }
  }
  for (size_t i = 0; i < found.size(); ++i) {
    TensorInfo& t = found[i];
    t.data = data_start + begins[i];
    if (!index_.emplace(t.name, tensors_.size()).second) {
      return corrupt(path + ": tensor " + quote(t.name) + " also appears in " + tensors_[index_[t.name]].file);
    }
    tensors_.push_back(std::move(t));
  }
  maps_.push_back(std::move(map));
  return ok_status();
}

StatusOr<TensorSet> TensorSet::open_file(const std::string& path) {
  TensorSet set;
  SB_RETURN_IF_ERROR(set.add_file(path));
  return set;
}

StatusOr<TensorSet> TensorSet::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root(dir);
  const fs::path index_path = root / "model.safetensors.index.json";
  TensorSet set;
  if (fs::is_regular_file(index_path, ec)) {
    const std::string ip = index_path.string();
    SB_ASSIGN_OR_RETURN(const std::string text, hf::read_text_file(ip));
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    element doc;
    if (auto err = parser.parse(padded).get(doc); err != simdjson::SUCCESS) {
      return corrupt(ip + ": invalid JSON: " + simdjson::error_message(err));
    }
    object weight_map;
    if (doc["weight_map"].get_object().get(weight_map) != simdjson::SUCCESS) {
      return corrupt(ip + ": 'weight_map' missing or not an object");
    }
    std::vector<std::pair<std::string, std::string>> entries;  // tensor -> shard
    std::set<std::string> opened;
    for (auto field : weight_map) {
      std::string_view shard;
      if (field.value.get_string().get(shard) != simdjson::SUCCESS) {
        return corrupt(ip + ": weight_map entry " + quote(field.key) + " is not a file name string");
      }
      if (!plain_file_name(shard)) {
        return corrupt(ip + ": weight_map entry " + quote(field.key) + " names shard " + quote(shard) +
                       ", which is not a plain file name inside the model directory");
      }
      entries.emplace_back(std::string(field.key), std::string(shard));
      if (opened.insert(std::string(shard)).second) SB_RETURN_IF_ERROR(set.add_file((root / shard).string()));
    }
    for (const auto& [name, shard] : entries) {
      const TensorInfo* t = set.find(name);
      const std::string shard_path = (root / shard).string();
      if (t == nullptr || t->file != shard_path) {
        return corrupt(ip + ": tensor " + quote(name) + " is listed in shard " + quote(shard) + " but not found there");
      }
    }
    return set;
  }
  if (fs::is_regular_file(root / "model.safetensors", ec)) {
    SB_RETURN_IF_ERROR(set.add_file((root / "model.safetensors").string()));
    return set;
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.path().extension() == ".safetensors" && entry.is_regular_file(ec)) files.push_back(entry.path().string());
  }
  if (ec) return io_error(dir + ": " + ec.message());
  if (files.empty()) return not_found(dir + ": no model.safetensors, model.safetensors.index.json or *.safetensors files");
  std::sort(files.begin(), files.end());
  for (const auto& f : files) SB_RETURN_IF_ERROR(set.add_file(f));
  return set;
}

const TensorInfo* TensorSet::find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

StatusOr<TensorView> TensorSet::view(std::string_view name) const {
  const TensorInfo* t = find(name);
  if (t == nullptr) return not_found("tensor " + quote(name) + " is missing");
  if (!t->dtype_supported) {
    return unsupported(t->file + ": tensor " + quote(name) + " has dtype " + t->dtype +
                       "; specbatch reads F32, F16 and BF16 safetensors");
  }
  if (t->shape.size() > 2) {
    return unsupported(t->file + ": tensor " + quote(name) + " has " + std::to_string(t->shape.size()) +
                       " dimensions; weights are 1-D or 2-D");
  }
  TensorView v;
  v.name = t->name;
  v.dtype = t->core_dtype;
  v.rows = t->shape.size() == 2 ? t->shape[0] : 1;
  v.cols = t->shape.empty() ? 1 : t->shape.back();
  v.data = t->data;
  return v;
}

std::string to_bytes(const std::vector<WriteTensor>& tensors) {
  std::string header = "{";
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const WriteTensor& t = tensors[i];
    if (i > 0) header += ",";
    header += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
    for (size_t d = 0; d < t.shape.size(); ++d) header += (d ? "," : "") + std::to_string(t.shape[d]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  header += "}";
  header.resize((header.size() + 7) / 8 * 8, ' ');  // keeps the data 8-byte aligned
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  out += header;
  for (const WriteTensor& t : tensors) out += t.bytes;
  return out;
}

Status write_file(const std::string& path, const std::vector<WriteTensor>& tensors) {
  const std::string bytes = to_bytes(tensors);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return errno_error(path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.flush();
  if (!f) return errno_error(path + ": write");
  return ok_status();
}

WriteTensor make_tensor(std::string name, std::string_view dtype, std::vector<int64_t> shape,
                        const std::vector<float>& values) {
  WriteTensor t{std::move(name), std::string(dtype), std::move(shape), {}};
  if (dtype == "F32") {
    t.bytes.assign(reinterpret_cast<const char*>(values.data()), values.size() * 4);
    return t;
  }
  SB_CHECK_MSG(dtype == "F16" || dtype == "BF16", "make_tensor: dtype must be F32, F16 or BF16");
  t.bytes.resize(values.size() * 2);
  for (size_t i = 0; i < values.size(); ++i) {
    const uint16_t h = dtype == "F16" ? f32_to_f16(values[i]) : f32_to_bf16(values[i]);
    std::memcpy(t.bytes.data() + 2 * i, &h, 2);
  }
  return t;
}

}  // namespace sb::safetensors
