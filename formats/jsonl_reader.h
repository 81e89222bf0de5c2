// Lazy line reader over JSONL inputs: files in order or stdin ("-"), plain or
// zstd-compressed (detected by the zstd magic; a .zst name requires it). Reads in
// chunks, never the whole input; blank lines are skipped and do not count.
// Each zstd frame is decoded whole and its checksum checked before any of its lines
// is returned, so damaged input yields no line: a corrupt or truncated frame is a
// Status naming the file and the frame's byte offset, after the lines of the frames
// before it. From a pipe a frame's compressed bytes are held while it is checked
// (at most kMaxUnseekableFrameBytes); files are re-read instead.
// I/O failures are a Status naming the file.
// With a shard, lines of other shards are skipped here (their index still counts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "formats/shard.h"

namespace sb {

struct JsonlLine {
  uint64_t index = 0;        // 0-based position among the non-blank lines of the whole input
  std::string_view text;     // without "\n" / "\r\n"; valid until the next call to next()
  std::string_view source;   // the path it came from ("-" for stdin)
  uint64_t line_no = 0;      // 1-based line number within that source, blank lines counted
};

inline constexpr uint64_t kMaxUnseekableFrameBytes = uint64_t{256} << 20;

struct JsonlReaderOptions {
  size_t chunk_bytes = size_t{1} << 20;       // read / decompress granularity
  size_t max_line_bytes = size_t{256} << 20;  // a longer line is a fatal error
  Shard shard;                                // only lines with shard.keeps(index) are returned
  // Asked while a pipe or terminal has nothing to read (then every 0.1 s): true makes
  // next() return false with waiting() set instead of blocking (work to do, or a stop
  // signal); the next call goes on. Unset: next() blocks until input or its end.
  std::function<bool()> stop_waiting;
};

// The inputs' records (non-blank lines, all shards) counted before a run, for
// progress and for checking a resumed output against its input: a newline scan of
// plain files at memory speed. nullopt when an input is stdin, a pipe or zstd (a
// zstd input's count is known only once read; see fraction_read()).
StatusOr<std::optional<uint64_t>> count_records(const std::vector<std::string>& paths);

class JsonlReader {
 public:
  // Checks up front that every path can be opened (so a typo in the last of
  // many files fails before any work); files are then opened one at a time.
  // An empty list reads stdin.
  static StatusOr<std::unique_ptr<JsonlReader>> open(std::vector<std::string> paths,
                                                     JsonlReaderOptions options = {});
  ~JsonlReader();
  JsonlReader(const JsonlReader&) = delete;
  JsonlReader& operator=(const JsonlReader&) = delete;

  // Fills *line with the next non-blank line; returns false at the end of all input,
  // or when stop_waiting ended a wait for a pipe (then waiting() is true).
  StatusOr<bool> next(JsonlLine* line);
  bool waiting() const { return waiting_; }
  // Non-blank lines read so far, all shards counted: the input's record count at the end.
  uint64_t n_lines_seen() const { return next_index_; }
  // The share of the inputs' bytes (compressed bytes for zstd) read so far, in [0, 1];
  // nullopt when an input's size is unknown (stdin, a pipe). For progress estimates.
  std::optional<double> fraction_read() const;

 private:
  struct Source;
  JsonlReader(std::vector<std::string> paths, JsonlReaderOptions options);
  Status open_source(size_t i);
  void close_source();
  Status fill();            // appends more bytes of the current source to buf_
  Status verify_next_frame(bool* at_end);
  Status read_raw(bool* eof);
  Status line_too_long(const std::string& path, uint64_t line_no) const;

  std::vector<std::string> paths_;
  JsonlReaderOptions options_;
  uint64_t total_bytes_ = 0;      // of all inputs
  uint64_t done_bytes_ = 0;       // of the inputs already read to their end
  bool sizes_known_ = false;      // every input is a regular file
  std::unique_ptr<Source> src_;   // the open source, or null between sources
  size_t next_source_ = 0;
  std::string buf_;               // decoded bytes; [pos_, size) not yet returned
  size_t pos_ = 0;
  size_t scan_ = 0;               // bytes from pos_ already searched for '\n'
  uint64_t next_index_ = 0;
  bool waiting_ = false;
};

}  // namespace sb
