// Helpers shared by the unit tests: where ../shared lives and a fresh scratch dir.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace sb::test {

// $SPECBATCH_SHARED_DIR when set (tests run away from their build tree, as
// tests/gpu/device_check.sh runs them), else the directory CMake was given.
inline std::string shared_path(const std::string& rel) {
  const char* dir = std::getenv("SPECBATCH_SHARED_DIR");
  return std::string(dir && *dir ? dir : SPECBATCH_SHARED_DIR) + "/" + rel;
}

// A new empty directory under the build tree, unique per name.
inline std::string scratch_dir(const std::string& name) {
  const std::filesystem::path p = std::filesystem::path(SPECBATCH_TEST_TMP) / name;
  std::filesystem::remove_all(p);
  std::filesystem::create_directories(p);
  return p.string();
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace sb::test
