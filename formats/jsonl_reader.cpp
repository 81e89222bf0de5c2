#include "formats/jsonl_reader.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sb {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool is_blank(std::string_view s) {
  for (char c : s) {
    if (c != ' ' && c != '\t' && c != '\r') return false;
  }
  return true;
}

// Frame magic numbers: a zstd frame, or one of the 16 skippable-frame magics.
bool starts_like_zstd(const uint8_t* p, size_t n) {
  if (n < 4) return false;
  const uint32_t magic = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
  return magic == 0xFD2FB528u || (magic & 0xFFFFFFF0u) == 0x184D2A50u;
}

}  // namespace

struct JsonlReader::Source {
  std::string path;
  std::string name;              // for messages: the path, or "stdin"
  int fd = -1;
  bool owns_fd = false;
  bool seekable = false;         // a regular file: frames are verified with pread, not held in memory
  bool eof = false;              // no more decoded bytes will come
  bool raw_eof = false;          // the file itself is exhausted
  bool started = false;          // format detected
  ZSTD_DStream* zstd = nullptr;  // null for plain input
  ZSTD_DCtx* verify = nullptr;   // decodes each frame once, discarding it, to check it whole
  size_t zstd_last = 0;          // last ZSTD_decompressStream result: 0 = at a frame boundary
  std::string in;                // raw bytes read but not yet consumed
  size_t in_pos = 0;
  uint64_t in_base = 0;          // file offset of in[0]
  uint64_t verified_end = 0;     // file offset where the last verified frame ends
  uint64_t raw_read = 0;         // bytes read from fd so far (progress)
  std::string scratch_in;        // verification buffers (seekable: read with pread)
  std::string scratch_out;
  uint64_t line_no = 0;

  ~Source() {
    if (zstd != nullptr) ZSTD_freeDStream(zstd);
    if (verify != nullptr) ZSTD_freeDCtx(verify);
    if (owns_fd && fd >= 0) ::close(fd);
  }
};

JsonlReader::JsonlReader(std::vector<std::string> paths, JsonlReaderOptions options)
    : paths_(std::move(paths)), options_(options) {}

JsonlReader::~JsonlReader() = default;

StatusOr<std::unique_ptr<JsonlReader>> JsonlReader::open(std::vector<std::string> paths,
                                                         JsonlReaderOptions options) {
  if (paths.empty()) paths.push_back("-");
  if (options.chunk_bytes == 0 || options.max_line_bytes == 0)
    return invalid_argument("JsonlReader: chunk_bytes and max_line_bytes must be positive");
  SB_CHECK(options.shard.count > 0 && options.shard.index < options.shard.count);
  uint64_t total = 0;
  bool sizes_known = true;
  for (const std::string& p : paths) {
    if (p == "-") {
      sizes_known = false;
      continue;
    }
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return errno_error(p);
    if (S_ISDIR(st.st_mode)) return invalid_argument(p + ": is a directory, expected a .jsonl or .jsonl.zst file");
    if (::access(p.c_str(), R_OK) != 0) return errno_error(p);
    sizes_known = sizes_known && S_ISREG(st.st_mode);
    total += static_cast<uint64_t>(st.st_size);
  }
  auto reader = std::unique_ptr<JsonlReader>(new JsonlReader(std::move(paths), options));
  reader->total_bytes_ = sizes_known ? total : 0;
  reader->sizes_known_ = sizes_known;
  return reader;
}

std::optional<double> JsonlReader::fraction_read() const {
  if (!sizes_known_) return std::nullopt;
  if (total_bytes_ == 0) return 1.0;
  const uint64_t read = done_bytes_ + (src_ != nullptr ? src_->raw_read : 0);
  return std::min(1.0, static_cast<double>(read) / static_cast<double>(total_bytes_));
}

