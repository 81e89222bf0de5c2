// Cheap identity of input and model files for resume checks: size plus a 64-bit
// FNV-1a hash of the first and last MiB (the whole file when smaller than 2 MiB).
// FNV-1a is chosen for being tiny, dependency-free and checkable against published
// vectors; at 2 MiB per file its speed (~1 GB/s) is irrelevant. Not a security hash:
// it catches a different or re-generated file, not a deliberate collision.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/status.h"

namespace sb {

// FNV-1a 64 of `bytes`, continuing from `state` (start with kFnv1aOffset).
constexpr uint64_t kFnv1aOffset = 0xcbf29ce484222325ull;
uint64_t fnv1a64(std::string_view bytes, uint64_t state = kFnv1aOffset);

struct FileFingerprint {
  uint64_t size = 0;   // bytes (a directory: the sum over its files)
  uint64_t hash = 0;   // FNV-1a over size, first MiB, last MiB
  std::string hex() const;  // 16 lowercase hex digits of hash
};

// A regular file, or a directory (a Hugging Face model: every regular file directly
// inside it, in name order, names included in the hash).
StatusOr<FileFingerprint> fingerprint_path(const std::string& path);

}  // namespace sb
