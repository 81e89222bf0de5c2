#include "formats/spec_profile.h"

#include <simdjson.h>

#include <cmath>
#include <cstdint>

#include "formats/json_writer.h"

namespace sb {

std::string spec_profile_to_json(const SpecProfile& p) {
  JsonWriter w;
  w.begin_object().key("specbatch_spec_profile").value(2);
  w.key("model_size").value(p.key.model_size).key("model_hash").value(p.key.model_hash);
  w.key("model_shape").value(p.key.model_shape).key("backend").value(p.key.backend);
  w.key("threads").value(p.key.threads).key("max_batch_tokens").value(p.key.max_batch_tokens);
  w.key("kv_block_size").value(p.key.kv_block_size).key("draft").value(p.key.draft);
  for (const auto& [name, points] : {std::pair{"step_seconds", &p.step_seconds}, {"draft_pass_seconds", &p.draft_pass_seconds}}) {
    w.key(name).begin_array();
    for (const auto& [tokens, seconds] : *points) w.begin_array().value(tokens).value(seconds).end_array();
    w.end_array();
  }
  w.end_object();
  return w.take() + "\n";
}

StatusOr<SpecProfile> parse_spec_profile(std::string_view json, const std::string& what) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size(), true).get(doc) != simdjson::SUCCESS)
    return corrupt(what + ": not valid JSON (a --spec-profile file; delete it to profile again)");
  const auto bad = [&what](const char* field, const char* want) {
    return corrupt(what + ": field '" + field + "' " + want + " (a --spec-profile file; delete it to profile again)");
  };
  int64_t version = 0;
  if (doc["specbatch_spec_profile"].get_int64().get(version) != simdjson::SUCCESS || version != 2)
    return bad("specbatch_spec_profile", "must be 2");
  SpecProfile p;
  const auto get_string = [&](const char* field, std::string* out) {
    std::string_view s;
    if (doc[field].get_string().get(s) != simdjson::SUCCESS) return bad(field, "must be a string");
    out->assign(s);
    return ok_status();
  };
  const auto get_int = [&](const char* field, int64_t lo, int64_t hi, int64_t* out) {
    if (doc[field].get_int64().get(*out) != simdjson::SUCCESS || *out < lo || *out > hi)
      return bad(field, ("must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi)).c_str());
    return ok_status();
  };
  int64_t size = 0, threads = 0, tokens = 0, block = 0;
  SB_RETURN_IF_ERROR(get_int("model_size", 0, INT64_MAX, &size));
  SB_RETURN_IF_ERROR(get_string("model_hash", &p.key.model_hash));
  SB_RETURN_IF_ERROR(get_string("model_shape", &p.key.model_shape));
  SB_RETURN_IF_ERROR(get_string("backend", &p.key.backend));
  SB_RETURN_IF_ERROR(get_int("threads", 1, 1 << 16, &threads));
  SB_RETURN_IF_ERROR(get_int("max_batch_tokens", 1, INT32_MAX, &tokens));
  SB_RETURN_IF_ERROR(get_int("kv_block_size", 1, INT32_MAX, &block));
  SB_RETURN_IF_ERROR(get_string("draft", &p.key.draft));
  p.key.model_size = static_cast<uint64_t>(size);
  p.key.threads = static_cast<int>(threads);
  p.key.max_batch_tokens = static_cast<int>(tokens);
  p.key.kv_block_size = static_cast<int>(block);
  const auto get_points = [&](const char* field, bool may_be_empty, std::vector<std::pair<int, double>>* out) {
    const char* want = "must hold [tokens, seconds] pairs with tokens increasing from >= 1 and seconds > 0";
    simdjson::dom::array points;
    if (doc[field].get_array().get(points) != simdjson::SUCCESS || (points.size() == 0 && !may_be_empty))
      return bad(field, want);
    for (simdjson::dom::element e : points) {
      simdjson::dom::array pair;
      int64_t n = 0;
      double s = 0;
      if (e.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2 || pair.at(0).get_int64().get(n) ||
          pair.at(1).get_double().get(s) || n < 1 || n > INT32_MAX || !(s > 0) || !std::isfinite(s) ||
          (!out->empty() && n <= out->back().first))
        return bad(field, want);
      out->emplace_back(static_cast<int>(n), s);
    }
    return ok_status();
  };
  SB_RETURN_IF_ERROR(get_points("step_seconds", false, &p.step_seconds));
  SB_RETURN_IF_ERROR(get_points("draft_pass_seconds", true, &p.draft_pass_seconds));
  return p;
}

std::vector<std::string> spec_profile_key_differences(const SpecProfileKey& f, const SpecProfileKey& now) {
  std::vector<std::string> out;
  const auto cmp = [&out](const char* field, const std::string& a, const std::string& b) {
    if (a != b) out.push_back(std::string(field) + " (" + a + " in the file, " + b + " now)");
  };
  cmp("model_size", std::to_string(f.model_size), std::to_string(now.model_size));
  cmp("model_hash", f.model_hash, now.model_hash);
  cmp("model_shape", f.model_shape, now.model_shape);
  cmp("backend", f.backend, now.backend);
  cmp("threads", std::to_string(f.threads), std::to_string(now.threads));
  cmp("max_batch_tokens", std::to_string(f.max_batch_tokens), std::to_string(now.max_batch_tokens));
  cmp("kv_block_size", std::to_string(f.kv_block_size), std::to_string(now.kv_block_size));
  cmp("draft", f.draft, now.draft);
  return out;
}

}  // namespace sb
