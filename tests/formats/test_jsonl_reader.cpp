// JSONL reader: blank lines, CRLF, a last line without newline, several files
// with one running index, zstd (multi-frame, truncated, corrupt) and tiny chunk
// sizes so that lines and frames straddle every buffer boundary.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "formats/jsonl_reader.h"
#include "formats/zstd_test_util.h"
#include "test_util.h"

namespace {

using sb::test::zstd_frame;

struct Line {
  uint64_t index;
  std::string text;
  uint64_t line_no;
};

std::vector<Line> read_all(const std::vector<std::string>& paths, size_t chunk = size_t{1} << 20,
                           sb::Status* status = nullptr) {
  sb::JsonlReaderOptions opt;
  opt.chunk_bytes = chunk;
  auto reader = sb::JsonlReader::open(paths, opt);
  REQUIRE(reader.ok());
  std::vector<Line> out;
  sb::JsonlLine line;
  for (;;) {
    auto more = (*reader)->next(&line);
    if (!more.ok()) {
      if (status != nullptr) *status = more.status();
      return out;
    }
    if (!*more) break;
    out.push_back({line.index, std::string(line.text), line.line_no});
  }
  if (status != nullptr) *status = sb::ok_status();
  return out;
}

}  // namespace

TEST_CASE("blank lines are skipped and do not count; CRLF and a missing final newline") {
  const std::string dir = sb::test::scratch_dir("jsonl_basic");
  const std::string path = dir + "/a.jsonl";
  sb::test::write_file(path, "\xEF\xBB\xBF{\"a\":1}\n\n  \t\n{\"b\":2}\r\n\r\n{\"c\":3}");
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{1} << 20}) {
    CAPTURE(chunk);
    const std::vector<Line> lines = read_all({path}, chunk);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].text == "{\"a\":1}");
    CHECK(lines[1].text == "{\"b\":2}");
    CHECK(lines[2].text == "{\"c\":3}");
    CHECK(lines[0].index == 0);
    CHECK(lines[2].index == 2);
    CHECK(lines[0].line_no == 1);
    CHECK(lines[1].line_no == 4);
    CHECK(lines[2].line_no == 6);
  }
}

TEST_CASE("several files: one running index, line numbers per file, empty files") {
  const std::string dir = sb::test::scratch_dir("jsonl_multi");
  sb::test::write_file(dir + "/1.jsonl", "one\ntwo\n");
  sb::test::write_file(dir + "/2.jsonl", "");
  sb::test::write_file(dir + "/3.jsonl", "\nthree\n\nfour");
  const std::vector<Line> lines = read_all({dir + "/1.jsonl", dir + "/2.jsonl", dir + "/3.jsonl"}, 3);
  REQUIRE(lines.size() == 4);
  for (uint64_t i = 0; i < 4; ++i) CHECK(lines[i].index == i);
  CHECK(lines[2].text == "three");
  CHECK(lines[2].line_no == 2);
  CHECK(lines[3].text == "four");
}

TEST_CASE("missing inputs and directories fail before reading") {
  const std::string dir = sb::test::scratch_dir("jsonl_missing");
  sb::test::write_file(dir + "/ok.jsonl", "x\n");
  auto r = sb::JsonlReader::open({dir + "/ok.jsonl", dir + "/nope.jsonl"});
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("nope.jsonl") != std::string::npos);
  auto d = sb::JsonlReader::open({dir});
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().message().find("directory") != std::string::npos);
}

