// resume_scan: torn or invalid plain tails cut, damage before the tail refused;
// zstd files truncated at every byte of their last frame or with a flipped byte keep
// exactly the intact records; done indices (error records included) and duplicates.
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "formats/output_sink.h"
#include "formats/resume_scan.h"
#include "formats/zstd_test_util.h"
#include "test_util.h"

using sb::OutputIndexParser;
using sb::scan_and_repair_output;

namespace {

std::string record(int i) { return "{\"index\":" + std::to_string(i) + ",\"id\":null,\"text\":\"t" + std::to_string(i) + "\"}"; }
std::string error_record(int i) {
  return "{\"index\":" + std::to_string(i) + ",\"id\":null,\"error\":{\"code\":\"invalid_json\",\"message\":\"m\"}}";
}

// A zstd output of records 0..n-1 (record 2 an error record), flush_records per frame.
std::string make_zstd(const std::string& path, int n, int per_frame) {
  sb::OutputSinkOptions opt;
  opt.compression = sb::OutputCompression::kZstd;
  opt.flush_records = static_cast<uint64_t>(per_frame);
  auto sink = sb::OutputSink::open_file(path, sb::OpenMode::kTruncate, opt);
  REQUIRE(sink.ok());
  for (int i = 0; i < n; ++i) REQUIRE((*sink)->write_record(i == 2 ? error_record(i) : record(i)).ok());
  REQUIRE((*sink)->close().ok());
  return sb::test::read_file(path);
}

}  // namespace

TEST_CASE("OutputIndexParser reads index from both output formats") {
  OutputIndexParser p;
  CHECK(p.index_of(record(7)) == 7u);
  CHECK(p.index_of(error_record(3)) == 3u);
  CHECK(p.index_of("{\"index\":5,\"id\":\"batch_req_5\",\"custom_id\":\"a\",\"response\":null,\"error\":{}}") == 5u);
  CHECK_FALSE(p.index_of("{\"index\":-1}"));
  CHECK_FALSE(p.index_of("{\"index\":\"3\"}"));
  CHECK_FALSE(p.index_of("[1]"));
  CHECK_FALSE(p.index_of("{\"index\":1"));
  CHECK_FALSE(p.index_of(std::string(10, '\0')));
}

TEST_CASE("plain: complete lines are kept, a torn last line is cut") {
  const std::string path = sb::test::scratch_dir("scan_plain") + "/out.jsonl";
  const std::string good = record(0) + "\n" + error_record(1) + "\n" + record(2) + "\n";
  const std::string torn = record(3).substr(0, 9);
  sb::test::write_file(path, good + torn);
  auto s = scan_and_repair_output(path);
  REQUIRE(s.ok());
  CHECK(s->n_records == 3);
  CHECK(s->done.size() == 3);
  CHECK(s->done.contains(1));  // error records count as done
  CHECK_FALSE(s->done.contains(3));
  CHECK(s->cut_bytes == torn.size());
  CHECK(s->cut_lines == 1);
  CHECK(s->kept_bytes == good.size());
  CHECK(sb::test::read_file(path) == good);
  CHECK(s->summary(path).find("cut 9 bytes") != std::string::npos);

  // Scanning again finds nothing to cut.
  auto again = scan_and_repair_output(path);
  REQUIRE(again.ok());
  CHECK(again->cut_bytes == 0);
  CHECK(again->summary(path).find("nothing to repair") != std::string::npos);
}

TEST_CASE("plain: a last line that is whole JSON but lacks its newline, or is garbage, is cut") {
  const std::string dir = sb::test::scratch_dir("scan_plain_tail");
  const std::string good = record(0) + "\n";
  for (const std::string& tail : {record(1), std::string("not json\n"), std::string(40, '\0'),
                                  std::string("{\"no_index\":1}\n") + std::string(5, '\0')}) {
    const std::string path = dir + "/out.jsonl";
    sb::test::write_file(path, good + tail);
    auto s = scan_and_repair_output(path);
    REQUIRE(s.ok());
    CHECK(s->n_records == 1);
    CHECK(s->cut_bytes == tail.size());
    CHECK(sb::test::read_file(path) == good);
  }
}

TEST_CASE("plain: a bad line before the end is refused, nothing is cut") {
  const std::string path = sb::test::scratch_dir("scan_plain_bad") + "/out.jsonl";
  const std::string bytes = record(0) + "\nhello\n" + record(1) + "\n";
  sb::test::write_file(path, bytes);
  auto s = scan_and_repair_output(path);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("out.jsonl:2") != std::string::npos);
  CHECK(sb::test::read_file(path) == bytes);
}

TEST_CASE("plain: duplicates are counted; an empty file is fine") {
  const std::string dir = sb::test::scratch_dir("scan_plain_dup");
  sb::test::write_file(dir + "/a.jsonl", record(0) + "\n" + record(0) + "\n" + record(4) + "\n");
  auto s = scan_and_repair_output(dir + "/a.jsonl");
  REQUIRE(s.ok());
  CHECK(s->n_records == 3);
  CHECK(s->n_duplicates == 1);
  CHECK(s->done.size() == 2);
  sb::test::write_file(dir + "/b.jsonl", "");
  auto e = scan_and_repair_output(dir + "/b.jsonl");
  REQUIRE(e.ok());
  CHECK(e->n_records == 0);
  CHECK(e->cut_bytes == 0);
}

