#include "formats/output_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace sb {

StatusOr<OutputLock> OutputLock::acquire(const std::string& path) {
  OutputLock lock;
  lock.fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (lock.fd_ < 0 && errno == ENOENT) {
    lock.fd_ = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    lock.created_ = lock.fd_ >= 0;
    if (lock.fd_ < 0 && errno == EEXIST) return acquire(path);  // created by someone else meanwhile
  }
  if (lock.fd_ < 0) return errno_error("cannot open " + path + " for writing");
  if (::flock(lock.fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return invalid_argument(path + ": another specbatch run is writing this output (it holds the file's lock); "
                                     "wait for it to end, or write to another file");
    return errno_error("cannot lock " + path);
  }
  return lock;
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

OutputLock::OutputLock(OutputLock&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), created_(other.created_) {}

OutputLock& OutputLock::operator=(OutputLock&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    created_ = other.created_;
  }
  return *this;
}

}  // namespace sb
