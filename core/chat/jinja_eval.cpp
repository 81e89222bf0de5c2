// Tree-walking evaluator for the chat-template language. Statements write to the
// current sink (the output, a {% set %} block or a macro call's result); every
// step charges the Budget and nesting is bounded by RenderLimits::max_depth.
#include "core/chat/jinja_eval.h"

#include <optional>
#include <utility>
#include <vector>

namespace sb::jinja {
namespace {

Status at_line(int line, const Status& s) {
  return Status(s.code(), "line " + std::to_string(line) + ": " + s.message());
}

// What a statement asks of the enclosing loop.
enum class Flow { kNormal, kBreak, kContinue };

class Evaluator {
 public:
  explicit Evaluator(const RenderLimits& limits) : budget_(limits) {}

  StatusOr<std::string> run(const Body& body, const Dict& globals) {
    frames_.push_back(globals);
    std::string out;
    sink_ = &out;
    SB_ASSIGN_OR_RETURN(Flow flow, exec_body(body));
    (void)flow;  // break/continue outside a loop are ignored, as in Jinja's loopcontrols
    return out;
  }

 private:
  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    int& depth;
  };

  Status too_deep(int line) const {
    return invalid_argument("line " + std::to_string(line) + ": the template nests more than " +
                            std::to_string(budget_.limits().max_depth) + " levels deep (runaway recursion?)");
  }

  Value lookup(const std::string& name) const {
    for (size_t i = frames_.size(); i-- > 0;) {
      if (const Value* v = frames_[i].find(name)) return *v;
    }
    return Value();
  }

  Status emit(std::string_view text, int line) {
    sink_->append(text);
    Status s = budget_.check_size(sink_->size());
    if (s.ok()) s = budget_.charge(text.size());
    return s.ok() ? s : at_line(line, s);
  }

  // ------------------------------------------------------------ statements

  StatusOr<Flow> exec_body(const Body& body) {
    for (const StmtPtr& s : body) {
      SB_ASSIGN_OR_RETURN(Flow flow, exec(*s));
      if (flow != Flow::kNormal) return flow;
    }
    return Flow::kNormal;
  }

  StatusOr<Flow> exec(const Stmt& s) {
    DepthGuard guard(depth_);
    if (depth_ > budget_.limits().max_depth) return too_deep(s.line);
    if (Status st = budget_.charge(); !st.ok()) return at_line(s.line, st);
    switch (s.kind) {
      case StmtKind::kText: SB_RETURN_IF_ERROR(emit(s.text, s.line)); return Flow::kNormal;
      case StmtKind::kOutput: {
        SB_ASSIGN_OR_RETURN(Value v, eval(*s.exprs[0]));
        SB_RETURN_IF_ERROR(emit(v.str(), s.line));
        return Flow::kNormal;
      }
      case StmtKind::kIf:
        for (size_t i = 0; i < s.bodies.size(); ++i) {
          if (i < s.exprs.size()) {
            SB_ASSIGN_OR_RETURN(Value cond, eval(*s.exprs[i]));
            if (!cond.truthy()) continue;
          }
          return exec_body(s.bodies[i]);
        }
        return Flow::kNormal;
      case StmtKind::kFor: return exec_for(s);
      case StmtKind::kSet: SB_RETURN_IF_ERROR(exec_set(s)); return Flow::kNormal;
      case StmtKind::kSetBlock: {
        SB_ASSIGN_OR_RETURN(std::string text, capture(s.bodies[0]));
        frames_.back().set(s.targets[0], Value::string(std::move(text)));
        return Flow::kNormal;
      }
      case StmtKind::kMacro: {
        auto m = std::make_shared<Macro>();
        m->def = &s;
        frames_.back().set(s.targets[0], Value::macro(std::move(m)));
        return Flow::kNormal;
      }
      case StmtKind::kBreak: return Flow::kBreak;
      case StmtKind::kContinue: return Flow::kContinue;
      case StmtKind::kScope: return exec_body(s.bodies[0]);
    }
    return Flow::kNormal;
  }

  // Renders `body` into a string of its own (set blocks, macro calls).
  StatusOr<std::string> capture(const Body& body) {
    std::string text;
    std::string* saved = sink_;
    sink_ = &text;
    auto flow = exec_body(body);
    sink_ = saved;
    if (!flow.ok()) return flow.status();
    return text;
  }

