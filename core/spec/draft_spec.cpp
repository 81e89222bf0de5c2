#include "core/spec/draft_spec.h"

#include <charconv>

namespace sb {

StatusOr<DraftSpec> parse_draft_spec(std::string_view value) {
  DraftSpec d;
  d.text = std::string(value);
  const auto bad = [&](const char* expected) {
    return invalid_argument("--draft " + d.text + ": expected " + expected);
  };
  if (value.empty()) return d;
  if (value.starts_with("ngram")) {
    d.kind = DraftSpec::Kind::kNgram;
    const std::string_view rest = value.substr(5);
    if (rest.empty()) return d;
    const char* e = rest.data() + rest.size();
    const auto [end, ec] = std::from_chars(rest.data() + 1, e, d.ngram_max);
    if (rest[0] != ':' || ec != std::errc() || end != e || d.ngram_max < 1 || d.ngram_max > 64)
      return bad("ngram or ngram:N with N in [1, 64]");
    return d;
  }
  if (value.starts_with("self:")) {
    d.kind = DraftSpec::Kind::kSelf;
    const std::string_view kind = value.substr(5);
    if (kind != "q8_0" && kind != "q4_0") return bad("self:q8_0 or self:q4_0");
    d.self_dtype = kind == "q8_0" ? DType::kQ8_0 : DType::kQ4_0;
    return d;
  }
  if (value.starts_with("dspark:")) {
    d.kind = DraftSpec::Kind::kDSpark;
    d.path = std::string(value.substr(7));
    if (d.path.empty()) return bad("dspark:DIR");
    return d;
  }
  d.kind = DraftSpec::Kind::kModel;
  d.path = d.text;
  return d;
}

StatusOr<SpecPolicy> parse_spec_policy(std::string_view value) {
  for (SpecPolicy p : {SpecPolicy::kOff, SpecPolicy::kFixed, SpecPolicy::kConfidence})
    if (value == spec_policy_name(p)) return p;
  return invalid_argument("--spec-policy " + std::string(value) + ": expected confidence, fixed or off");
}

const char* spec_policy_name(SpecPolicy policy) {
  switch (policy) {
    case SpecPolicy::kOff:
      return "off";
    case SpecPolicy::kFixed:
      return "fixed";
    case SpecPolicy::kConfidence:
      return "confidence";
  }
  return "confidence";
}

}  // namespace sb