Status JsonlReader::open_source(size_t i) {
  auto src = std::make_unique<Source>();
  src->path = paths_[i];
  src->name = src->path == "-" ? std::string("stdin") : src->path;
  if (src->path == "-") {
    src->fd = STDIN_FILENO;
  } else {
    src->fd = ::open(src->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (src->fd < 0) return errno_error(src->path);
    src->owns_fd = true;
  }
  struct stat st {};
  src->seekable = ::fstat(src->fd, &st) == 0 && S_ISREG(st.st_mode) && ::lseek(src->fd, 0, SEEK_CUR) == 0;
  src_ = std::move(src);
  return ok_status();
}

void JsonlReader::close_source() {
  done_bytes_ += src_->raw_read;
  src_.reset();
}

// Reads up to chunk_bytes more raw bytes into src_->in (after dropping consumed ones).
Status JsonlReader::read_raw(bool* eof) {
  Source& s = *src_;
  if (s.in_pos > 0) {
    s.in.erase(0, s.in_pos);
    s.in_base += s.in_pos;
    s.in_pos = 0;
  }
  // A pipe or terminal may keep its reader waiting: while it has nothing, the
  // caller is asked every 0.1 s whether to stop waiting (next() then returns false
  // with waiting() set, and a later call goes on where this one stopped).
  waiting_ = false;
  while (!s.seekable && options_.stop_waiting) {
    pollfd p{s.fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, 0);
    if (ready > 0 || (ready < 0 && errno != EINTR)) break;  // data, the end or an error: read() tells
    if (options_.stop_waiting()) {
      waiting_ = true;
      return io_error(s.name + ": no input yet");
    }
    (void)::poll(&p, 1, 100);
  }
  const size_t old = s.in.size();
  s.in.resize(old + options_.chunk_bytes);
  ssize_t n;
  do {
    n = ::read(s.fd, s.in.data() + old, options_.chunk_bytes);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    s.in.resize(old);
    return errno_error(s.path == "-" ? std::string("stdin") : s.path);
  }
  s.in.resize(old + static_cast<size_t>(n));
  s.raw_read += static_cast<uint64_t>(n);
  *eof = (n == 0);
  return ok_status();
}

Status JsonlReader::fill() {
  Source& s = *src_;
  if (!s.started) {
    // Detect the format from the first bytes (at least 4, unless the input is shorter).
    while (s.in.size() < 4 && !s.raw_eof) {
      bool eof = false;
      SB_RETURN_IF_ERROR(read_raw(&eof));
      s.raw_eof = eof;
    }
    s.started = true;
    const bool zstd_magic = starts_like_zstd(reinterpret_cast<const uint8_t*>(s.in.data()), s.in.size());
    if (zstd_magic) {
      s.zstd = ZSTD_createDStream();
      s.verify = ZSTD_createDCtx();
      if (s.zstd == nullptr || s.verify == nullptr)
        return internal_error(s.name + ": cannot create a zstd decompression context");
      ZSTD_initDStream(s.zstd);
    } else if (ends_with(s.path, ".zst") && !s.in.empty()) {
      return corrupt(s.name + ": not a zstd stream (the file is named .zst but does not start with the zstd "
                              "magic number)");
    }
  }

  if (s.zstd == nullptr) {
    // Plain input: hand over what is buffered, else read more.
    if (s.in_pos < s.in.size()) {
      buf_.append(s.in, s.in_pos, std::string::npos);
      s.in.clear();
      s.in_pos = 0;
      return ok_status();
    }
    if (s.raw_eof) {
      s.eof = true;
      return ok_status();
    }
    bool eof = false;
    SB_RETURN_IF_ERROR(read_raw(&eof));
    s.raw_eof = eof;
    buf_.append(s.in);
    s.in.clear();
    if (eof) s.eof = true;
    return ok_status();
  }

  // zstd: decompress until some output appears or the input ends. Only bytes of
  // verified frames are decoded, so a damaged frame yields no line at all.
  for (;;) {
    const uint64_t at = s.in_base + s.in_pos;  // file offset of the next byte to decode
    if (at == s.verified_end && s.zstd_last == 0) {
      bool at_end = false;
      SB_RETURN_IF_ERROR(verify_next_frame(&at_end));
      if (at_end) {
        s.eof = true;
        return ok_status();
      }
      continue;
    }
    if (at < s.verified_end && s.in_pos == s.in.size()) {  // verified with pread, not read yet
      bool eof = false;
      SB_RETURN_IF_ERROR(read_raw(&eof));
      if (eof) return corrupt(s.name + ": the file shrank while it was read");
      continue;
    }
    const size_t old = buf_.size();
    buf_.resize(old + options_.chunk_bytes);
    const size_t limit = static_cast<size_t>(std::min<uint64_t>(s.in.size(), s.verified_end - s.in_base));
    ZSTD_inBuffer in{s.in.data(), limit, s.in_pos};
    ZSTD_outBuffer out{buf_.data() + old, options_.chunk_bytes, 0};
    const size_t ret = ZSTD_decompressStream(s.zstd, &out, &in);
    buf_.resize(old + out.pos);
    const bool progress = out.pos > 0 || in.pos > s.in_pos;
    s.in_pos = in.pos;
    // The frame decoded whole a moment ago; failing now means the file is being changed.
    if (ZSTD_isError(ret) || (!progress && ret != 0))
      return corrupt(s.name + ": the zstd stream changed while it was read (" +
                     (ZSTD_isError(ret) ? ZSTD_getErrorName(ret) : "no progress") + ")");
    s.zstd_last = ret;
    if (out.pos > 0) return ok_status();
  }
}

// Decodes the frame at verified_end to the end, discarding its content, so that
// the content checksum is checked before any of its lines is used. Seekable files
// are read with pread; other input keeps the frame's compressed bytes in s.in.
Status JsonlReader::verify_next_frame(bool* at_end) {
  Source& s = *src_;
  const uint64_t start = s.verified_end;
  const auto bad = [&](const std::string& what) {
    return corrupt(s.name + ": " + what + " (the zstd frame starting at byte " + std::to_string(start) +
                   "); records before it were read, none from it");
  };
  ZSTD_DCtx_reset(s.verify, ZSTD_reset_session_only);
  s.scratch_out.resize(options_.chunk_bytes);
  uint64_t pos = start;  // next byte to feed
  for (;;) {
    std::string_view avail;
    if (s.seekable) {
      s.scratch_in.resize(options_.chunk_bytes);
      ssize_t n;
      do {
        n = ::pread(s.fd, s.scratch_in.data(), s.scratch_in.size(), static_cast<off_t>(pos));
      } while (n < 0 && errno == EINTR);
      if (n < 0) return errno_error(s.name);
      avail = std::string_view(s.scratch_in.data(), static_cast<size_t>(n));
    } else {
      if (pos - s.in_base >= s.in.size() && !s.raw_eof) {
        if (pos - start > kMaxUnseekableFrameBytes)
          return bad("a zstd frame over " + std::to_string(kMaxUnseekableFrameBytes >> 20) +
                     " MiB cannot be checked before use when read from a pipe; give the file by name");
        bool eof = false;
        SB_RETURN_IF_ERROR(read_raw(&eof));
        s.raw_eof = eof;
        continue;
      }
      avail = std::string_view(s.in).substr(static_cast<size_t>(pos - s.in_base));
    }
    if (avail.empty()) {
      if (pos == start) {
        *at_end = true;
        return ok_status();
      }
      return bad("truncated zstd stream: the last frame is incomplete");
    }
    ZSTD_inBuffer in{avail.data(), avail.size(), 0};
    while (in.pos < in.size) {
      ZSTD_outBuffer out{s.scratch_out.data(), s.scratch_out.size(), 0};
      const size_t ret = ZSTD_decompressStream(s.verify, &out, &in);
      if (ZSTD_isError(ret)) return bad(std::string("corrupt zstd data: ") + ZSTD_getErrorName(ret));
      if (ret == 0) {
        s.verified_end = pos + in.pos;
        return ok_status();
      }
    }
    pos += in.size;
  }
}

Status JsonlReader::line_too_long(const std::string& path, uint64_t line_no) const {
  return invalid_argument(path + ":" + std::to_string(line_no) + ": line longer than " +
                          std::to_string(options_.max_line_bytes) + " bytes; is this a JSONL file?");
}

StatusOr<bool> JsonlReader::next(JsonlLine* line) {
  for (;;) {
    if (src_ == nullptr) {
      if (next_source_ >= paths_.size()) return false;
      SB_RETURN_IF_ERROR(open_source(next_source_++));
      buf_.clear();
      pos_ = scan_ = 0;
    }
    Source& s = *src_;
    const size_t start = pos_;
    const void* nl = std::memchr(buf_.data() + start + scan_, '\n', buf_.size() - start - scan_);
    size_t end;
    if (nl != nullptr) {
      end = static_cast<size_t>(static_cast<const char*>(nl) - buf_.data());
      pos_ = end + 1;
    } else if (s.eof) {
      if (start == buf_.size()) {
        close_source();
        continue;
      }
      end = buf_.size();  // a last line without "\n"
      pos_ = end;
    } else {
      if (buf_.size() - start > options_.max_line_bytes) return line_too_long(s.path, s.line_no + 1);
      scan_ = buf_.size() - start;
      if (start > 0 && start >= buf_.size() / 2) {  // drop consumed bytes before growing
        buf_.erase(0, start);
        pos_ = 0;
      }
      const Status filled = fill();
      if (!filled.ok()) {
        if (waiting_) return false;
        return filled;
      }
      continue;
    }
    scan_ = 0;
    ++s.line_no;
    std::string_view text(buf_.data() + start, end - start);
    if (s.line_no == 1 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // UTF-8 BOM
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (is_blank(text)) continue;
    if (text.size() > options_.max_line_bytes) return line_too_long(s.path, s.line_no);
    const uint64_t index = next_index_++;
    if (!options_.shard.keeps(index)) continue;
    line->index = index;
    line->text = text;
    line->source = s.path;
    line->line_no = s.line_no;
    return true;
  }
}

StatusOr<std::optional<uint64_t>> count_records(const std::vector<std::string>& paths) {
  uint64_t n = 0;
  std::string buf(size_t{1} << 20, '\0');
  for (const std::string& path : paths.empty() ? std::vector<std::string>{"-"} : paths) {
    if (path == "-") return std::optional<uint64_t>();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error(path);
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::optional<uint64_t>();
    bool first = true, content = false;  // content: the current line has a non-blank byte
    for (;;) {
      ssize_t got;
      do {
        got = ::read(fd, buf.data(), buf.size());
      } while (got < 0 && errno == EINTR);
      if (got < 0) return errno_error(path);
      if (got == 0) break;
      const char* p = buf.data();
      const char* end = p + got;
      if (first) {
        first = false;
        if (starts_like_zstd(reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(got)))
          return std::optional<uint64_t>();
        if (got >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0) p += 3;  // a BOM, as next() drops it
      }
      while (p < end) {
        if (!content) {
          while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) ++p;
          if (p == end) break;
          if (*p == '\n') {  // a blank line
            ++p;
            continue;
          }
          content = true;
        }
        const void* nl = std::memchr(p, '\n', static_cast<size_t>(end - p));
        if (nl == nullptr) break;
        ++n;
        content = false;
        p = static_cast<const char*>(nl) + 1;
      }
    }
    if (content) ++n;  // a last line without a newline
  }
  return std::optional<uint64_t>(n);
}

}  // namespace sb
