// Reads an existing specbatch output (plain JSONL or zstd frames) before a resume:
// cuts a torn or invalid last line (plain) or the first incomplete/corrupt frame and
// everything after it (zstd) with ftruncate, and collects the indices already done
// (error records count as done). Damage before the tail is an error, never silently cut.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/status.h"
#include "formats/index_set.h"
#include "formats/output_sink.h"
#include "formats/shard.h"

namespace sb {

// No input has this many records; a larger "index" in an output is corruption.
inline constexpr uint64_t kMaxRecordIndex = (uint64_t{1} << 48) - 1;

// Pulls the top-level "index" out of one output line (both output formats carry it).
// nullopt when the line is not a JSON object with a non-negative integer "index";
// callers refuse indices above kMaxRecordIndex.
class OutputIndexParser {
 public:
  OutputIndexParser();
  ~OutputIndexParser();
  OutputIndexParser(const OutputIndexParser&) = delete;
  OutputIndexParser& operator=(const OutputIndexParser&) = delete;
  std::optional<uint64_t> index_of(std::string_view line);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct ResumeScan {
  OutputCompression compression = OutputCompression::kPlain;
  IndexSet done;               // indices of the records kept (a set of the scan's shard)
  uint64_t n_records = 0;      // records kept, duplicates included
  uint64_t n_duplicates = 0;   // records whose index was already kept (there should be none)
  bool in_order = true;        // every record's index is above the one before it
  uint64_t kept_bytes = 0;     // the file's size after the cut
  uint64_t cut_bytes = 0;      // bytes removed from the end
  uint64_t cut_lines = 0;      // plain: lines removed (a torn line counts); zstd: 0
  std::string cut_reason;      // why the tail was cut; empty when nothing was

  // One line for stderr: "kept N records; cut X bytes (...) because ...".
  std::string summary(const std::string& path) const;
};

// Scans the output `path` through `fd` (open read-write; read from its start) and
// truncates its damaged tail in place (then fsyncs it). The compression is taken
// from the name (.zst), as the writer that appends next will. Every record must
// belong to `shard`: another shard's index is corruption, like damage before the tail.
StatusOr<ResumeScan> scan_and_repair_output(int fd, const std::string& path, const Shard& shard);
// The same, opening `path` itself.
StatusOr<ResumeScan> scan_and_repair_output(const std::string& path, const Shard& shard = Shard());

}  // namespace sb
