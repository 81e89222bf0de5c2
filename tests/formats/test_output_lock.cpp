// One writer per output: the output lock refuses a second holder at once and is
// released with its holder; temporaries beside a file are unique per writer and
// vanish unless committed.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <optional>

#include "formats/output_lock.h"
#include "formats/small_file.h"
#include "test_util.h"

TEST_CASE("OutputLock: one holder at a time; creates a missing file and says so") {
  const std::string path = sb::test::scratch_dir("output_lock") + "/out.jsonl";
  std::optional<sb::OutputLock> first;
  {
    auto a = sb::OutputLock::acquire(path);
    REQUIRE(a.ok());
    CHECK(a->created());
    first = std::move(a).value();
  }
  CHECK(std::filesystem::exists(path));
  auto second = sb::OutputLock::acquire(path);  // another open file description: refused like another process
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().message() == path + ": another specbatch run is writing this output (it holds the file's "
                                            "lock); wait for it to end, or write to another file");
  first.reset();
  auto third = sb::OutputLock::acquire(path);
  REQUIRE(third.ok());
  CHECK_FALSE(third->created());
  CHECK_FALSE(sb::OutputLock::acquire(sb::test::scratch_dir("output_lock") + "/no/such/dir/out").ok());
}

TEST_CASE("TempFile: unique names beside the target; committed replaces it, dropped leaves nothing") {
  const std::string dir = sb::test::scratch_dir("temp_file");
  const std::string target = dir + "/m.json";
  sb::test::write_file(target, "old");
  auto a = sb::TempFile::create_beside(target);
  auto b = sb::TempFile::create_beside(target);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->name() != b->name());
  CHECK(a->name().rfind(target + ".tmp.", 0) == 0);
  REQUIRE(::write(a->fd(), "new", 3) == 3);
  REQUIRE(a->commit().ok());
  CHECK(sb::test::read_file(target) == "new");
  const std::string dropped = b->name();
  CHECK(std::filesystem::exists(dropped));
  b = sb::TempFile();
  CHECK_FALSE(std::filesystem::exists(dropped));
  REQUIRE(sb::write_file_atomically(target, "atomic").ok());
  CHECK(sb::test::read_file(target) == "atomic");
  int n_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) n_files += e.is_regular_file();
  CHECK(n_files == 1);
}
