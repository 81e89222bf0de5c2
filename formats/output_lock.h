// One writer per output: an exclusive advisory lock (flock) on the output file,
// taken before anything reads or changes it and held until the object dies. Its
// descriptor (read-write, O_APPEND) is the one the resume scan and the writer use,
// so no other descriptor of the file is opened and closed while it is held (on NFS,
// flock is a POSIX lock, which closing any descriptor of the file would drop).
#pragma once

#include <string>

#include "core/base/status.h"

namespace sb {

class OutputLock {
 public:
  // Opens `path` (creating it when missing) and locks it without waiting. Another
  // holder gives kInvalidArgument with a message naming the file.
  static StatusOr<OutputLock> acquire(const std::string& path);
  OutputLock() = default;
  ~OutputLock();
  OutputLock(OutputLock&& other) noexcept;
  OutputLock& operator=(OutputLock&& other) noexcept;
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;

  int fd() const { return fd_; }
  bool created() const { return created_; }  // the file did not exist before acquire()

 private:
  int fd_ = -1;
  bool created_ = false;
};

}  // namespace sb
