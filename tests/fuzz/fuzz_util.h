// Shared by the fuzz targets: inputs that parsers read from a file go through an
// in-memory file (memfd) named by /proc/self/fd/N, so no disk is touched per run;
// FUZZ_CHECK aborts with a message when a property fails, which libFuzzer records
// as a crash and the corpus regression test reports.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, msg)                                                          \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      std::fprintf(stderr, "fuzz property failed: %s (%s:%d): %s\n", #cond, __FILE__, \
                   __LINE__, std::string(msg).c_str());                                \
      std::abort();                                                                    \
    }                                                                                  \
  } while (0)

namespace sb::fuzz {

// A file holding `bytes` in memory; path() opens it like any file.
class MemFile {
 public:
  explicit MemFile(std::string_view bytes) : fd_(::memfd_create("specbatch-fuzz", MFD_CLOEXEC)) {
    FUZZ_CHECK(fd_ >= 0, "memfd_create");
    for (size_t done = 0; done < bytes.size();) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      FUZZ_CHECK(n > 0, "write to memfd");
      done += static_cast<size_t>(n);
    }
    FUZZ_CHECK(::lseek(fd_, 0, SEEK_SET) == 0, "lseek");
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  int fd() const { return fd_; }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

 private:
  int fd_;
};

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace sb::fuzz
