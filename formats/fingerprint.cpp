#include "formats/fingerprint.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <vector>

namespace sb {

uint64_t fnv1a64(std::string_view bytes, uint64_t state) {
  for (unsigned char c : bytes) {
    state ^= c;
    state *= 0x100000001b3ull;
  }
  return state;
}

std::string FileFingerprint::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(hash));
  return buf;
}

namespace {

constexpr uint64_t kEdgeBytes = uint64_t{1} << 20;

uint64_t hash_u64(uint64_t v, uint64_t state) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  return fnv1a64(std::string_view(b, 8), state);
}

Status hash_range(int fd, const std::string& path, uint64_t offset, uint64_t n, uint64_t* state) {
  std::string buf(n, '\0');
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd, buf.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno_error("cannot read " + path);
    if (r == 0) return io_error(path + ": the file shrank while it was being read");
    got += static_cast<size_t>(r);
  }
  *state = fnv1a64(buf, *state);
  return ok_status();
}

StatusOr<FileFingerprint> fingerprint_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error("cannot open " + path);
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return errno_error("cannot stat " + path);
  FileFingerprint fp;
  fp.size = static_cast<uint64_t>(st.st_size);
  uint64_t h = hash_u64(fp.size, kFnv1aOffset);
  if (fp.size <= 2 * kEdgeBytes) {
    SB_RETURN_IF_ERROR(hash_range(fd, path, 0, fp.size, &h));
  } else {
    SB_RETURN_IF_ERROR(hash_range(fd, path, 0, kEdgeBytes, &h));
    SB_RETURN_IF_ERROR(hash_range(fd, path, fp.size - kEdgeBytes, kEdgeBytes, &h));
  }
  fp.hash = h;
  return fp;
}

}  // namespace

StatusOr<FileFingerprint> fingerprint_path(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return fingerprint_file(path);
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.is_regular_file(ec)) names.push_back(entry.path().filename().string());
  }
  if (ec) return io_error("cannot list " + path + ": " + ec.message());
  std::sort(names.begin(), names.end());
  FileFingerprint dir;
  uint64_t h = kFnv1aOffset;
  for (const std::string& name : names) {
    SB_ASSIGN_OR_RETURN(FileFingerprint f, fingerprint_file(path + "/" + name));
    dir.size += f.size;
    h = hash_u64(f.hash, fnv1a64(name, h));
  }
  dir.hash = h;
  return dir;
}

}  // namespace sb