  // Binds loop targets: one name takes the item, several unpack it.
  Status bind_targets(const Stmt& s, const Value& item, Dict& frame) {
    if (s.targets.size() == 1) {
      frame.set(s.targets[0], item);
      return ok_status();
    }
    if (!item.is_list() || item.as_list().size() != s.targets.size()) {
      return invalid_argument("line " + std::to_string(s.line) + ": cannot unpack a " + item.type_name() + " into " +
                              std::to_string(s.targets.size()) + " names");
    }
    for (size_t i = 0; i < s.targets.size(); ++i) frame.set(s.targets[i], item.as_list()[i]);
    return ok_status();
  }

  StatusOr<Flow> exec_for(const Stmt& s) {
    SB_ASSIGN_OR_RETURN(Value seq, eval(*s.exprs[0]));
    List storage;  // what is iterated unless `seq` is a list used as is
    if (!seq.is_list() || s.exprs.size() > 1) {
      auto iterated = iterate(seq);
      if (!iterated.ok()) return at_line(s.line, iterated.status());
      storage = std::move(iterated).value();
    }
    const List& items = seq.is_list() && s.exprs.size() == 1 ? seq.as_list() : storage;
    if (s.exprs.size() > 1) {  // `for x in xs if cond`: filtered before loop.* counts
      List kept;
      for (const Value& item : storage) {
        frames_.emplace_back();
        Status bound = bind_targets(s, item, frames_.back());
        auto cond = bound.ok() ? eval(*s.exprs[1]) : StatusOr<Value>(bound);
        frames_.pop_back();
        if (!cond.ok()) return cond.status();
        if (cond->truthy()) kept.push_back(item);
      }
      storage = std::move(kept);
    }
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      if (Status st = budget_.charge(); !st.ok()) return at_line(s.line, st);
      Dict loop;
      loop.items.reserve(9);
      loop.items.emplace_back("index", Value::integer(i + 1));
      loop.items.emplace_back("index0", Value::integer(i));
      loop.items.emplace_back("revindex", Value::integer(n - i));
      loop.items.emplace_back("revindex0", Value::integer(n - i - 1));
      loop.items.emplace_back("first", Value::boolean(i == 0));
      loop.items.emplace_back("last", Value::boolean(i == n - 1));
      loop.items.emplace_back("length", Value::integer(n));
      loop.items.emplace_back("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value());
      loop.items.emplace_back("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value());
      frames_.emplace_back();
      frames_.back().items.reserve(1 + s.targets.size());
      frames_.back().set("loop", Value::dict(std::move(loop)));
      Status bound = bind_targets(s, items[static_cast<size_t>(i)], frames_.back());
      auto flow = bound.ok() ? exec_body(s.bodies[0]) : StatusOr<Flow>(bound);
      frames_.pop_back();
      if (!flow.ok()) return flow.status();
      if (*flow == Flow::kBreak) break;
    }
    if (n == 0 && s.bodies.size() > 1) return exec_body(s.bodies[1]);
    return Flow::kNormal;
  }

  Status exec_set(const Stmt& s) {
    SB_ASSIGN_OR_RETURN(Value v, eval(*s.exprs[0]));
    if (s.attr_target) {
      const Value target = lookup(s.targets[0]);
      if (target.kind() != ValueKind::kNamespace) {
        return invalid_argument("line " + std::to_string(s.line) + ": cannot set an attribute of '" + s.targets[0] +
                                "', which is a " + target.type_name() + ", not a namespace()");
      }
      if (v.holds_namespace()) {
        return invalid_argument("line " + std::to_string(s.line) + ": a namespace cannot be stored in a namespace");
      }
      target.namespace_dict().set(s.targets[1], std::move(v));
      return ok_status();
    }
    if (s.targets.size() == 1) {
      frames_.back().set(s.targets[0], std::move(v));
      return ok_status();
    }
    return bind_targets(s, v, frames_.back());
  }

  // ------------------------------------------------------------ expressions

  StatusOr<Value> eval(const Expr& e) {
    DepthGuard guard(depth_);
    if (depth_ > budget_.limits().max_depth) return too_deep(e.line);
    SB_ASSIGN_OR_RETURN(Value v, eval_inner(e));
    if (v.depth() > budget_.limits().max_value_depth) {
      return invalid_argument("line " + std::to_string(e.line) + ": a value nests more than " +
                              std::to_string(budget_.limits().max_value_depth) + " lists or dicts deep");
    }
    return v;
  }

  StatusOr<std::optional<int64_t>> optional_int(const Expr* e) {
    if (!e) return std::optional<int64_t>();
    SB_ASSIGN_OR_RETURN(Value v, eval(*e));
    if (v.is_none()) return std::optional<int64_t>();
    if (!v.is_int()) return invalid_argument("line " + std::to_string(e->line) + ": slice indexes must be integers");
    return std::optional<int64_t>(v.as_int());
  }

  StatusOr<CallArgs> eval_args(const Expr& e, size_t first) {
    CallArgs a;
    for (size_t i = first; i < e.args.size(); ++i) {
      SB_ASSIGN_OR_RETURN(Value v, eval(*e.args[i]));
      a.args.push_back(std::move(v));
    }
    for (const auto& [k, x] : e.kwargs) {
      SB_ASSIGN_OR_RETURN(Value v, eval(*x));
      a.kwargs.emplace_back(k, std::move(v));
    }
    return a;
  }

  // Undefined values may be printed, tested and iterated, but not looked into.
  Status check_defined(const Value& v, const Expr& of, const Expr& e) const {
    if (!v.is_undefined()) return ok_status();
    const std::string what = of.kind == ExprKind::kName ? "'" + of.name + "' is undefined" : "the value is undefined";
    return invalid_argument("line " + std::to_string(e.line) + ": " + what);
  }

  StatusOr<Value> eval_inner(const Expr& e) {
    const auto wrap = [&](StatusOr<Value> r) -> StatusOr<Value> {
      if (!r.ok()) return at_line(e.line, r.status());
      return r;
    };
    switch (e.kind) {
      case ExprKind::kLiteral: return e.value;
      case ExprKind::kName: return lookup(e.name);
      case ExprKind::kList: {
        List items;
        for (const ExprPtr& x : e.args) {
          SB_ASSIGN_OR_RETURN(Value v, eval(*x));
          items.push_back(std::move(v));
        }
        return Value::list(std::move(items));
      }
      case ExprKind::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          SB_ASSIGN_OR_RETURN(Value k, eval(*e.args[i]));
          if (!k.is_string()) return wrap(invalid_argument("dict keys must be strings"));
          SB_ASSIGN_OR_RETURN(Value v, eval(*e.args[i + 1]));
          d.set(k.as_string(), std::move(v));
        }
        return Value::dict(std::move(d));
      }
      case ExprKind::kAttr: {
        SB_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
        SB_RETURN_IF_ERROR(check_defined(obj, *e.args[0], e));
        return subscript(obj, Value::string(e.name));
      }
      case ExprKind::kIndex: {
        SB_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
        SB_RETURN_IF_ERROR(check_defined(obj, *e.args[0], e));
        SB_ASSIGN_OR_RETURN(Value key, eval(*e.args[1]));
        return subscript(obj, key);
      }
      case ExprKind::kSlice: {
        SB_ASSIGN_OR_RETURN(Value obj, eval(*e.args[0]));
        SB_RETURN_IF_ERROR(check_defined(obj, *e.args[0], e));
        SB_ASSIGN_OR_RETURN(auto start, optional_int(e.args[1].get()));
        SB_ASSIGN_OR_RETURN(auto stop, optional_int(e.args[2].get()));
        SB_ASSIGN_OR_RETURN(auto step, optional_int(e.args[3].get()));
        return wrap(slice(obj, start, stop, step));
      }
      case ExprKind::kCall: return eval_call(e);
      case ExprKind::kFilter: {
        SB_ASSIGN_OR_RETURN(Value input, eval(*e.args[0]));
        SB_ASSIGN_OR_RETURN(CallArgs a, eval_args(e, 1));
        return wrap(apply_filter(e.name, input, a, budget_));
      }
      case ExprKind::kTest: {
        SB_ASSIGN_OR_RETURN(Value input, eval(*e.args[0]));
        SB_ASSIGN_OR_RETURN(CallArgs a, eval_args(e, 1));
        auto r = apply_test(e.name, input, a);
        if (!r.ok()) return at_line(e.line, r.status());
        return Value::boolean(*r != e.negated);
      }
      case ExprKind::kNot: {
        SB_ASSIGN_OR_RETURN(Value v, eval(*e.args[0]));
        return Value::boolean(!v.truthy());
      }
      case ExprKind::kNeg: {
        SB_ASSIGN_OR_RETURN(Value v, eval(*e.args[0]));
        return wrap(binary_op("-", Value::integer(0), v, budget_));
      }
      case ExprKind::kBinary: {
        SB_ASSIGN_OR_RETURN(Value a, eval(*e.args[0]));
        if (e.name == "and" && !a.truthy()) return a;
        if (e.name == "or" && a.truthy()) return a;
        SB_ASSIGN_OR_RETURN(Value b, eval(*e.args[1]));
        if (e.name == "and" || e.name == "or") return b;
        if ((a.is_undefined() || b.is_undefined()) && e.name != "~" && e.name != "==" && e.name != "!=" &&
            e.name != "in" && e.name != "not in") {
          return check_defined(Value(), a.is_undefined() ? *e.args[0] : *e.args[1], e);
        }
        return wrap(binary_op(e.name, a, b, budget_));
      }
      case ExprKind::kCond: {
        SB_ASSIGN_OR_RETURN(Value cond, eval(*e.args[1]));
        if (cond.truthy()) return eval(*e.args[0]);
        if (e.args[2]) return eval(*e.args[2]);
        return Value();
      }
    }
    return Value();
  }

