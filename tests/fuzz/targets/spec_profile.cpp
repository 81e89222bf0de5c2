// --spec-profile files: parsed or refused; a parsed one writes back to JSON that
// parses to the same profile.
#include "formats/spec_profile.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int spec_profile(const uint8_t* data, size_t size) {
  auto p = parse_spec_profile(as_text(data, size), "profile.json");
  if (!p.ok()) return 0;
  const std::string json = spec_profile_to_json(*p);
  auto back = parse_spec_profile(json, "written");
  FUZZ_CHECK(back.ok(), back.status().message() + "\n" + json);
  FUZZ_CHECK(back->step_seconds == p->step_seconds && back->draft_pass_seconds == p->draft_pass_seconds &&
                 spec_profile_key_differences(back->key, p->key).empty(),
             "the profile round-trips: " + json);
  return 0;
}

}  // namespace sb::fuzz
