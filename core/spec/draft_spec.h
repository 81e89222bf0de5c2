// What --draft and --spec-policy say, parsed once into typed values: the
// drafter a run speculates with (none, n-gram lookup, the target quantized, a
// separate draft model, a DSpark checkpoint) and how many of its tokens each
// step verifies. A bad value is an error naming it, found before anything loads.
#pragma once

#include <string>
#include <string_view>

#include "core/base/status.h"
#include "core/base/tensor.h"

namespace sb {

struct DraftSpec {
  enum class Kind {
    kNone,    // no drafter
    kNgram,   // "ngram" or "ngram:N": prompt/context lookup (core/spec/ngram_drafter.h)
    kSelf,    // "self:q8_0" or "self:q4_0": the target quantized at load (load_draft_model())
    kModel,   // any other value: a draft model file or directory (load_draft_model())
    kDSpark,  // "dspark:DIR": a DSpark block drafter checkpoint (core/model/dspark_model.h)
  };
  Kind kind = Kind::kNone;
  int ngram_max = 3;                // kNgram: the longest n-gram looked up, in [1, 64]
  DType self_dtype = DType::kQ8_0;  // kSelf: kQ8_0 or kQ4_0
  std::string path;                 // kModel: the model file or directory; kDSpark: the checkpoint directory
  std::string text;                 // the value as given ("" for kNone): messages, manifests, profile keys

  bool none() const { return kind == Kind::kNone; }
  // A drafter that runs a model the caller loads first (load_draft_model(), core/spec/model_drafter.h).
  bool needs_model() const { return kind == Kind::kSelf || kind == Kind::kModel; }
};

// "" is kNone. kInvalidArgument names the value and what is accepted:
// "--draft self:q2_k: expected self:q8_0 or self:q4_0". Paths are not opened here.
StatusOr<DraftSpec> parse_draft_spec(std::string_view value);

// How many draft tokens a decoding request verifies per step.
enum class SpecPolicy {
  kOff,         // none: the drafter is not run
  kFixed,       // spec_max (fewer near max_tokens, the context end or the budget)
  kConfidence,  // as DraftAdmission decides (core/spec/confidence_policy.h), at most spec_max
};

// "off", "fixed" or "confidence"; kInvalidArgument names the value otherwise.
StatusOr<SpecPolicy> parse_spec_policy(std::string_view value);
// The name parse_spec_policy() reads.
const char* spec_policy_name(SpecPolicy policy);

}  // namespace sb