  StatusOr<Value> eval_call(const Expr& e) {
    const Expr& callee = *e.args[0];
    SB_ASSIGN_OR_RETURN(CallArgs a, eval_args(e, 1));
    if (callee.kind == ExprKind::kAttr) {  // obj.method(...) or a macro stored in a mapping
      SB_ASSIGN_OR_RETURN(Value obj, eval(*callee.args[0]));
      SB_RETURN_IF_ERROR(check_defined(obj, *callee.args[0], e));
      if (has_method(obj, callee.name)) {
        auto r = call_method(obj, callee.name, a, budget_);
        if (!r.ok()) return at_line(e.line, r.status());
        return r;
      }
      const Value fn = subscript(obj, Value::string(callee.name));
      if (fn.kind() == ValueKind::kMacro) return call_macro(*fn.as_macro(), a, e.line);
      return invalid_argument("line " + std::to_string(e.line) + ": a " + obj.type_name() + " has no method '" +
                              callee.name + "'");
    }
    if (callee.kind == ExprKind::kName) {
      const Value fn = lookup(callee.name);
      if (fn.kind() == ValueKind::kMacro) return call_macro(*fn.as_macro(), a, e.line);
      if (fn.is_undefined() && callee.name == "raise_exception") {
        const std::string msg = a.args.empty() ? std::string("(no message)") : a.args[0].str();
        return invalid_argument("line " + std::to_string(e.line) + ": raise_exception: " + msg);
      }
      if (fn.is_undefined() && is_global_function(callee.name)) {
        auto r = call_global(callee.name, a, budget_);
        if (!r.ok()) return at_line(e.line, r.status());
        return r;
      }
      if (fn.is_undefined()) return check_defined(fn, callee, e);
      return invalid_argument("line " + std::to_string(e.line) + ": '" + callee.name + "' is a " + fn.type_name() +
                              ", not a macro or function");
    }
    SB_ASSIGN_OR_RETURN(Value fn, eval(callee));
    if (fn.kind() == ValueKind::kMacro) return call_macro(*fn.as_macro(), a, e.line);
    return invalid_argument("line " + std::to_string(e.line) + ": a " + fn.type_name() + " cannot be called");
  }

