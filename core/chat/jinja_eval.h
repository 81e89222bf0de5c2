// Evaluator of parsed chat templates: renders a syntax tree against global
// variables within RenderLimits. Jinja2 scoping: a for-loop iteration and a macro
// call get their own scope (hence namespace()); if-blocks do not. No file,
// network or clock access. Every error is a Status naming the template line.
#pragma once

#include <string>

#include "core/base/status.h"
#include "core/chat/jinja_builtins.h"
#include "core/chat/jinja_parser.h"
#include "core/chat/jinja_value.h"

namespace sb::jinja {

// A macro value points into the syntax tree it was defined in, which outlives
// every render of it.
struct Macro {
  const Stmt* def = nullptr;
};

StatusOr<std::string> render(const Body& body, const Dict& globals, const RenderLimits& limits);

}  // namespace sb::jinja
