#include "formats/manifest.h"

#include <simdjson.h>

#include <algorithm>

#include "formats/fingerprint.h"
#include "formats/json_writer.h"
#include "formats/small_file.h"

namespace sb {

void Manifest::put(Entries* e, const std::string& key, std::string value) {
  for (auto& [k, v] : *e) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  e->emplace_back(key, std::move(value));
}

std::optional<std::string> Manifest::find(const Entries& e, const std::string& key) {
  for (const auto& [k, v] : e) {
    if (k == key) return v;
  }
  return std::nullopt;
}

Status Manifest::add_inputs(const std::vector<std::string>& paths) {
  const std::vector<std::string> list = paths.empty() ? std::vector<std::string>{"-"} : paths;
  set("input.count", std::to_string(list.size()));
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string key = "input." + std::to_string(i);
    if (list[i] == "-") {
      set(key + ".hash", "stdin");
      set_info(key + ".path", "-");
      continue;
    }
    SB_ASSIGN_OR_RETURN(FileFingerprint fp, fingerprint_path(list[i]));
    set(key + ".size", std::to_string(fp.size));
    set(key + ".hash", fp.hex());
    set_info(key + ".path", list[i]);
  }
  return ok_status();
}

Status Manifest::add_model(const std::string& path) {
  SB_ASSIGN_OR_RETURN(FileFingerprint fp, fingerprint_path(path));
  set("model.size", std::to_string(fp.size));
  set("model.hash", fp.hex());
  set_info("model.path", path);
  return ok_status();
}

std::string Manifest::to_json() const {
  JsonWriter w;
  w.begin_object().key("specbatch_manifest").value(1);
  for (const auto* part : {&fingerprint_, &info_}) {
    w.key(part == &fingerprint_ ? "fingerprint" : "info").begin_object();
    for (const auto& [k, v] : *part) w.key(k).value(v);
    w.end_object();
  }
  w.end_object();
  return w.take() + "\n";
}

namespace {

// A key twice in one object: JSON readers disagree on which value wins, so a manifest
// (whose keys decide whether a resume is allowed) with one is refused.
Status check_unique_keys(simdjson::dom::object obj, const std::string& what, const std::string& where) {
  std::vector<std::string_view> keys;
  for (auto field : obj) keys.push_back(field.key);
  std::sort(keys.begin(), keys.end());
  const auto dup = std::adjacent_find(keys.begin(), keys.end());
  if (dup == keys.end()) return ok_status();
  return corrupt(what + ": key \"" + std::string(*dup) + "\" appears twice" + where);
}

}  // namespace

StatusOr<Manifest> Manifest::parse(std::string_view json, const std::string& what) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size(), true).get(doc) != simdjson::SUCCESS) return corrupt(what + ": not valid JSON");
  simdjson::dom::object top;
  int64_t version = 0;
  if (doc.get_object().get(top) != simdjson::SUCCESS ||
      top["specbatch_manifest"].get_int64().get(version) != simdjson::SUCCESS || version != 1)
    return corrupt(what + ": not a specbatch manifest (version 1)");
  SB_RETURN_IF_ERROR(check_unique_keys(top, what, ""));
  Manifest m;
  for (const char* part : {"fingerprint", "info"}) {
    simdjson::dom::object obj;
    if (top[part].get_object().get(obj) != simdjson::SUCCESS)
      return corrupt(what + ": \"" + part + "\" must be an object");
    SB_RETURN_IF_ERROR(check_unique_keys(obj, what, std::string(" in \"") + part + "\""));
    for (auto field : obj) {
      std::string_view value;
      if (field.value.get_string().get(value) != simdjson::SUCCESS)
        return corrupt(what + ": " + part + "." + std::string(field.key) + " must be a string");
      if (part[0] == 'f') {
        m.set(std::string(field.key), std::string(value));
      } else {
        m.set_info(std::string(field.key), std::string(value));
      }
    }
  }
  return m;
}

std::string manifest_path_for(const std::string& output_path) { return output_path + ".manifest.json"; }

StatusOr<Manifest> read_manifest(const std::string& path) {
  SB_ASSIGN_OR_RETURN(const std::string bytes, read_small_file(path));
  return Manifest::parse(bytes, path);
}

Status write_manifest(const std::string& path, const Manifest& manifest) {
  return write_file_atomically(path, manifest.to_json());
}

std::vector<std::string> manifest_differences(const Manifest& before, const Manifest& now,
                                              const std::vector<std::string>& ignore) {
  std::vector<std::string> keys;
  for (const auto* m : {&before, &now}) {
    for (const auto& [k, v] : m->fingerprint()) {
      if (std::find(keys.begin(), keys.end(), k) == keys.end() &&
          std::find(ignore.begin(), ignore.end(), k) == ignore.end())
        keys.push_back(k);
    }
  }
  std::vector<std::string> out;
  for (const std::string& k : keys) {
    const std::optional<std::string> a = before.get(k), b = now.get(k);
    if (a == b) continue;
    std::string line = k;
    // "input.1.hash" -> name the file from info "input.1.path".
    const size_t dot = k.rfind('.');
    if (dot != std::string::npos) {
      const std::optional<std::string> path = now.get_info(k.substr(0, dot) + ".path");
      const std::optional<std::string> old_path = before.get_info(k.substr(0, dot) + ".path");
      if (path || old_path) line += " (" + path.value_or(*old_path) + ")";
    }
    line += ": " + (a ? *a : std::string("not set")) + " before, " + (b ? *b : std::string("not set")) + " now";
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace sb
