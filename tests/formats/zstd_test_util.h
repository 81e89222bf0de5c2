// Test helpers over zstd files made of independent frames: make a frame, decode all
// frames, and the byte offset where each frame starts.
#pragma once

#include <doctest/doctest.h>
#include <zstd.h>

#include <string>
#include <vector>

namespace sb::test {

// One frame of `data` with a content checksum, as the zstd tool and specbatch write.
inline std::string zstd_frame(const std::string& data, int level = 3) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  const size_t n = ZSTD_compress2(cctx, out.data(), out.size(), data.data(), data.size());
  ZSTD_freeCCtx(cctx);
  REQUIRE_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// Offsets of every frame start, plus bytes.size() at the end.
inline std::vector<size_t> zstd_frame_offsets(const std::string& bytes) {
  std::vector<size_t> offsets{0};
  while (offsets.back() < bytes.size()) {
    const size_t n = ZSTD_findFrameCompressedSize(bytes.data() + offsets.back(), bytes.size() - offsets.back());
    REQUIRE(!ZSTD_isError(n));
    offsets.push_back(offsets.back() + n);
  }
  return offsets;
}

// All frames decoded and concatenated; *n_frames counts them.
inline std::string unzstd(const std::string& bytes, int* n_frames = nullptr) {
  std::string out;
  const std::vector<size_t> offsets = zstd_frame_offsets(bytes);
  for (size_t f = 0; f + 1 < offsets.size(); ++f) {
    const char* p = bytes.data() + offsets[f];
    const size_t n = offsets[f + 1] - offsets[f];
    const unsigned long long size = ZSTD_getFrameContentSize(p, n);
    REQUIRE(size != ZSTD_CONTENTSIZE_UNKNOWN);
    REQUIRE(size != ZSTD_CONTENTSIZE_ERROR);
    std::string frame(size, '\0');
    REQUIRE(ZSTD_decompress(frame.data(), frame.size(), p, n) == size);
    out += frame;
  }
  if (n_frames != nullptr) *n_frames = static_cast<int>(offsets.size()) - 1;
  return out;
}

}  // namespace sb::test
