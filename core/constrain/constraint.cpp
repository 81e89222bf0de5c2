#include "core/constrain/constraint.h"

#include "core/constrain/gbnf.h"
#include "core/constrain/json_schema.h"
#include "core/constrain/regex.h"

namespace sb::constrain {

namespace {

StatusOr<Grammar> regex_grammar(const std::string& pattern, const GrammarLimits& limits) {
  GrammarBuilder b;
  const int32_t root = b.add_rule("root");
  SB_ASSIGN_OR_RETURN(ExprId e, regex_expr(pattern, RegexMatch::kFull, b));
  b.define(root, e);
  return b.build(root, limits);
}

StatusOr<Grammar> choice_grammar(const std::vector<std::string>& choices, const GrammarLimits& limits) {
  if (choices.empty()) return invalid_argument("the list of choices is empty");
  GrammarBuilder b;
  const int32_t root = b.add_rule("root");
  std::vector<ExprId> alts;
  for (const std::string& c : choices) alts.push_back(b.literal(c));
  b.define(root, b.alt(std::move(alts)));
  return b.build(root, limits);
}

}  // namespace

namespace {

StatusOr<Grammar> compile_kind(const ConstraintSpec& spec, const GrammarLimits& limits) {
  switch (spec.kind) {
    case ConstraintKind::kNone:
      break;
    case ConstraintKind::kJsonObject:
      return json_object_grammar();
    case ConstraintKind::kJsonSchema: {
      auto schema = jinja::parse_json(spec.text);
      if (!schema.ok()) return invalid_argument("schema: " + schema.status().message());
      return compile_json_schema(*schema, limits);
    }
    case ConstraintKind::kRegex:
      return regex_grammar(spec.text, limits);
    case ConstraintKind::kChoice:
      return choice_grammar(spec.choices, limits);
    case ConstraintKind::kGrammar:
      return compile_gbnf(spec.text, limits);
  }
  return invalid_argument("plain text (response_format \"text\") compiles to no constraint");
}

}  // namespace

StatusOr<Grammar> compile_constraint(const ConstraintSpec& spec, const GrammarLimits& limits) {
  auto g = compile_kind(spec, limits);
  if (!g.ok() && !spec.field.empty()) return g.status().with_context(spec.field);
  return g;
}

Status Constraint::check_output(std::string_view text) const {
  if (!schema) return ok_status();
  return check_json_text(*schema, text);
}

ConstraintCache::ConstraintCache(std::shared_ptr<const Vocabulary> vocabulary, size_t capacity)
    : vocab_(std::move(vocabulary)), capacity_(std::max<size_t>(capacity, 1)) {}

StatusOr<std::shared_ptr<const Constraint>> ConstraintCache::get(const ConstraintSpec& spec) {
  std::string key = constraint_kind_name(spec.kind);
  key += '\n' + std::to_string(spec.text.size()) + '\n' + spec.text;
  for (const std::string& c : spec.choices) key += '\n' + std::to_string(c.size()) + '\n' + c;
  if (auto it = index_.find(key); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  SB_ASSIGN_OR_RETURN(Grammar g, compile_constraint(spec));
  auto c = std::make_shared<Constraint>();
  c->spec = spec;
  c->tables = std::make_shared<TokenTables>(std::make_shared<const Grammar>(std::move(g)), vocab_);
  if (spec.kind == ConstraintKind::kJsonSchema) c->schema = jinja::parse_json(spec.text).value();
  lru_.emplace_front(std::move(key), c);
  index_[lru_.front().first] = lru_.begin();
  if (lru_.size() > capacity_) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return std::shared_ptr<const Constraint>(c);
}

}  // namespace sb::constrain