  // A macro sees the template's top-level variables and its own parameters.
  StatusOr<Value> call_macro(const Macro& m, const CallArgs& a, int line) {
    const Stmt& def = *m.def;
    const size_t n_params = def.targets.size() - 1;
    if (a.args.size() > n_params) {
      return invalid_argument("line " + std::to_string(line) + ": macro '" + def.targets[0] + "' takes " +
                              std::to_string(n_params) + " arguments, got " + std::to_string(a.args.size()));
    }
    if (Status st = budget_.charge(); !st.ok()) return at_line(line, st);
    std::vector<Dict> saved;
    saved.push_back(frames_.front());
    saved.emplace_back();
    std::swap(saved, frames_);  // frames_ = {globals, parameters}; saved = the caller's
    Status bound;
    for (size_t i = 0; i < n_params && bound.ok(); ++i) {
      const std::string& param = def.targets[i + 1];
      Value v;
      bool given = false;
      if (i < a.args.size()) {
        v = a.args[i];
        given = true;
      }
      for (const auto& [k, x] : a.kwargs) {
        if (k == param) {
          v = x;
          given = true;
        }
      }
      if (!given && def.exprs[i]) {
        auto d = eval(*def.exprs[i]);
        if (!d.ok()) bound = d.status();
        else v = std::move(d).value();
      }
      frames_.back().set(param, std::move(v));
    }
    StatusOr<std::string> text = bound.ok() ? capture(def.bodies[0]) : StatusOr<std::string>(bound);
    std::swap(saved, frames_);
    if (!text.ok()) return text.status();
    return Value::string(std::move(text).value());
  }

  std::vector<Dict> frames_;  // [0] = globals; one more per loop iteration / macro call
  std::string* sink_ = nullptr;
  Budget budget_;
  int depth_ = 0;
};

}  // namespace

StatusOr<std::string> render(const Body& body, const Dict& globals, const RenderLimits& limits) {
  return Evaluator(limits).run(body, globals);
}

}  // namespace sb::jinja