TEST_CASE("zstd input: several frames, lines across frame and chunk boundaries") {
  const std::string dir = sb::test::scratch_dir("jsonl_zstd");
  std::string plain;
  for (int i = 0; i < 3001; ++i) {
    plain += "{\"prompt\":\"record " + std::to_string(i) + "\"}\n";
    if (i % 97 == 0) plain += "\n";  // blank lines in between
  }
  // Split at an odd place so a line straddles the two frames.
  const size_t cut = plain.size() / 3 + 5;
  const std::string zst = zstd_frame(plain.substr(0, cut)) + zstd_frame(plain.substr(cut), 19);
  sb::test::write_file(dir + "/p.jsonl.zst", zst);
  sb::test::write_file(dir + "/p.jsonl", plain);
  const std::vector<Line> expect = read_all({dir + "/p.jsonl"});
  REQUIRE(expect.size() == 3001);
  for (size_t chunk : {size_t{13}, size_t{4096}, size_t{1} << 20}) {
    CAPTURE(chunk);
    sb::Status st;
    const std::vector<Line> got = read_all({dir + "/p.jsonl.zst", dir + "/p.jsonl"}, chunk, &st);
    REQUIRE(st.ok());
    REQUIRE(got.size() == 6002);
    for (size_t i = 0; i < got.size(); ++i) {
      CHECK(got[i].index == i);
      CHECK(got[i].text == expect[i % 3001].text);
    }
  }
  // The magic number decides, not the name.
  sb::test::write_file(dir + "/unnamed.jsonl", zst);
  CHECK(read_all({dir + "/unnamed.jsonl"}).size() == 3001);
}

TEST_CASE("truncated and corrupt zstd streams are errors naming the file") {
  const std::string dir = sb::test::scratch_dir("jsonl_zstd_bad");
  std::string plain;
  for (int i = 0; i < 500; ++i) plain += "{\"prompt\":\"line " + std::to_string(i * 7919) + "\"}\n";
  const std::string zst = zstd_frame(plain);

  sb::test::write_file(dir + "/cut.jsonl.zst", zst.substr(0, zst.size() - 5));
  sb::Status st;
  read_all({dir + "/cut.jsonl.zst"}, 64, &st);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("cut.jsonl.zst") != std::string::npos);
  CHECK(st.message().find("zstd") != std::string::npos);

  std::string bad = zst;
  for (size_t i = 20; i < 60 && i < bad.size(); ++i) bad[i] = static_cast<char>(bad[i] ^ 0x5A);
  sb::test::write_file(dir + "/bad.jsonl.zst", bad);
  read_all({dir + "/bad.jsonl.zst"}, 64, &st);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("bad.jsonl.zst") != std::string::npos);

  sb::test::write_file(dir + "/plain.jsonl.zst", plain);
  read_all({dir + "/plain.jsonl.zst"}, 64, &st);
  REQUIRE_FALSE(st.ok());
  CHECK(st.message().find("not a zstd stream") != std::string::npos);
}

// A copy of `frame` with one byte flipped such that zstd decodes it but the content
// checksum fails (damage found only at the frame's end): the case of issue 22, item 7.
static std::string damage_content(const std::string& frame) {
  std::string out(ZSTD_getFrameContentSize(frame.data(), frame.size()), '\0');
  for (size_t at = frame.size() / 2; at < frame.size() - 4; ++at) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = frame;
      bad[at] = static_cast<char>(bad[at] ^ (1 << bit));
      const size_t n = ZSTD_decompress(out.data(), out.size(), bad.data(), bad.size());
      if (ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_checksum_wrong) return bad;
    }
  }
  FAIL("no byte of the frame damages only its content");
  return frame;
}

