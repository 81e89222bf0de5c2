#include "formats/output_sink.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <cerrno>
#include <cstring>

#include "formats/small_file.h"

namespace sb {

struct OutputSink::Zstd {
  ZSTD_CCtx* cctx = nullptr;
  ~Zstd() { ZSTD_freeCCtx(cctx); }
};

StatusOr<SyncPolicy> parse_sync_policy(std::string_view name) {
  if (name == "none") return SyncPolicy::kNone;
  if (name == "frame") return SyncPolicy::kFrame;
  if (name == "record") return SyncPolicy::kRecord;
  return invalid_argument("--sync must be none, frame or record, got '" + std::string(name) + "'");
}

OutputCompression compression_for_path(std::string_view path) {
  return path.size() > 4 && path.substr(path.size() - 4) == ".zst" ? OutputCompression::kZstd
                                                                   : OutputCompression::kPlain;
}

OutputSink::OutputSink(int fd, bool owns_fd, std::string name, const OutputSinkOptions& options)
    : fd_(fd), owns_fd_(owns_fd), name_(std::move(name)), options_(options) {
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) {
    is_regular_ = true;
    file_size_ = static_cast<uint64_t>(st.st_size);
  }
  if (options_.compression == OutputCompression::kZstd) {
    zstd_ = std::make_unique<Zstd>();
    zstd_->cctx = ZSTD_createCCtx();
    SB_CHECK_MSG(zstd_->cctx != nullptr, "cannot create a zstd compression context");
    ZSTD_CCtx_setParameter(zstd_->cctx, ZSTD_c_compressionLevel, options_.zstd_level);
    // The content checksum lets resume_scan tell a corrupt frame from a good one.
    ZSTD_CCtx_setParameter(zstd_->cctx, ZSTD_c_checksumFlag, 1);
    ZSTD_CCtx_setParameter(zstd_->cctx, ZSTD_c_contentSizeFlag, 1);
  }
}

OutputSink::~OutputSink() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

StatusOr<std::unique_ptr<OutputSink>> OutputSink::open_file(const std::string& path, OpenMode mode,
                                                            const OutputSinkOptions& options) {
  int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
  if (mode == OpenMode::kTruncate) flags |= O_TRUNC;
  const int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) return errno_error("cannot open " + path + " for writing");
  if (mode != OpenMode::kAppend) sync_parent_dir(path);
  return std::unique_ptr<OutputSink>(new OutputSink(fd, true, path, options));
}

std::unique_ptr<OutputSink> OutputSink::for_fd(int fd, std::string name, const OutputSinkOptions& options) {
  return std::unique_ptr<OutputSink>(new OutputSink(fd, false, std::move(name), options));
}

Status OutputSink::append(std::string_view bytes) {
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const ssize_t n = ::write(fd_, rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno == 0 ? ENOSPC : errno;
      // Leave no partial record behind: cut back to the last complete one.
      if (is_regular_ && rest.size() != bytes.size()) (void)::ftruncate(fd_, static_cast<off_t>(file_size_));
      errno = saved;
      return errno_error("cannot write " + name_);
    }
    rest.remove_prefix(static_cast<size_t>(n));
  }
  file_size_ += bytes.size();
  return ok_status();
}

Status OutputSink::sync() {
  if (!is_regular_ || options_.sync == SyncPolicy::kNone) return ok_status();
  if (::fdatasync(fd_) != 0) return errno_error("cannot sync " + name_);
  return ok_status();
}

Status OutputSink::write_record(std::string_view line) {
  SB_CHECK(fd_ >= 0);
  SB_CHECK_MSG(line.find('\n') == std::string_view::npos, "an output record must be one line");
  if (n_unflushed_ == 0) first_unflushed_ = Clock::now();
  ++n_unflushed_;
  ++n_records_;
  if (zstd_ == nullptr) {
    std::string whole;
    whole.reserve(line.size() + 1);
    whole.append(line).push_back('\n');
    SB_RETURN_IF_ERROR(append(whole));
    if (options_.sync == SyncPolicy::kRecord) SB_RETURN_IF_ERROR(sync());
  } else {
    frame_.append(line).push_back('\n');
  }
  if (options_.sync == SyncPolicy::kRecord || n_unflushed_ >= options_.flush_records ||
      frame_.size() >= options_.max_frame_bytes)
    return flush();
  return ok_status();
}

Status OutputSink::poll(Clock::time_point now) {
  if (n_unflushed_ == 0) return ok_status();
  if (std::chrono::duration<double>(now - first_unflushed_).count() < options_.flush_seconds) return ok_status();
  return flush();
}

Status OutputSink::flush() {
  SB_CHECK(fd_ >= 0);
  if (n_unflushed_ == 0) return ok_status();
  if (zstd_ != nullptr) {
    compressed_.resize(ZSTD_compressBound(frame_.size()));
    const size_t n = ZSTD_compress2(zstd_->cctx, compressed_.data(), compressed_.size(), frame_.data(), frame_.size());
    if (ZSTD_isError(n)) return internal_error(name_ + ": zstd compression failed: " + ZSTD_getErrorName(n));
    SB_RETURN_IF_ERROR(append(std::string_view(compressed_.data(), n)));
    frame_.clear();
  }
  n_unflushed_ = 0;
  return sync();
}

Status OutputSink::close() {
  if (fd_ < 0) return ok_status();
  Status st = flush();
  if (owns_fd_) {
    if (::close(fd_) != 0 && st.ok()) st = errno_error("cannot close " + name_);
  }
  fd_ = -1;
  return st;
}

}  // namespace sb
