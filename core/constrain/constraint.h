// A request's output constraint as a record states it (formats/constraint_spec.h)
// compiled to one grammar, with
// the token tables that grammar has over the model's vocabulary. Compiled
// constraints are cached by their text, so the records of a run that share a
// schema share the grammar and the tables filled in as they generate.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/base/status.h"
#include "core/constrain/grammar.h"
#include "core/constrain/json_check.h"
#include "core/constrain/token_tables.h"
#include "core/constrain/vocabulary.h"
#include "formats/constraint_spec.h"

namespace sb::constrain {

using sb::ConstraintKind;
using sb::ConstraintSpec;

StatusOr<Grammar> compile_constraint(const ConstraintSpec& spec, const GrammarLimits& limits = {});

// A compiled constraint over one vocabulary.
struct Constraint {
  ConstraintSpec spec;
  std::shared_ptr<TokenTables> tables;
  std::optional<JsonValue> schema;  // kJsonSchema: what a finished output is checked against
  // Checks a finished output that the grammar accepted: json_schema outputs are
  // parsed and validated (a failure is a bug in the grammar); other kinds pass.
  Status check_output(std::string_view text) const;
};

// Compiles each distinct spec once and keeps the most recently used ones.
class ConstraintCache {
 public:
  ConstraintCache(std::shared_ptr<const Vocabulary> vocabulary, size_t capacity = 64);
  StatusOr<std::shared_ptr<const Constraint>> get(const ConstraintSpec& spec);
  const Vocabulary& vocabulary() const { return *vocab_; }

 private:
  std::shared_ptr<const Vocabulary> vocab_;
  size_t capacity_;
  std::list<std::pair<std::string, std::shared_ptr<const Constraint>>> lru_;  // most recent first
  std::unordered_map<std::string, decltype(lru_)::iterator> index_;
};

}  // namespace sb::constrain
