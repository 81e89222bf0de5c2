// Append-only, crash-safe output of whole JSON lines (plain JSONL or zstd frames).
// Contract: after any crash the file holds complete records followed by at most one
// torn line (plain) or one incomplete frame (zstd), which resume_scan cuts. A failed
// write truncates the file back to its last complete record before reporting the error.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace sb {

// When the sink calls fdatasync (files only; ignored for stdout and pipes).
enum class SyncPolicy {
  kNone,    // never; the OS writes back in its own time (a power loss may lose recent records)
  kFrame,   // at every flush point: each zstd frame, every flush_records/flush_seconds for plain
  kRecord,  // after every record (zstd: every record becomes its own frame)
};
// "none" | "frame" | "record".
StatusOr<SyncPolicy> parse_sync_policy(std::string_view name);

enum class OutputCompression { kPlain, kZstd };

struct OutputSinkOptions {
  OutputCompression compression = OutputCompression::kPlain;
  SyncPolicy sync = SyncPolicy::kFrame;
  uint64_t flush_records = 1000;     // a flush point (zstd: frame close) after this many records
  double flush_seconds = 10.0;       // ... or when the oldest unflushed record is this old
  size_t max_frame_bytes = size_t{64} << 20;  // zstd: close a frame before it grows past this
  int zstd_level = 3;
};

// How open_file treats an existing file. (A run's output is opened by its lock,
// formats/output_lock.h, and written through for_fd.)
enum class OpenMode {
  kTruncate,  // replace it
  kAppend,    // keep it and append
};

// ".zst" names are zstd output; everything else is plain JSONL.
OutputCompression compression_for_path(std::string_view path);

class OutputSink {
 public:
  using Clock = std::chrono::steady_clock;

  static StatusOr<std::unique_ptr<OutputSink>> open_file(const std::string& path, OpenMode mode,
                                                         const OutputSinkOptions& options);
  // Writes to an fd the sink does not own (stdout); `name` is used in messages.
  static std::unique_ptr<OutputSink> for_fd(int fd, std::string name, const OutputSinkOptions& options);
  ~OutputSink();
  OutputSink(const OutputSink&) = delete;
  OutputSink& operator=(const OutputSink&) = delete;

  // One record: `line` is a whole JSON text without "\n". Plain: written at once
  // with one write(2). zstd: buffered until the frame closes.
  Status write_record(std::string_view line);
  // Reaches a flush point if flush_seconds have passed since the first unflushed
  // record; the run loop calls this between engine steps so idle periods flush too.
  Status poll(Clock::time_point now);
  // A flush point now: closes the zstd frame, fdatasyncs per the policy.
  Status flush();
  // flush(), then closes the file. Safe to call once; the destructor does not flush.
  Status close();

  const std::string& name() const { return name_; }
  uint64_t records_written() const { return n_records_; }

 private:
  OutputSink(int fd, bool owns_fd, std::string name, const OutputSinkOptions& options);
  Status append(std::string_view bytes);  // one write_all, truncating back on failure
  Status sync();

  int fd_ = -1;
  bool owns_fd_ = false;
  bool is_regular_ = false;      // ftruncate/fdatasync only make sense on regular files
  std::string name_;
  OutputSinkOptions options_;
  uint64_t file_size_ = 0;       // bytes known to be complete records
  uint64_t n_records_ = 0;
  uint64_t n_unflushed_ = 0;     // records since the last flush point
  Clock::time_point first_unflushed_{};
  std::string frame_;            // zstd: lines of the open frame
  std::string compressed_;       // zstd: scratch for the compressed frame
  struct Zstd;
  std::unique_ptr<Zstd> zstd_;
};

}  // namespace sb
