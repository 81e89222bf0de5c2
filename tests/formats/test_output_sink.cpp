// OutputSink: whole lines, append mode, zstd frames closed by record count and at
// close, stdout-style fds, /dev/full reported as an error.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

#include "formats/output_sink.h"
#include "formats/zstd_test_util.h"
#include "test_util.h"

using sb::OpenMode;
using sb::OutputCompression;
using sb::OutputSink;
using sb::OutputSinkOptions;
using sb::SyncPolicy;
using sb::test::unzstd;

namespace {

std::string record(int i) { return "{\"index\":" + std::to_string(i) + ",\"text\":\"r" + std::to_string(i) + "\"}"; }

}  // namespace

TEST_CASE("plain sink writes whole lines, appends in append mode, empties in truncate mode") {
  const std::string dir = sb::test::scratch_dir("sink_plain");
  const std::string path = dir + "/out.jsonl";
  OutputSinkOptions opt;
  {
    auto sink = OutputSink::open_file(path, OpenMode::kTruncate, opt);
    REQUIRE(sink.ok());
    for (int i = 0; i < 3; ++i) REQUIRE((*sink)->write_record(record(i)).ok());
    // Plain lines are on disk at once, before any flush.
    CHECK(sb::test::read_file(path) == record(0) + "\n" + record(1) + "\n" + record(2) + "\n");
    REQUIRE((*sink)->close().ok());
    CHECK((*sink)->records_written() == 3);
  }
  {
    auto sink = OutputSink::open_file(path, OpenMode::kAppend, opt);
    REQUIRE(sink.ok());
    REQUIRE((*sink)->write_record(record(3)).ok());
    REQUIRE((*sink)->close().ok());
  }
  CHECK(sb::test::read_file(path) == record(0) + "\n" + record(1) + "\n" + record(2) + "\n" + record(3) + "\n");
  {
    auto sink = OutputSink::open_file(path, OpenMode::kTruncate, opt);
    REQUIRE(sink.ok());
    REQUIRE((*sink)->close().ok());
  }
  CHECK(sb::test::read_file(path).empty());
}

TEST_CASE("zstd sink closes a frame every flush_records records and at close") {
  const std::string dir = sb::test::scratch_dir("sink_zstd");
  const std::string path = dir + "/out.jsonl.zst";
  CHECK(sb::compression_for_path(path) == OutputCompression::kZstd);
  CHECK(sb::compression_for_path("out.jsonl") == OutputCompression::kPlain);
  OutputSinkOptions opt;
  opt.compression = OutputCompression::kZstd;
  opt.flush_records = 3;
  opt.flush_seconds = 1e9;
  auto sink = OutputSink::open_file(path, OpenMode::kTruncate, opt);
  REQUIRE(sink.ok());
  std::string expected;
  for (int i = 0; i < 7; ++i) {
    REQUIRE((*sink)->write_record(record(i)).ok());
    expected += record(i) + "\n";
  }
  int frames = 0;
  CHECK(unzstd(sb::test::read_file(path), &frames) == expected.substr(0, expected.find(record(6))));
  CHECK(frames == 2);  // records 0-2 and 3-5; record 6 is still buffered
  // poll() before flush_seconds does nothing; flush() closes the partial frame.
  REQUIRE((*sink)->poll(OutputSink::Clock::now()).ok());
  REQUIRE((*sink)->close().ok());
  CHECK(unzstd(sb::test::read_file(path), &frames) == expected);
  CHECK(frames == 3);
}

TEST_CASE("flush_seconds: poll closes the frame once the oldest record is old enough") {
  const std::string path = sb::test::scratch_dir("sink_poll") + "/out.zst";
  OutputSinkOptions opt;
  opt.compression = OutputCompression::kZstd;
  opt.flush_seconds = 5;
  auto sink = OutputSink::open_file(path, OpenMode::kTruncate, opt);
  REQUIRE(sink.ok());
  REQUIRE((*sink)->write_record(record(0)).ok());
  const auto now = OutputSink::Clock::now();
  REQUIRE((*sink)->poll(now).ok());
  CHECK(sb::test::read_file(path).empty());
  REQUIRE((*sink)->poll(now + std::chrono::seconds(6)).ok());
  int frames = 0;
  CHECK(unzstd(sb::test::read_file(path), &frames) == record(0) + "\n");
  REQUIRE((*sink)->close().ok());
}

TEST_CASE("sync=record makes every zstd record its own frame; the policy names parse") {
  const std::string path = sb::test::scratch_dir("sink_sync") + "/out.zst";
  OutputSinkOptions opt;
  opt.compression = OutputCompression::kZstd;
  opt.sync = SyncPolicy::kRecord;
  auto sink = OutputSink::open_file(path, OpenMode::kTruncate, opt);
  REQUIRE(sink.ok());
  for (int i = 0; i < 4; ++i) REQUIRE((*sink)->write_record(record(i)).ok());
  int frames = 0;
  unzstd(sb::test::read_file(path), &frames);
  CHECK(frames == 4);
  REQUIRE((*sink)->close().ok());
  CHECK(*sb::parse_sync_policy("none") == SyncPolicy::kNone);
  CHECK(*sb::parse_sync_policy("frame") == SyncPolicy::kFrame);
  CHECK(*sb::parse_sync_policy("record") == SyncPolicy::kRecord);
  CHECK_FALSE(sb::parse_sync_policy("always").ok());
}

TEST_CASE("a sink on an fd it does not own (stdout) leaves it open") {
  const std::string path = sb::test::scratch_dir("sink_fd") + "/fd.jsonl";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  auto sink = OutputSink::for_fd(fd, "stdout", OutputSinkOptions{});
  REQUIRE(sink->write_record(record(1)).ok());
  REQUIRE(sink->close().ok());
  CHECK(::write(fd, "x", 1) == 1);  // still open
  ::close(fd);
  CHECK(sb::test::read_file(path) == record(1) + "\nx");
}

TEST_CASE("writing to a full device is a clear error") {
  if (!std::filesystem::exists("/dev/full")) return;
  for (OutputCompression c : {OutputCompression::kPlain, OutputCompression::kZstd}) {
    OutputSinkOptions opt;
    opt.compression = c;
    auto sink = OutputSink::open_file("/dev/full", OpenMode::kAppend, opt);
    REQUIRE(sink.ok());
    sb::Status st = (*sink)->write_record(record(0));
    if (st.ok()) st = (*sink)->close();
    REQUIRE_FALSE(st.ok());
    CHECK(st.message().find("/dev/full") != std::string::npos);
    CHECK(st.message().find("No space left") != std::string::npos);
  }
}
