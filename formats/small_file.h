// Whole small files (manifests, profiles): read in one piece, and replaced
// atomically: written to PATH.tmp, fsynced, renamed over PATH, then the
// directory fsynced, so a reader sees the old file or the new one, never a torn one.
#pragma once

#include <string>
#include <string_view>

#include "core/base/status.h"

namespace sb {

StatusOr<std::string> read_small_file(const std::string& path);
Status write_file_atomically(const std::string& path, std::string_view bytes);

}  // namespace sb
