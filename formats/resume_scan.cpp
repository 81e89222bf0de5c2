#include "formats/resume_scan.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

namespace sb {

struct OutputIndexParser::Impl {
  simdjson::dom::parser parser;
};

OutputIndexParser::OutputIndexParser() : impl_(std::make_unique<Impl>()) {}
OutputIndexParser::~OutputIndexParser() = default;

std::optional<uint64_t> OutputIndexParser::index_of(std::string_view line) {
  simdjson::dom::element doc;
  if (impl_->parser.parse(line.data(), line.size(), true).get(doc) != simdjson::SUCCESS) return std::nullopt;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return std::nullopt;
  uint64_t index = 0;
  if (obj["index"].get_uint64().get(index) != simdjson::SUCCESS) return std::nullopt;
  return index;
}

std::string ResumeScan::summary(const std::string& path) const {
  std::string s = path + ": " + std::to_string(n_records) + " records already done";
  if (n_duplicates > 0) s += " (" + std::to_string(n_duplicates) + " of them duplicates)";
  if (cut_bytes == 0) return s + "; nothing to repair";
  s += "; cut " + std::to_string(cut_bytes) + " bytes at offset " + std::to_string(kept_bytes);
  if (compression == OutputCompression::kPlain) s += " (" + std::to_string(cut_lines) + " lines)";
  return s + ": " + cut_reason;
}

namespace {

constexpr size_t kChunk = size_t{1} << 20;
constexpr size_t kMaxFrameContent = size_t{1} << 30;  // a frame decoding to more is not ours

// Sequential reader over the file with a sliding buffer; offsets are file offsets.
class ScanBuffer {
 public:
  ScanBuffer(int fd, const std::string& path, uint64_t size) : fd_(fd), path_(path), size_(size) {}
  // Appends up to kChunk more bytes; sets eof() when the file is exhausted.
  Status read_more() {
    if (pos_ > 0 && pos_ >= buf_.size() / 2) {
      buf_.erase(0, pos_);
      base_ += pos_;
      pos_ = 0;
    }
    // No more than the file holds (small files are most of them): read() finds the end.
    const size_t want = static_cast<size_t>(std::clamp<uint64_t>(size_ - std::min(size_, base_ + buf_.size()), 1, kChunk));
    const size_t old = buf_.size();
    buf_.resize(old + want);
    ssize_t n;
    do {
      n = ::read(fd_, buf_.data() + old, want);
    } while (n < 0 && errno == EINTR);
    buf_.resize(old + static_cast<size_t>(n < 0 ? 0 : n));
    if (n < 0) return errno_error("cannot read " + path_);
    if (n == 0) eof_ = true;
    return ok_status();
  }
  std::string_view rest() const { return std::string_view(buf_).substr(pos_); }
  void consume(size_t n) { pos_ += n; }
  uint64_t offset() const { return base_ + pos_; }  // file offset of rest()
  bool eof() const { return eof_; }

