// Manifest: JSON round trip, atomic write, differences listed key by key with the
// file's path; fingerprints: FNV-1a vectors, first/last MiB, directories.
#include <doctest/doctest.h>

#include <filesystem>

#include "formats/fingerprint.h"
#include "formats/manifest.h"
#include "test_util.h"

using sb::Manifest;

TEST_CASE("fnv1a64 matches the published vectors") {
  CHECK(sb::fnv1a64("") == 0xcbf29ce484222325ull);
  CHECK(sb::fnv1a64("a") == 0xaf63dc4c8601ec8cull);
  CHECK(sb::fnv1a64("foobar") == 0x85944171f73967e8ull);
  CHECK(sb::fnv1a64("bar", sb::fnv1a64("foo")) == sb::fnv1a64("foobar"));
}

TEST_CASE("file fingerprints see size, head and tail; not the middle of big files") {
  const std::string dir = sb::test::scratch_dir("fingerprint");
  const std::string big(3u << 20, 'x');
  sb::test::write_file(dir + "/a", big);
  auto a = sb::fingerprint_path(dir + "/a");
  REQUIRE(a.ok());
  CHECK(a->size == big.size());
  CHECK(a->hex().size() == 16);
  std::string changed = big;
  changed[big.size() / 2] = 'y';  // the middle MiB is not hashed
  sb::test::write_file(dir + "/a", changed);
  CHECK(sb::fingerprint_path(dir + "/a")->hash == a->hash);
  changed[big.size() - 1] = 'y';  // the last MiB is
  sb::test::write_file(dir + "/a", changed);
  CHECK(sb::fingerprint_path(dir + "/a")->hash != a->hash);
  sb::test::write_file(dir + "/a", big + "z");
  CHECK(sb::fingerprint_path(dir + "/a")->hash != a->hash);

  std::filesystem::create_directories(dir + "/model");
  sb::test::write_file(dir + "/model/config.json", "{}");
  sb::test::write_file(dir + "/model/model.safetensors", "weights");
  auto d = sb::fingerprint_path(dir + "/model");
  REQUIRE(d.ok());
  CHECK(d->size == 9);
  sb::test::write_file(dir + "/model/config.json", "[]");
  CHECK(sb::fingerprint_path(dir + "/model")->hash != d->hash);
  CHECK_FALSE(sb::fingerprint_path(dir + "/missing").ok());
}

TEST_CASE("manifest round-trips through its JSON file, written atomically") {
  const std::string dir = sb::test::scratch_dir("manifest_rt");
  sb::test::write_file(dir + "/in.jsonl", "{\"prompt\":\"x\"}\n");
  Manifest m;
  REQUIRE(m.add_inputs({dir + "/in.jsonl", "-"}).ok());
  m.set("max_tokens", "64");
  m.set("stop", "[\"\\n\"]");
  m.set("max_tokens", "32");  // set replaces
  m.set_info("input_records", "10");
  const std::string path = sb::manifest_path_for(dir + "/out.jsonl");
  CHECK(path == dir + "/out.jsonl.manifest.json");
  REQUIRE(sb::write_manifest(path, m).ok());
  for (const auto& e : std::filesystem::directory_iterator(dir))  // no temporary left behind
    CHECK(e.path().filename().string().find(".tmp") == std::string::npos);
  auto back = sb::read_manifest(path);
  REQUIRE(back.ok());
  CHECK(back->fingerprint() == m.fingerprint());
  CHECK(back->info() == m.info());
  CHECK(back->get("max_tokens") == "32");
  CHECK(back->get("input.1.hash") == "stdin");
  CHECK(back->get_info("input.0.path") == dir + "/in.jsonl");
  CHECK(sb::manifest_differences(m, *back).empty());

  CHECK_FALSE(Manifest::parse("{", "x").ok());
  CHECK_FALSE(Manifest::parse("{\"specbatch_manifest\":2,\"fingerprint\":{},\"info\":{}}", "x").ok());
  CHECK_FALSE(Manifest::parse("{\"specbatch_manifest\":1,\"fingerprint\":{\"a\":1},\"info\":{}}", "x").ok());
  CHECK_FALSE(Manifest::parse("[1]", "x").ok());
}

TEST_CASE("a manifest with a key twice is refused, not read as its last value (issue 22, item 9)") {
  const auto error = [](std::string_view json) {
    auto m = Manifest::parse(json, "m.json");
    REQUIRE_FALSE(m.ok());
    return m.status().message();
  };
  CHECK(error(R"({"specbatch_manifest":1,"fingerprint":{"max_tokens":"8","max_tokens":"9"},"info":{}})") ==
        "m.json: key \"max_tokens\" appears twice in \"fingerprint\"");
  CHECK(error(R"({"specbatch_manifest":1,"fingerprint":{},"info":{"complete":"false","complete":"true"}})") ==
        "m.json: key \"complete\" appears twice in \"info\"");
  CHECK(error(R"({"specbatch_manifest":1,"fingerprint":{"a":"1"},"fingerprint":{"a":"2"},"info":{}})") ==
        "m.json: key \"fingerprint\" appears twice");
  CHECK(Manifest::parse(R"({"specbatch_manifest":1,"fingerprint":{"a":"1","b":"1"},"info":{"a":"2"}})", "m").ok());
}

TEST_CASE("manifest differences name each changed key, the file, and both values") {
  const std::string dir = sb::test::scratch_dir("manifest_diff");
  sb::test::write_file(dir + "/a.jsonl", "{\"prompt\":\"a\"}\n");
  Manifest before;
  REQUIRE(before.add_inputs({dir + "/a.jsonl"}).ok());
  before.set("max_tokens", "64");
  before.set("seed", "1");
  before.set("shard", "0/2");
  sb::test::write_file(dir + "/a.jsonl", "{\"prompt\":\"b\"}\n");
  Manifest now;
  REQUIRE(now.add_inputs({dir + "/a.jsonl"}).ok());
  now.set("max_tokens", "32");
  now.set("shard", "1/2");
  now.set("temperature", "0");
  const std::vector<std::string> diff = sb::manifest_differences(before, now);
  REQUIRE(diff.size() == 5);
  CHECK(diff[0].find("input.0.hash (" + dir + "/a.jsonl): ") == 0);
  CHECK(diff[1] == "max_tokens: 64 before, 32 now");
  CHECK(diff[2] == "seed: 1 before, not set now");
  CHECK(diff[3] == "shard: 0/2 before, 1/2 now");
  CHECK(diff[4] == "temperature: not set before, 0 now");
  CHECK(sb::manifest_differences(before, now, {"shard", "seed", "temperature", "max_tokens", "input.0.hash"}).empty());
}
