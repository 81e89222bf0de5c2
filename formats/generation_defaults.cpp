#include "formats/generation_defaults.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "formats/gguf.h"
#include "formats/hf_config.h"

namespace sb {

namespace {

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// Range checks, naming the field as the file spells it.
Status check(const GenerationDefaults& d, const char* temperature, const char* top_p, const char* min_p,
             const char* penalty, const char* max_tokens) {
  const auto bad = [&d](const char* field, const std::string& v, const char* rule) {
    return corrupt(d.source + ": " + field + " " + v + " is not " + rule +
                   " (--generation-config ignore runs without the model's sampling defaults)");
  };
  if (d.temperature && !(std::isfinite(*d.temperature) && *d.temperature >= 0))
    return bad(temperature, number(*d.temperature), "a temperature >= 0");
  if (d.top_p && !(*d.top_p > 0 && *d.top_p <= 1)) return bad(top_p, number(*d.top_p), "in (0, 1]");
  if (d.min_p && !(*d.min_p >= 0 && *d.min_p <= 1)) return bad(min_p, number(*d.min_p), "in [0, 1]");
  if (d.repetition_penalty && !(std::isfinite(*d.repetition_penalty) && *d.repetition_penalty > 0))
    return bad(penalty, number(*d.repetition_penalty), "a penalty > 0");
  if (d.max_tokens && *d.max_tokens < 1) return bad(max_tokens, std::to_string(*d.max_tokens), "at least 1");
  return ok_status();
}

StatusOr<GenerationDefaults> from_hf(const std::string& dir) {
  GenerationDefaults d;
  const std::string path = (std::filesystem::path(dir) / "generation_config.json").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return d;
  SB_ASSIGN_OR_RETURN(const std::string text, hf::read_text_file(path));
  SB_ASSIGN_OR_RETURN(const hf::GenerationSampling g, hf::parse_generation_sampling(text, path));
  d.source = path;
  d.temperature = g.temperature;
  d.top_p = g.top_p;
  if (g.top_k) d.top_k = std::max<int64_t>(*g.top_k, 0);
  d.min_p = g.min_p;
  d.repetition_penalty = g.repetition_penalty;
  d.max_tokens = g.max_new_tokens;
  SB_RETURN_IF_ERROR(check(d, "temperature", "top_p", "min_p", "repetition_penalty", "max_new_tokens"));
  return d;
}

StatusOr<GenerationDefaults> from_gguf(const std::string& path) {
  GenerationDefaults d;
  auto file = gguf::File::open(path);
  if (!file.ok()) return d;  // not a GGUF the loader can read: its error comes from loading
  const gguf::File& f = *file;
  d.source = path;
  const auto real = [&f](const char* key, std::optional<double>* out) -> Status {
    if (f.find(key) == nullptr) return ok_status();
    SB_ASSIGN_OR_RETURN(*out, f.get_float(key));
    return ok_status();
  };
  SB_RETURN_IF_ERROR(real("general.sampling.temp", &d.temperature));
  SB_RETURN_IF_ERROR(real("general.sampling.top_p", &d.top_p));
  SB_RETURN_IF_ERROR(real("general.sampling.min_p", &d.min_p));
  SB_RETURN_IF_ERROR(real("general.sampling.penalty_repeat", &d.repetition_penalty));
  if (f.find("general.sampling.top_k") != nullptr) {
    SB_ASSIGN_OR_RETURN(const int64_t k, f.get_int("general.sampling.top_k"));
    d.top_k = std::max<int64_t>(k, 0);
  }
  SB_RETURN_IF_ERROR(check(d, "general.sampling.temp", "general.sampling.top_p", "general.sampling.min_p",
                           "general.sampling.penalty_repeat", "max_tokens"));
  if (d.empty()) d.source.clear();
  return d;
}

}  // namespace

std::string GenerationDefaults::describe() const {
  std::string out;
  const auto add = [&out](const char* name, const std::string& v) {
    out += (out.empty() ? "" : ", ") + std::string(name) + " " + v;
  };
  if (temperature) add("temperature", number(*temperature));
  if (top_p) add("top_p", number(*top_p));
  if (top_k) add("top_k", std::to_string(*top_k));
  if (min_p) add("min_p", number(*min_p));
  if (repetition_penalty) add("repetition_penalty", number(*repetition_penalty));
  if (max_tokens) add("max_tokens", std::to_string(*max_tokens));
  return out.empty() ? "none" : out;
}

StatusOr<GenerationDefaults> read_generation_defaults(const std::string& model_path) {
  std::error_code ec;
  if (std::filesystem::is_directory(model_path, ec)) return from_hf(model_path);
  return from_gguf(model_path);
}

}  // namespace sb
