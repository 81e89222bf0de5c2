// Output manifests: parsed or refused; a parsed one writes back to JSON that
// parses to the same manifest.
#include "formats/manifest.h"
#include "fuzz/fuzz_targets.h"
#include "fuzz/fuzz_util.h"

namespace sb::fuzz {

int manifest(const uint8_t* data, size_t size) {
  auto m = Manifest::parse(as_text(data, size), "out.jsonl.manifest.json");
  if (!m.ok()) return 0;
  auto back = Manifest::parse(m->to_json(), "written");
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(back->fingerprint() == m->fingerprint() && back->info() == m->info(), "the manifest round-trips");
  FUZZ_CHECK(manifest_differences(*m, *back).empty(), "no differences with itself");
  return 0;
}

}  // namespace sb::fuzz
