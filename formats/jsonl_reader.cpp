#include "formats/jsonl_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

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
  int fd = -1;
  bool owns_fd = false;
  bool eof = false;              // no more decoded bytes will come
  bool raw_eof = false;          // the file itself is exhausted
  bool started = false;          // format detected
  ZSTD_DStream* zstd = nullptr;  // null for plain input
  size_t zstd_last = 0;          // last ZSTD_decompressStream result: 0 = at a frame boundary
  std::string in;                // raw bytes read but not yet consumed
  size_t in_pos = 0;
  uint64_t line_no = 0;

  ~Source() {
    if (zstd != nullptr) ZSTD_freeDStream(zstd);
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
  for (const std::string& p : paths) {
    if (p == "-") continue;
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) return errno_error(p);
    if (S_ISDIR(st.st_mode)) return invalid_argument(p + ": is a directory, expected a .jsonl or .jsonl.zst file");
    if (::access(p.c_str(), R_OK) != 0) return errno_error(p);
  }
  return std::unique_ptr<JsonlReader>(new JsonlReader(std::move(paths), options));
}

Status JsonlReader::open_source(size_t i) {
  auto src = std::make_unique<Source>();
  src->path = paths_[i];
  if (src->path == "-") {
    src->fd = STDIN_FILENO;
  } else {
    src->fd = ::open(src->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (src->fd < 0) return errno_error(src->path);
    src->owns_fd = true;
  }
  src_ = std::move(src);
  return ok_status();
}

void JsonlReader::close_source() { src_.reset(); }

// Reads up to chunk_bytes more raw bytes into src_->in (after dropping consumed ones).
Status JsonlReader::read_raw(bool* eof) {
  Source& s = *src_;
  if (s.in_pos > 0) {
    s.in.erase(0, s.in_pos);
    s.in_pos = 0;
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
  *eof = (n == 0);
  return ok_status();
}

Status JsonlReader::fill() {
  Source& s = *src_;
  const std::string name = s.path == "-" ? std::string("stdin") : s.path;
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
      if (s.zstd == nullptr) return internal_error(name + ": cannot create a zstd decompression context");
      ZSTD_initDStream(s.zstd);
    } else if (ends_with(s.path, ".zst") && !s.in.empty()) {
      return corrupt(name + ": not a zstd stream (the file is named .zst but does not start with the zstd "
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

  // zstd: decompress until some output appears or the input ends.
  for (;;) {
    if (s.in_pos == s.in.size()) {
      if (s.raw_eof) {
        if (s.zstd_last != 0)
          return corrupt(name + ": truncated zstd stream (the last frame is incomplete)");
        s.eof = true;
        return ok_status();
      }
      bool eof = false;
      SB_RETURN_IF_ERROR(read_raw(&eof));
      s.raw_eof = eof;
      continue;
    }
    const size_t old = buf_.size();
    buf_.resize(old + options_.chunk_bytes);
    ZSTD_inBuffer in{s.in.data(), s.in.size(), s.in_pos};
    ZSTD_outBuffer out{buf_.data() + old, options_.chunk_bytes, 0};
    const size_t ret = ZSTD_decompressStream(s.zstd, &out, &in);
    buf_.resize(old + out.pos);
    s.in_pos = in.pos;
    if (ZSTD_isError(ret))
      return corrupt(name + ": corrupt zstd stream (" + ZSTD_getErrorName(ret) + ")");
    s.zstd_last = ret;
    if (out.pos > 0) return ok_status();
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
      SB_RETURN_IF_ERROR(fill());
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

}  // namespace sb
