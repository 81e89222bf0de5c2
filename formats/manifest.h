// The sidecar OUT.manifest.json of an output file: what produced it (compared on
// --resume and by merge) and how far it got (not compared). A key/value design: the
// run adds one key per setting that changes outputs, so new flags just add keys.
// Written atomically (temp file, fsync, rename, fsync of the directory).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/base/status.h"

namespace sb {

class Manifest {
 public:
  using Entries = std::vector<std::pair<std::string, std::string>>;

  // Compared on resume: inputs' and model's size/hash, sampling defaults, shard,
  // output format, tool version... Values are strings (numbers as decimal text).
  void set(const std::string& key, std::string value) { put(&fingerprint_, key, std::move(value)); }
  // Not compared: paths, times, completion state, record counts.
  void set_info(const std::string& key, std::string value) { put(&info_, key, std::move(value)); }
  std::optional<std::string> get(const std::string& key) const { return find(fingerprint_, key); }
  std::optional<std::string> get_info(const std::string& key) const { return find(info_, key); }
  const Entries& fingerprint() const { return fingerprint_; }
  const Entries& info() const { return info_; }

  // Fingerprints of the input files ("input.count", "input.N.size", "input.N.hash";
  // info "input.N.path") and of the model ("model.size", "model.hash"; info "model.path").
  // stdin ("-") has no fingerprint: it is recorded as "stdin".
  Status add_inputs(const std::vector<std::string>& paths);
  Status add_model(const std::string& path);

  std::string to_json() const;
  static StatusOr<Manifest> parse(std::string_view json, const std::string& what);

 private:
  static void put(Entries* e, const std::string& key, std::string value);
  static std::optional<std::string> find(const Entries& e, const std::string& key);
  Entries fingerprint_;
  Entries info_;
};

// "OUT.manifest.json" next to OUT.
std::string manifest_path_for(const std::string& output_path);

StatusOr<Manifest> read_manifest(const std::string& path);
Status write_manifest(const std::string& path, const Manifest& manifest);

// One line per fingerprint key that differs: "max_tokens: 64 before, 32 now",
// "input.1.hash (b.jsonl): 1f.. before, 9c.. now". Keys in `ignore` are skipped.
// Empty when the fingerprints agree.
std::vector<std::string> manifest_differences(const Manifest& before, const Manifest& now,
                                              const std::vector<std::string>& ignore = {});

}  // namespace sb
