#include "formats/small_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>
#include <utility>

namespace sb {

StatusOr<std::string> read_small_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open " + path);
  std::string bytes;
  char buf[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const Status st = errno_error("cannot read " + path);
      ::close(fd);
      return st;
    }
    if (n == 0) break;
    bytes.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return bytes;
}

void sync_parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

StatusOr<TempFile> TempFile::create_beside(const std::string& path) {
  TempFile t;
  t.target_ = path;
  // PATH.tmp.<pid>.<random>: unique across processes and hosts sharing the directory.
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    char suffix[48];
    std::snprintf(suffix, sizeof(suffix), ".tmp.%d.%08x", static_cast<int>(::getpid()), static_cast<unsigned>(rd()));
    std::string name = path + suffix;
    t.fd_ = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (t.fd_ >= 0) {
      t.name_ = std::move(name);
      return t;
    }
    if (errno != EEXIST) break;
  }
  return errno_error("cannot create a temporary file beside " + path);
}

TempFile::~TempFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!name_.empty()) ::unlink(name_.c_str());
}

TempFile::TempFile(TempFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), name_(std::exchange(other.name_, {})), target_(std::move(other.target_)) {}

TempFile& TempFile::operator=(TempFile&& other) noexcept {
  if (this != &other) {
    TempFile dead(std::move(*this));
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::exchange(other.name_, {});
    target_ = std::move(other.target_);
  }
  return *this;
}

Status TempFile::commit() {
  SB_CHECK(fd_ >= 0);
  const int fd = std::exchange(fd_, -1);
  if (::fsync(fd) != 0) {
    const Status st = errno_error("cannot write " + name_);
    ::close(fd);
    return st;
  }
  if (::close(fd) != 0) return errno_error("cannot write " + name_);
  if (::rename(name_.c_str(), target_.c_str()) != 0) return errno_error("cannot rename " + name_ + " to " + target_);
  name_.clear();  // renamed: nothing to remove
  sync_parent_dir(target_);
  return ok_status();
}

Status write_file_atomically(const std::string& path, std::string_view bytes) {
  SB_ASSIGN_OR_RETURN(TempFile tmp, TempFile::create_beside(path));
  std::string_view rest = bytes;
  while (!rest.empty()) {
    const ssize_t n = ::write(tmp.fd(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("cannot write " + tmp.name());
    rest.remove_prefix(static_cast<size_t>(n));
  }
  return tmp.commit();
}

}  // namespace sb
