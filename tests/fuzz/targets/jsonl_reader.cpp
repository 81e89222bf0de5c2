// JSONL inputs, plain or zstd (detected by magic), read with a chunk size and line
// limit from the first byte so lines and frames straddle every buffer boundary.
// Lines come with running indices and no line breaks, or the read stops with a
// Status; it never returns a line after an error.
#include "formats/jsonl_reader.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int jsonl_reader(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  JsonlReaderOptions options;
  options.chunk_bytes = 1 + data[0] % 64;
  options.max_line_bytes = 16 + (data[0] >> 6) * 512;
  const MemFile file(as_text(data + 1, size - 1));
  auto reader = JsonlReader::open({file.path()}, options);
  FUZZ_CHECK(reader.ok(), reader.status().message());
  JsonlLine line;
  uint64_t expect_index = 0;
  for (;;) {
    auto more = (*reader)->next(&line);
    if (!more.ok() || !*more) break;
    FUZZ_CHECK(line.index == expect_index++, "indices run without gaps");
    FUZZ_CHECK(line.text.find('\n') == std::string_view::npos, "a line holds no line break");
    FUZZ_CHECK(line.text.size() <= options.max_line_bytes, "no line above the limit");
  }
  return 0;
}

}  // namespace sb::fuzz
