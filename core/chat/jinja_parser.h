// Syntax tree and parser of the chat-template language (a Jinja2 subset: output,
// if/elif/else, for with else and an `if` filter, set (plain, tuple, attribute
// and block forms), macro, break/continue, generation; Jinja's expression grammar
// and precedence). Nesting deeper than kMaxParseDepth is an error, not a crash.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/base/status.h"
#include "core/chat/jinja_value.h"

namespace sb::jinja {

inline constexpr int kMaxParseDepth = 128;

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

enum class ExprKind {
  kLiteral,  // value
  kName,     // name
  kList,     // args: elements
  kDict,     // args: key0, value0, key1, value1, ...
  kAttr,     // args[0].name
  kIndex,    // args[0][args[1]]
  kSlice,    // args[0][args[1]:args[2]:args[3]], absent parts are null
  kCall,     // args[0](args[1..], kwargs)
  kFilter,   // args[0] | name(args[1..], kwargs)
  kTest,     // args[0] is [not] name(args[1..])
  kNot,      // not args[0]
  kNeg,      // -args[0]
  kBinary,   // args[0] name args[1]; name is the operator ("+", "and", "not in", ...)
  kCond,     // args[0] if args[1] else args[2] (args[2] may be null)
};

struct Expr {
  ExprKind kind = ExprKind::kLiteral;
  int line = 0;
  Value value;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;  // kTest: `is not`
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class StmtKind {
  kText,      // text
  kOutput,    // {{ exprs[0] }}
  kIf,        // exprs[i] guards bodies[i]; bodies may have one more: the else
  kFor,       // for targets in exprs[0] [if exprs[1]]: bodies[0], else bodies[1]
  kSet,       // targets = exprs[0]; attr_target: targets = {namespace, attribute}
  kSetBlock,  // targets[0] = rendered bodies[0]
  kMacro,     // macro targets[0](targets[1..] = exprs[i] or null): bodies[0]
  kBreak,
  kContinue,
  kScope,     // bodies[0] rendered as is ({% generation %})
};

struct Stmt {
  StmtKind kind = StmtKind::kText;
  int line = 0;
  std::string text;
  std::vector<ExprPtr> exprs;
  std::vector<Body> bodies;
  std::vector<std::string> targets;
  bool attr_target = false;
};

// Parses template source; errors name the line ("line 3: expected '%}' ...").
StatusOr<Body> parse_template(std::string_view source);

}  // namespace sb::jinja