TEST_CASE("a damaged zstd frame yields none of its lines; earlier frames all of theirs (issue 22, item 7)") {
  const std::string dir = sb::test::scratch_dir("jsonl_zstd_verify");
  std::string first, second;
  for (int i = 0; i < 6000; ++i)
    (i < 1000 ? first : second) += "{\"prompt\":\"line " + std::to_string(i * 7919 % 10007) + "\"}\n";
  const std::string good = zstd_frame(first), bad = damage_content(zstd_frame(second));
  sb::test::write_file(dir + "/one.jsonl.zst", bad);
  sb::test::write_file(dir + "/two.jsonl.zst", good + bad);
  for (size_t chunk : {size_t{13}, size_t{4096}, size_t{1} << 20}) {
    CAPTURE(chunk);
    sb::Status st;
    CHECK(read_all({dir + "/one.jsonl.zst"}, chunk, &st).empty());
    REQUIRE_FALSE(st.ok());
    CHECK(st.message() == dir + "/one.jsonl.zst: corrupt zstd data: Restored data doesn't match checksum (the zstd "
                                "frame starting at byte 0); records before it were read, none from it");
    CHECK(read_all({dir + "/two.jsonl.zst"}, chunk, &st).size() == 1000);
    CHECK(st.message().find("frame starting at byte " + std::to_string(good.size()) + ")") != std::string::npos);
  }
  // From a pipe (no pread): the frame is held while it is checked, with the same outcome.
  const std::string fifo = dir + "/pipe";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::thread writer([&] {
    std::ofstream(fifo, std::ios::binary) << good << bad;
  });
  sb::Status st;
  CHECK(read_all({fifo}, 4096, &st).size() == 1000);
  writer.join();
  CHECK(st.message().find("checksum (the zstd frame starting at byte " + std::to_string(good.size())) !=
        std::string::npos);
}

TEST_CASE("a line longer than max_line_bytes is an error, not unbounded memory") {
  const std::string dir = sb::test::scratch_dir("jsonl_long");
  sb::test::write_file(dir + "/long.jsonl", "short\n" + std::string(5000, 'x') + "\nafter\n");
  sb::JsonlReaderOptions opt;
  opt.chunk_bytes = 256;
  opt.max_line_bytes = 1000;
  auto reader = sb::JsonlReader::open({dir + "/long.jsonl"}, opt);
  REQUIRE(reader.ok());
  sb::JsonlLine line;
  auto first = (*reader)->next(&line);
  REQUIRE(first.ok());
  CHECK(line.text == "short");
  auto second = (*reader)->next(&line);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message().find("long.jsonl:2") != std::string::npos);
}

TEST_CASE("count_records agrees with the reader; zstd and stdin are not counted; fraction_read ends at 1") {
  const std::string dir = sb::test::scratch_dir("jsonl_count");
  std::mt19937 rng(5);
  const std::vector<std::string> pieces = {"{\"p\":1}", " ", "\t", "\r", "\n", "\r\n", "x", "\xEF\xBB\xBF", "  {}"};
  for (int round = 0; round < 40; ++round) {
    std::vector<std::string> paths;
    for (int f = 0; f < 1 + round % 3; ++f) {
      std::string text;
      for (int i = 0, n = static_cast<int>(rng() % 60); i < n; ++i) text += pieces[rng() % pieces.size()];
      paths.push_back(dir + "/in" + std::to_string(f) + ".jsonl");
      sb::test::write_file(paths.back(), text);
    }
    auto counted = sb::count_records(paths);
    REQUIRE(counted.ok());
    REQUIRE(counted->has_value());
    CHECK(**counted == read_all(paths, 7).size());
  }
  sb::test::write_file(dir + "/z.jsonl.zst", zstd_frame("{\"p\":1}\n"));
  CHECK(sb::count_records({dir + "/in0.jsonl", dir + "/z.jsonl.zst"})->has_value() == false);
  CHECK(sb::count_records({"-"})->has_value() == false);
  CHECK_FALSE(sb::count_records({dir + "/missing.jsonl"}).ok());

  auto reader = sb::JsonlReader::open({dir + "/in0.jsonl", dir + "/z.jsonl.zst"});
  REQUIRE(reader.ok());
  CHECK((*reader)->fraction_read() == 0.0);
  sb::JsonlLine line;
  while ((*reader)->next(&line).value()) {
  }
  CHECK((*reader)->fraction_read() == 1.0);
  auto piped = sb::JsonlReader::open({"-"});
  REQUIRE(piped.ok());
  CHECK_FALSE((*piped)->fraction_read().has_value());
}
