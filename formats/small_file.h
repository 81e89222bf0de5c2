// Whole small files (manifests, profiles): read in one piece, and replaced
// atomically: written to a uniquely named temporary beside PATH, fsynced, renamed
// over PATH, then the directory fsynced, so a reader sees the old file or the new
// one, never a torn one, and two writers never share a temporary.
#pragma once

#include <string>
#include <string_view>

#include "core/base/status.h"

namespace sb {

StatusOr<std::string> read_small_file(const std::string& path);
Status write_file_atomically(const std::string& path, std::string_view bytes);

// Makes a directory entry made or renamed in PATH's directory durable (best effort:
// some filesystems refuse to fsync a directory).
void sync_parent_dir(const std::string& path);

// A new file PATH.tmp.<pid>.<random> (unique; mode 0644 less the umask) that
// replaces PATH when committed; removed when destroyed uncommitted.
class TempFile {
 public:
  static StatusOr<TempFile> create_beside(const std::string& path);
  TempFile() = default;
  ~TempFile();
  TempFile(TempFile&& other) noexcept;
  TempFile& operator=(TempFile&& other) noexcept;
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }
  // fsync, close, rename over the target, fsync the directory.
  Status commit();

 private:
  int fd_ = -1;
  std::string name_;    // the temporary
  std::string target_;  // the path it replaces
};

}  // namespace sb