TEST_CASE("zstd: truncated at every byte of the last frame, only the complete frames are kept") {
  const std::string dir = sb::test::scratch_dir("scan_zstd_trunc");
  const std::string full = make_zstd(dir + "/full.jsonl.zst", 7, 3);  // frames: 0-2, 3-5, 6
  const std::vector<size_t> offsets = sb::test::zstd_frame_offsets(full);
  REQUIRE(offsets.size() == 4);
  const std::string path = dir + "/cut.jsonl.zst";
  for (size_t len = offsets[2]; len <= full.size(); ++len) {
    CAPTURE(len);
    sb::test::write_file(path, full.substr(0, len));
    auto s = scan_and_repair_output(path);
    REQUIRE(s.ok());
    const bool whole = len == full.size();
    CHECK(s->n_records == (whole ? 7u : 6u));
    CHECK(s->kept_bytes == (whole ? full.size() : offsets[2]));
    CHECK(s->cut_bytes == len - s->kept_bytes);
    CHECK(s->done.contains(2));
    CHECK(s->done.contains(6) == whole);
    CHECK(sb::test::read_file(path) == full.substr(0, s->kept_bytes));
  }
}

TEST_CASE("zstd: a flipped byte keeps only intact records, never a damaged one") {
  const std::string dir = sb::test::scratch_dir("scan_zstd_flip");
  const std::string full = make_zstd(dir + "/full.jsonl.zst", 9, 3);  // three frames
  const std::vector<size_t> offsets = sb::test::zstd_frame_offsets(full);
  REQUIRE(offsets.size() == 4);
  const std::string expected = sb::test::unzstd(full);
  const std::string path = dir + "/flip.jsonl.zst";
  // Every byte of the middle frame: frame 0 always survives, and what is kept decodes
  // to a prefix of the original records. (Flipping the header's checksum flag keeps the
  // frame's intact records but not its checksum bytes, which then are cut.)
  int exactly_two_cut = 0;
  for (size_t at = offsets[1]; at < offsets[2]; ++at) {
    CAPTURE(at);
    std::string bytes = full;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x41);
    sb::test::write_file(path, bytes);
    auto s = scan_and_repair_output(path);
    REQUIRE(s.ok());
    CHECK(s->kept_bytes >= offsets[1]);
    CHECK(s->kept_bytes < full.size());
    const std::string kept = sb::test::unzstd(sb::test::read_file(path));
    CHECK(expected.compare(0, kept.size(), kept) == 0);
    CHECK(s->n_records == static_cast<uint64_t>(std::count(kept.begin(), kept.end(), '\n')));
    if (s->kept_bytes == offsets[1]) ++exactly_two_cut;
  }
  CHECK(exactly_two_cut > 0);
  // A flipped byte in the payload of the middle frame cuts it and the frame after it.
  std::string bytes = full;
  const size_t mid = (offsets[1] + offsets[2]) / 2;
  bytes[mid] = static_cast<char>(bytes[mid] ^ 0x41);
  sb::test::write_file(path, bytes);
  auto s = scan_and_repair_output(path);
  REQUIRE(s.ok());
  CHECK(s->kept_bytes == offsets[1]);
  CHECK(s->n_records == 3);
  CHECK(s->cut_bytes == full.size() - offsets[1]);
  CHECK(s->summary(path).find("cut") != std::string::npos);
}

TEST_CASE("zstd: a .zst file that is not zstd is refused; a stub shorter than the magic is cut") {
  const std::string dir = sb::test::scratch_dir("scan_zstd_magic");
  sb::test::write_file(dir + "/a.jsonl.zst", record(0) + "\n");
  auto s = scan_and_repair_output(dir + "/a.jsonl.zst");
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().message().find("not a zstd file") != std::string::npos);
  sb::test::write_file(dir + "/b.jsonl.zst", "\x28\xB5");
  auto b = scan_and_repair_output(dir + "/b.jsonl.zst");
  REQUIRE(b.ok());
  CHECK(b->cut_bytes == 2);
  CHECK(sb::test::read_file(dir + "/b.jsonl.zst").empty());
}

TEST_CASE("an index above any input, or of another shard, is refused; a shard's records and their order") {
  const std::string dir = sb::test::scratch_dir("scan_bounds");
  sb::test::write_file(dir + "/huge.jsonl", record(0) + "\n{\"index\":18446744073709551615}\n" + record(1) + "\n");
  auto huge = scan_and_repair_output(dir + "/huge.jsonl");
  REQUIRE_FALSE(huge.ok());
  CHECK(huge.status().message() == dir + "/huge.jsonl:2: a record with index 18446744073709551615, above any "
                                         "input's record count (2^48); the file was changed by something else, so "
                                         "specbatch will not resume it");
  const sb::Shard shard{1, 3};
  sb::test::write_file(dir + "/s.jsonl", record(4) + "\n" + record(1) + "\n" + record(7) + "\n");
  auto s = scan_and_repair_output(dir + "/s.jsonl", shard);
  REQUIRE(s.ok());
  CHECK(s->done.size() == 3);
  CHECK(s->done.is_prefix());  // 1, 4, 7: the shard's first three records
  CHECK_FALSE(s->in_order);
  sb::test::write_file(dir + "/s.jsonl", record(1) + "\n" + record(2) + "\n");
  auto other = scan_and_repair_output(dir + "/s.jsonl", shard);
  REQUIRE_FALSE(other.ok());
  CHECK(other.status().message().find("s.jsonl:2: a record with index 2, which is not in shard 1/3") != std::string::npos);
  make_zstd(dir + "/z.jsonl.zst", 6, 4);
  auto z = scan_and_repair_output(dir + "/z.jsonl.zst", sb::Shard{0, 2});
  REQUIRE_FALSE(z.ok());
  CHECK(z.status().message().find("z.jsonl.zst: the frame at offset 0: a record with index 1, which is not in shard 0/2") !=
        std::string::npos);
}
