// Recursive-descent parser over jinja_lexer tokens. Expression precedence, lowest
// first: `x if c else y`, or, and, not, comparisons and (not) in, + -, ~,
// * / // %, **, unary - +, then primary with .attr [index] (call) | filter and
// `is` tests.
#include "core/chat/jinja_parser.h"

#include <initializer_list>

#include "core/chat/jinja_lexer.h"

namespace sb::jinja {
namespace {

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  StatusOr<Body> run() {
    std::string end_tag;
    SB_ASSIGN_OR_RETURN(Body body, parse_body({}, &end_tag, 1));
    return body;
  }

 private:
  // Counts nesting on the C++ stack; over kMaxParseDepth is an error.
  struct DepthGuard {
    explicit DepthGuard(int& d) : depth(d) { ++depth; }
    ~DepthGuard() { --depth; }
    int& depth;
  };

  const Token& peek(size_t ahead = 0) const {
    const size_t i = pos_ + ahead;
    return i < t_.size() ? t_[i] : t_.back();
  }
  const Token& next() {
    const Token& t = peek();
    if (pos_ < t_.size() - 1) ++pos_;
    return t;
  }
  bool is_op(std::string_view op, size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::kOp && peek(ahead).text == op;
  }
  bool is_name(std::string_view name, size_t ahead = 0) const {
    return peek(ahead).kind == TokenKind::kName && peek(ahead).text == name;
  }
  bool accept_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool accept_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
  }
  Status error(const std::string& what) const {
    return invalid_argument("line " + std::to_string(peek().line) + ": " + what);
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case TokenKind::kText: return "text";
      case TokenKind::kExprBegin: return "'{{'";
      case TokenKind::kExprEnd: return "'}}'";
      case TokenKind::kStmtBegin: return "'{%'";
      case TokenKind::kStmtEnd: return "'%}'";
      case TokenKind::kEnd: return "the end of the template";
      case TokenKind::kString: return "a string";
      default: return "'" + t.text + "'";
    }
  }
  Status expect_op(std::string_view op) {
    if (accept_op(op)) return ok_status();
    return error("expected '" + std::string(op) + "', found " + describe(peek()));
  }
  Status expect(TokenKind kind, const char* what) {
    if (peek().kind == kind) {
      next();
      return ok_status();
    }
    return error(std::string("expected ") + what + ", found " + describe(peek()));
  }
  StatusOr<std::string> expect_name() {
    if (peek().kind != TokenKind::kName) return error("expected a name, found " + describe(peek()));
    return next().text;
  }

  static ExprPtr make(ExprKind kind, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->line = line;
    return e;
  }
  static ExprPtr binary(std::string op, ExprPtr a, ExprPtr b, int line) {
    ExprPtr e = make(ExprKind::kBinary, line);
    e->name = std::move(op);
    e->args.push_back(std::move(a));
    e->args.push_back(std::move(b));
    return e;
  }

  // ------------------------------------------------------------ statements

  // Parses until one of `stops` opens a {% tag %} (its name is consumed and stored
  // in *end_tag) or, with no stops, until the end of the source.
  StatusOr<Body> parse_body(std::initializer_list<std::string_view> stops, std::string* end_tag, int open_line) {
    DepthGuard guard(depth_);
    if (depth_ > kMaxParseDepth) return error("blocks nested too deeply");
    Body body;
    while (true) {
      const Token& t = peek();
      if (t.kind == TokenKind::kEnd) {
        if (stops.size() == 0) return body;
        return invalid_argument("line " + std::to_string(open_line) + ": block is never closed (expected {% " +
                                std::string(*stops.begin()) + " %})");
      }
      if (t.kind == TokenKind::kText) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kText;
        s->line = t.line;
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.kind == TokenKind::kExprBegin) {
        auto s = std::make_unique<Stmt>();
        s->kind = StmtKind::kOutput;
        s->line = t.line;
        next();
        SB_ASSIGN_OR_RETURN(ExprPtr e, parse_expr());
        s->exprs.push_back(std::move(e));
        SB_RETURN_IF_ERROR(expect(TokenKind::kExprEnd, "'}}'"));
        body.push_back(std::move(s));
      } else if (t.kind == TokenKind::kStmtBegin) {
        const Token& tag = peek(1);
        if (tag.kind != TokenKind::kName) {
          next();
          return error("expected a tag name after '{%'");
        }
        for (std::string_view stop : stops) {
          if (tag.text == stop) {
            next();
            *end_tag = next().text;
            return body;
          }
        }
        next();
        SB_ASSIGN_OR_RETURN(StmtPtr s, parse_statement());
        body.push_back(std::move(s));
      } else {
        return error("unexpected " + describe(t));
      }
    }
  }

  StatusOr<StmtPtr> parse_statement() {
    const Token& tag = next();
    auto s = std::make_unique<Stmt>();
    s->line = tag.line;
    const std::string name = tag.text;
    if (name == "if") return parse_if(std::move(s));
    if (name == "for") return parse_for(std::move(s));
    if (name == "set") return parse_set(std::move(s));
    if (name == "macro") return parse_macro(std::move(s));
    if (name == "break" || name == "continue") {
      s->kind = name == "break" ? StmtKind::kBreak : StmtKind::kContinue;
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      return s;
    }
    if (name == "generation") {
      s->kind = StmtKind::kScope;
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      std::string end;
      SB_ASSIGN_OR_RETURN(Body body, parse_body({"endgeneration"}, &end, s->line));
      s->bodies.push_back(std::move(body));
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      return s;
    }
    return invalid_argument("line " + std::to_string(tag.line) + ": unknown or unexpected tag '" + name + "'");
  }

  StatusOr<StmtPtr> parse_if(StmtPtr s) {
    s->kind = StmtKind::kIf;
    while (true) {
      SB_ASSIGN_OR_RETURN(ExprPtr cond, parse_expr());
      s->exprs.push_back(std::move(cond));
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      std::string end;
      SB_ASSIGN_OR_RETURN(Body body, parse_body({"endif", "elif", "else"}, &end, s->line));
      s->bodies.push_back(std::move(body));
      if (end == "elif") continue;
      if (end == "else") {
        SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
        SB_ASSIGN_OR_RETURN(Body else_body, parse_body({"endif"}, &end, s->line));
        s->bodies.push_back(std::move(else_body));
      }
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      return s;
    }
  }

  StatusOr<StmtPtr> parse_for(StmtPtr s) {
    s->kind = StmtKind::kFor;
    do {
      SB_ASSIGN_OR_RETURN(std::string target, expect_name());
      s->targets.push_back(std::move(target));
    } while (accept_op(","));
    if (!accept_name("in")) return error("expected 'in' in a for loop");
    SB_ASSIGN_OR_RETURN(ExprPtr iter, parse_or());
    s->exprs.push_back(std::move(iter));
    if (accept_name("if")) {
      SB_ASSIGN_OR_RETURN(ExprPtr cond, parse_expr());
      s->exprs.push_back(std::move(cond));
    }
    if (is_name("recursive")) return error("recursive loops are not supported");
    SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
    std::string end;
    SB_ASSIGN_OR_RETURN(Body body, parse_body({"endfor", "else"}, &end, s->line));
    s->bodies.push_back(std::move(body));
    if (end == "else") {
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      SB_ASSIGN_OR_RETURN(Body else_body, parse_body({"endfor"}, &end, s->line));
      s->bodies.push_back(std::move(else_body));
    }
    SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
    return s;
  }

  StatusOr<StmtPtr> parse_set(StmtPtr s) {
    s->kind = StmtKind::kSet;
    SB_ASSIGN_OR_RETURN(std::string first, expect_name());
    s->targets.push_back(std::move(first));
    if (accept_op(".")) {
      SB_ASSIGN_OR_RETURN(std::string attr, expect_name());
      s->targets.push_back(std::move(attr));
      s->attr_target = true;
    } else {
      while (accept_op(",")) {
        SB_ASSIGN_OR_RETURN(std::string more, expect_name());
        s->targets.push_back(std::move(more));
      }
    }
    if (accept_op("=")) {
      SB_ASSIGN_OR_RETURN(ExprPtr value, parse_expr());
      s->exprs.push_back(std::move(value));
      SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
      return s;
    }
    if (s->attr_target || s->targets.size() != 1) return error("expected '=' in set");
    s->kind = StmtKind::kSetBlock;
    SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
    std::string end;
    SB_ASSIGN_OR_RETURN(Body body, parse_body({"endset"}, &end, s->line));
    s->bodies.push_back(std::move(body));
    SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
    return s;
  }

  StatusOr<StmtPtr> parse_macro(StmtPtr s) {
    s->kind = StmtKind::kMacro;
    SB_ASSIGN_OR_RETURN(std::string name, expect_name());
    s->targets.push_back(std::move(name));
    SB_RETURN_IF_ERROR(expect_op("("));
    while (!accept_op(")")) {
      if (s->targets.size() > 1) SB_RETURN_IF_ERROR(expect_op(","));
      if (accept_op(")")) break;
      SB_ASSIGN_OR_RETURN(std::string param, expect_name());
      s->targets.push_back(std::move(param));
      ExprPtr def;
      if (accept_op("=")) {
        SB_ASSIGN_OR_RETURN(def, parse_expr());
      }
      s->exprs.push_back(std::move(def));
    }
    SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
    std::string end;
    SB_ASSIGN_OR_RETURN(Body body, parse_body({"endmacro"}, &end, s->line));
    s->bodies.push_back(std::move(body));
    SB_RETURN_IF_ERROR(expect(TokenKind::kStmtEnd, "'%}'"));
    return s;
  }

  // ------------------------------------------------------------ expressions

  StatusOr<ExprPtr> parse_expr() {
    DepthGuard guard(depth_);
    if (depth_ > kMaxParseDepth) return error("expression nested too deeply");
    SB_ASSIGN_OR_RETURN(ExprPtr e, parse_or());
    while (is_name("if")) {
      const int line = next().line;
      ExprPtr c = make(ExprKind::kCond, line);
      SB_ASSIGN_OR_RETURN(ExprPtr cond, parse_or());
      ExprPtr other;
      if (accept_name("else")) {
        SB_ASSIGN_OR_RETURN(other, parse_expr());
      }
      c->args.push_back(std::move(e));
      c->args.push_back(std::move(cond));
      c->args.push_back(std::move(other));
      e = std::move(c);
    }
    return e;
  }

  StatusOr<ExprPtr> parse_or() {
    SB_ASSIGN_OR_RETURN(ExprPtr e, parse_and());
    while (is_name("or")) {
      const int line = next().line;
      SB_ASSIGN_OR_RETURN(ExprPtr r, parse_and());
      e = binary("or", std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> parse_and() {
    SB_ASSIGN_OR_RETURN(ExprPtr e, parse_not());
    while (is_name("and")) {
      const int line = next().line;
      SB_ASSIGN_OR_RETURN(ExprPtr r, parse_not());
      e = binary("and", std::move(e), std::move(r), line);
    }
    return e;
  }

  StatusOr<ExprPtr> parse_not() {
    if (is_name("not")) {
      DepthGuard guard(depth_);
      if (depth_ > kMaxParseDepth) return error("expression nested too deeply");
      ExprPtr e = make(ExprKind::kNot, next().line);
      SB_ASSIGN_OR_RETURN(ExprPtr inner, parse_not());
      e->args.push_back(std::move(inner));
      return e;
    }
    return parse_compare();
  }

  StatusOr<ExprPtr> parse_compare() {
    SB_ASSIGN_OR_RETURN(ExprPtr e, parse_math1());
    while (true) {
      std::string op;
      const int line = peek().line;
      if (peek().kind == TokenKind::kOp &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == "<=" ||
           peek().text == ">" || peek().text == ">=")) {
        op = next().text;
      } else if (accept_name("in")) {
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        next();
        next();
        op = "not in";
      } else {
        return e;
      }
      SB_ASSIGN_OR_RETURN(ExprPtr r, parse_math1());
      e = binary(op, std::move(e), std::move(r), line);
    }
  }

  // One left-associative level of binary operators over `sub`.
  template <typename Sub>
  StatusOr<ExprPtr> parse_level(std::initializer_list<std::string_view> ops, Sub sub) {
    SB_ASSIGN_OR_RETURN(ExprPtr e, (this->*sub)());
    while (true) {
      bool matched = false;
      for (std::string_view op : ops) {
        if (!is_op(op)) continue;
        const int line = next().line;
        SB_ASSIGN_OR_RETURN(ExprPtr r, (this->*sub)());
        e = binary(std::string(op), std::move(e), std::move(r), line);
        matched = true;
        break;
      }
      if (!matched) return e;
    }
  }

  StatusOr<ExprPtr> parse_math1() { return parse_level({"+", "-"}, &Parser::parse_concat); }
  StatusOr<ExprPtr> parse_concat() { return parse_level({"~"}, &Parser::parse_math2); }
  StatusOr<ExprPtr> parse_math2() { return parse_level({"*", "/", "//", "%"}, &Parser::parse_pow); }
  StatusOr<ExprPtr> parse_pow() { return parse_level({"**"}, &Parser::parse_filtered_unary); }
  StatusOr<ExprPtr> parse_filtered_unary() { return parse_unary(true); }

  StatusOr<ExprPtr> parse_unary(bool with_filters) {
    DepthGuard guard(depth_);
    if (depth_ > kMaxParseDepth) return error("expression nested too deeply");
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      SB_ASSIGN_OR_RETURN(ExprPtr inner, parse_unary(false));
      if (t.text == "-") {
        e = make(ExprKind::kNeg, t.line);
        e->args.push_back(std::move(inner));
      } else {
        e = std::move(inner);
      }
    } else {
      SB_ASSIGN_OR_RETURN(e, parse_primary());
    }
    SB_ASSIGN_OR_RETURN(e, parse_postfix(std::move(e)));
    if (!with_filters) return e;
    while (true) {
      if (is_op("|")) {
        const int line = next().line;
        ExprPtr f = make(ExprKind::kFilter, line);
        SB_ASSIGN_OR_RETURN(f->name, expect_name());
        f->args.push_back(std::move(e));
        if (accept_op("(")) SB_RETURN_IF_ERROR(parse_call_args(f.get()));
        e = std::move(f);
      } else if (is_name("is")) {
        const int line = next().line;
        ExprPtr t = make(ExprKind::kTest, line);
        t->negated = accept_name("not");
        SB_ASSIGN_OR_RETURN(t->name, expect_name());
        t->args.push_back(std::move(e));
        if (accept_op("(")) {
          SB_RETURN_IF_ERROR(parse_call_args(t.get()));
        } else if (starts_test_argument()) {
          SB_ASSIGN_OR_RETURN(ExprPtr arg, parse_unary(false));
          t->args.push_back(std::move(arg));
        }
        e = std::move(t);
      } else {
        return e;
      }
      SB_ASSIGN_OR_RETURN(e, parse_postfix(std::move(e)));
    }
  }

  // `x is divisibleby 3`: a test may take one argument without parentheses.
  bool starts_test_argument() const {
    const Token& t = peek();
    if (t.kind == TokenKind::kString || t.kind == TokenKind::kInt || t.kind == TokenKind::kFloat) return true;
    if (t.kind != TokenKind::kName) return false;
    for (std::string_view kw : {"and", "or", "not", "if", "else", "in", "is"}) {
      if (t.text == kw) return false;
    }
    return true;
  }

  // After '(' has been consumed: positional and name=value arguments, then ')'.
  Status parse_call_args(Expr* call) {
    while (!accept_op(")")) {
      if (peek().kind == TokenKind::kName && is_op("=", 1)) {
        std::string key = next().text;
        next();
        SB_ASSIGN_OR_RETURN(ExprPtr v, parse_expr());
        call->kwargs.emplace_back(std::move(key), std::move(v));
      } else {
        if (!call->kwargs.empty()) return error("positional argument after a keyword argument");
        SB_ASSIGN_OR_RETURN(ExprPtr v, parse_expr());
        call->args.push_back(std::move(v));
      }
      if (accept_op(")")) return ok_status();
      SB_RETURN_IF_ERROR(expect_op(","));
    }
    return ok_status();
  }

  StatusOr<ExprPtr> parse_postfix(ExprPtr e) {
    while (true) {
      const int line = peek().line;
      if (accept_op(".")) {
        if (peek().kind == TokenKind::kInt) {
          ExprPtr idx = make(ExprKind::kIndex, line);
          ExprPtr lit = make(ExprKind::kLiteral, line);
          lit->value = Value::integer(next().int_value);
          idx->args.push_back(std::move(e));
          idx->args.push_back(std::move(lit));
          e = std::move(idx);
          continue;
        }
        ExprPtr a = make(ExprKind::kAttr, line);
        SB_ASSIGN_OR_RETURN(a->name, expect_name());
        a->args.push_back(std::move(e));
        e = std::move(a);
      } else if (accept_op("[")) {
        SB_ASSIGN_OR_RETURN(e, parse_subscript(std::move(e), line));
      } else if (accept_op("(")) {
        ExprPtr c = make(ExprKind::kCall, line);
        c->args.push_back(std::move(e));
        SB_RETURN_IF_ERROR(parse_call_args(c.get()));
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  StatusOr<ExprPtr> parse_subscript(ExprPtr obj, int line) {
    ExprPtr start;
    if (!is_op(":")) {
      SB_ASSIGN_OR_RETURN(start, parse_expr());
      if (accept_op("]")) {
        ExprPtr idx = make(ExprKind::kIndex, line);
        idx->args.push_back(std::move(obj));
        idx->args.push_back(std::move(start));
        return idx;
      }
    }
    SB_RETURN_IF_ERROR(expect_op(":"));
    ExprPtr s = make(ExprKind::kSlice, line);
    s->args.push_back(std::move(obj));
    s->args.push_back(std::move(start));
    ExprPtr stop, step;
    if (!is_op(":") && !is_op("]")) {
      SB_ASSIGN_OR_RETURN(stop, parse_expr());
    }
    if (accept_op(":") && !is_op("]")) {
      SB_ASSIGN_OR_RETURN(step, parse_expr());
    }
    SB_RETURN_IF_ERROR(expect_op("]"));
    s->args.push_back(std::move(stop));
    s->args.push_back(std::move(step));
    return s;
  }

  StatusOr<ExprPtr> parse_primary() {
    const Token& t = peek();
    const int line = t.line;
    if (t.kind == TokenKind::kName) {
      next();
      ExprPtr e = make(ExprKind::kLiteral, line);
      if (t.text == "true" || t.text == "True") e->value = Value::boolean(true);
      else if (t.text == "false" || t.text == "False") e->value = Value::boolean(false);
      else if (t.text == "none" || t.text == "None") e->value = Value::none();
      else {
        e->kind = ExprKind::kName;
        e->name = t.text;
      }
      return e;
    }
    if (t.kind == TokenKind::kString) {
      std::string s;
      while (peek().kind == TokenKind::kString) s += next().text;  // "a" "b" concatenates
      ExprPtr e = make(ExprKind::kLiteral, line);
      e->value = Value::string(std::move(s));
      return e;
    }
    if (t.kind == TokenKind::kInt || t.kind == TokenKind::kFloat) {
      ExprPtr e = make(ExprKind::kLiteral, line);
      e->value = t.kind == TokenKind::kInt ? Value::integer(t.int_value) : Value::number(t.float_value);
      next();
      return e;
    }
    if (accept_op("(")) {
      SB_ASSIGN_OR_RETURN(ExprPtr e, parse_expr());
      if (accept_op(")")) return e;
      ExprPtr tuple = make(ExprKind::kList, line);  // tuples behave as lists
      tuple->args.push_back(std::move(e));
      while (accept_op(",")) {
        if (is_op(")")) break;
        SB_ASSIGN_OR_RETURN(ExprPtr item, parse_expr());
        tuple->args.push_back(std::move(item));
      }
      SB_RETURN_IF_ERROR(expect_op(")"));
      return tuple;
    }
    if (accept_op("[")) {
      ExprPtr e = make(ExprKind::kList, line);
      while (!accept_op("]")) {
        if (!e->args.empty()) SB_RETURN_IF_ERROR(expect_op(","));
        if (accept_op("]")) break;
        SB_ASSIGN_OR_RETURN(ExprPtr item, parse_expr());
        e->args.push_back(std::move(item));
      }
      return e;
    }
    if (accept_op("{")) {
      ExprPtr e = make(ExprKind::kDict, line);
      while (!accept_op("}")) {
        if (!e->args.empty()) SB_RETURN_IF_ERROR(expect_op(","));
        if (accept_op("}")) break;
        SB_ASSIGN_OR_RETURN(ExprPtr key, parse_expr());
        SB_RETURN_IF_ERROR(expect_op(":"));
        SB_ASSIGN_OR_RETURN(ExprPtr value, parse_expr());
        e->args.push_back(std::move(key));
        e->args.push_back(std::move(value));
      }
      return e;
    }
    return error("unexpected " + describe(t) + " in an expression");
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

StatusOr<Body> parse_template(std::string_view source) {
  SB_ASSIGN_OR_RETURN(std::vector<Token> tokens, lex(source));
  return Parser(std::move(tokens)).run();
}

}  // namespace sb::jinja
