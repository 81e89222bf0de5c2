// The field policy table (formats/request_fields.h) against the man page's
// FIELD POLICY table: the same fields, each with the same policy and neutral value.
#include <doctest/doctest.h>

#include <string>

#include "formats/request_fields.h"
#include "test_util.h"

namespace {

// The troff spelling of a table cell ('-' is "\-").
std::string troff(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '-' ? std::string("\\-") : std::string(1, c);
  return out;
}

}  // namespace

TEST_CASE("field policy: the code table and the man page table agree, row for row") {
  const std::string man = sb::test::read_file(std::string(SPECBATCH_SOURCE_DIR) + "/man/specbatch.1");
  const size_t section = man.find("\n.SH FIELD POLICY\n");
  REQUIRE(section != std::string::npos);
  const size_t begin = man.find("\n.sp\n", section);
  const size_t end = man.find("\n.TE\n", section);
  REQUIRE(begin < end);
  const std::string table = man.substr(begin, end - begin + 1);
  size_t rows = 0;
  for (size_t at = table.find('\n'); at + 1 < table.size(); at = table.find('\n', at + 1)) {
    const size_t tab = table.find('\t', at + 1);
    const size_t eol = table.find('\n', at + 1);
    rows += tab < eol && table.compare(at + 1, 2, "T}") != 0;
  }
  const auto fields = sb::request_fields();
  CHECK(rows == fields.size());
  std::string_view previous;
  for (const sb::RequestField& f : fields) {
    CAPTURE(f.name);
    CHECK(previous < f.name);  // sorted: find_request_field() searches by halves
    previous = f.name;
    CHECK(sb::find_request_field(f.name) == &f);
    std::string row = "\n";
    row.append(f.name).append("\t").append(sb::field_policy_name(f.policy)).append("\t");
    const size_t at = table.find(row);
    REQUIRE(at != std::string::npos);
    const std::string cell = table.substr(at + row.size(), table.find("\nT}", at + 1) - at - row.size());
    if (f.policy == sb::FieldPolicy::kHonoured) CHECK(f.neutral.empty());
    if (!f.neutral.empty()) CHECK(cell.find(std::string("accepted when ").append(troff(f.neutral))) != std::string::npos);
  }
  CHECK(sb::find_request_field("meta") == nullptr);
}
