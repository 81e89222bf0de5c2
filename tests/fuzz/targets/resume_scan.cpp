// Half-written outputs before a resume, plain or zstd (the first byte picks the name
// and a shard): the scan keeps records or refuses, and is idempotent: scanning the
// repaired file again keeps the same records and cuts nothing.
#include <sys/stat.h>

#include "formats/resume_scan.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int resume_scan(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string name = (mode & 1) ? "out.jsonl.zst" : "out.jsonl";
  Shard shard;
  shard.count = 1 + (mode >> 1) % 3;
  shard.index = (mode >> 3) % shard.count;
  const MemFile file(as_text(data + 1, size - 1));
  auto first = scan_and_repair_output(file.fd(), name, shard);
  if (!first.ok()) return 0;
  FUZZ_CHECK(first->n_records == first->done.size() + first->n_duplicates, "every kept record is counted once");
  struct stat st {};
  FUZZ_CHECK(::fstat(file.fd(), &st) == 0 && static_cast<uint64_t>(st.st_size) == first->kept_bytes,
             "the file is cut to what was kept");
  auto again = scan_and_repair_output(file.fd(), name, shard);
  FUZZ_CHECK(again.ok(), again.status().message());
  FUZZ_CHECK(again->cut_bytes == 0 && again->n_records == first->n_records && again->done.size() == first->done.size(),
             "a repaired file scans clean");
  return 0;
}

}  // namespace sb::fuzz