 private:
  int fd_;
  const std::string& path_;
  uint64_t size_;  // the file's size when the scan began
  std::string buf_;
  size_t pos_ = 0;
  uint64_t base_ = 0;
  bool eof_ = false;
};

// Counts one kept record; a record of another shard means the file is not this shard's output.
Status keep_record(ResumeScan* s, uint64_t index, const Shard& shard, uint64_t* prev, const std::string& where) {
  if (index > kMaxRecordIndex)
    return corrupt(where + ": a record with index " + std::to_string(index) + ", above any input's record count (2^48); "
                   "the file was changed by something else, so specbatch will not resume it");
  if (!s->done.admits(index))
    return corrupt(where + ": a record with index " + std::to_string(index) + ", which is not in shard " +
                   shard.to_string() + "; the file was made by another shard or changed by something else, so "
                   "specbatch will not resume it");
  ++s->n_records;
  if (!s->done.insert(index)) ++s->n_duplicates;
  if (s->n_records > 1 && index <= *prev) s->in_order = false;
  *prev = index;
  return ok_status();
}

// Plain JSONL: every line a record; a torn or invalid last line is cut.
Status scan_plain(ScanBuffer& in, const std::string& path, const Shard& shard, ResumeScan* s) {
  OutputIndexParser parser;
  uint64_t line_no = 0, prev = 0;
  bool pending_bad = false;  // the previous line was not a record: fine only if it is the last
  for (;;) {
    const std::string_view rest = in.rest();
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) {
      if (!in.eof()) {
        SB_RETURN_IF_ERROR(in.read_more());
        continue;
      }
      if (!rest.empty()) {
        ++s->cut_lines;
        s->cut_reason = pending_bad ? "the last lines are not output records" : "the last line is incomplete";
      }
      return ok_status();
    }
    ++line_no;
    if (pending_bad)
      return corrupt(path + ":" + std::to_string(line_no - 1) +
                     ": not a specbatch output record (no \"index\"), and it is not the last line; the file was "
                     "changed by something else, so specbatch will not resume it");
    const std::optional<uint64_t> index = parser.index_of(rest.substr(0, nl));
    if (index) {
      SB_RETURN_IF_ERROR(keep_record(s, *index, shard, &prev, path + ":" + std::to_string(line_no)));
      s->kept_bytes = in.offset() + nl + 1;
    } else {
      pending_bad = true;
      ++s->cut_lines;
      s->cut_reason = "the last line is not a valid output record";
    }
    in.consume(nl + 1);
  }
}

// Decodes one whole frame (`frame` holds exactly its bytes) into *out.
Status decode_frame(ZSTD_DCtx* dctx, std::string_view frame, std::string* out) {
  ZSTD_DCtx_reset(dctx, ZSTD_reset_session_only);
  out->clear();
  ZSTD_inBuffer in{frame.data(), frame.size(), 0};
  size_t ret = 1;
  size_t step = std::min(kChunk, std::max<size_t>(4096, frame.size() * 8));  // grows to kChunk as needed
  while (in.pos < in.size || ret != 0) {
    if (out->size() > kMaxFrameContent) return corrupt("the frame decodes to more than 1 GiB");
    const size_t old = out->size();
    out->resize(old + step);
    ZSTD_outBuffer o{out->data() + old, step, 0};
    ret = ZSTD_decompressStream(dctx, &o, &in);
    out->resize(old + o.pos);
    if (ZSTD_isError(ret)) return corrupt(std::string("corrupt frame (") + ZSTD_getErrorName(ret) + ")");
    if (ret != 0 && in.pos == in.size && o.pos < step) return corrupt("incomplete frame");
    step = std::min(kChunk, step * 2);
  }
  return ok_status();
}

// zstd: a sequence of frames of whole lines; the first bad frame and all after it are cut.
Status scan_zstd(ScanBuffer& in, const std::string& path, const Shard& shard, ResumeScan* s) {
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  if (dctx == nullptr) return internal_error("cannot create a zstd decompression context");
  OutputIndexParser parser;
  std::string content;
  uint64_t prev = 0;
  for (;;) {
    const std::string_view rest = in.rest();
    if (rest.empty()) {
      if (in.eof()) return ok_status();
      SB_RETURN_IF_ERROR(in.read_more());
      continue;
    }
    const size_t n = ZSTD_findFrameCompressedSize(rest.data(), rest.size());
    const bool need_more = ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_srcSize_wrong;
    if (need_more && !in.eof()) {
      SB_RETURN_IF_ERROR(in.read_more());
      continue;
    }
    if (ZSTD_isError(n)) {
      s->cut_reason = need_more ? "the last frame is incomplete"
                                : std::string("a frame is corrupt (") + ZSTD_getErrorName(n) + ")";
      return ok_status();
    }
    const Status decoded = decode_frame(dctx.get(), rest.substr(0, n), &content);
    if (!decoded.ok()) {
      s->cut_reason = "a frame at offset " + std::to_string(in.offset()) + " is damaged: " + decoded.message();
      return ok_status();
    }
    if (!content.empty() && content.back() != '\n') {
      s->cut_reason = "a frame does not end with a whole line";
      return ok_status();
    }
    // Check every line before counting any: the frame is kept or cut as a whole.
    std::vector<uint64_t> indices;
    for (size_t pos = 0; pos < content.size();) {
      const size_t nl = content.find('\n', pos);
      const std::optional<uint64_t> index = parser.index_of(std::string_view(content).substr(pos, nl - pos));
      if (!index) {
        s->cut_reason = "a frame holds a line that is not an output record";
        return ok_status();
      }
      indices.push_back(*index);
      pos = nl + 1;
    }
    for (uint64_t index : indices) {
      SB_RETURN_IF_ERROR(keep_record(s, index, shard, &prev, path + ": the frame at offset " + std::to_string(in.offset())));
    }
    in.consume(n);
    s->kept_bytes = in.offset();
  }
}

}  // namespace

StatusOr<ResumeScan> scan_and_repair_output(const std::string& path, const Shard& shard) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open " + path + " to resume it");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  return scan_and_repair_output(fd, path, shard);
}

StatusOr<ResumeScan> scan_and_repair_output(int fd, const std::string& path, const Shard& shard) {
  if (::lseek(fd, 0, SEEK_SET) != 0) return errno_error("cannot read " + path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("cannot stat " + path);
  if (!S_ISREG(st.st_mode)) return invalid_argument(path + ": --resume needs a regular output file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);

  ResumeScan s;
  s.done = IndexSet(shard.count, shard.index);
  s.compression = compression_for_path(path);
  ScanBuffer in(fd, path, size);
  if (s.compression == OutputCompression::kZstd) {
    SB_RETURN_IF_ERROR(in.read_more());
    const std::string_view head = in.rest();
    const bool zstd_magic = head.size() >= 4 && std::memcmp(head.data(), "\x28\xB5\x2F\xFD", 4) == 0;
    if (head.size() >= 4 && !zstd_magic)
      return corrupt(path + ": named .zst but not a zstd file; specbatch will not resume (or cut) it");
    SB_RETURN_IF_ERROR(scan_zstd(in, path, shard, &s));
  } else {
    SB_RETURN_IF_ERROR(scan_plain(in, path, shard, &s));
  }
  SB_CHECK(s.kept_bytes <= size);
  s.cut_bytes = size - s.kept_bytes;
  if (s.cut_bytes > 0) {
    if (::ftruncate(fd, static_cast<off_t>(s.kept_bytes)) != 0) return errno_error("cannot truncate " + path);
    if (::fsync(fd) != 0) return errno_error("cannot sync " + path);
  }
  return s;
}

}  // namespace sb
