// The one automaton form every constraint compiles to: a pushdown automaton over
// bytes, written as rules (a recursive transition network). Each rule is a DFA
// whose edges read one byte of a range or call another rule, which returns to
// the edge's target; a final node may end its rule. A text matches when the
// root rule, started with an empty stack, ends exactly where the text ends.
// GrammarBuilder makes one from expressions (what the regex, GBNF, choice and
// JSON-schema front ends produce): every rule is determinised, whatever can
// never complete is trimmed away, and left recursion is refused (a run would
// push calls forever without reading a byte).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/status.h"
#include "core/constrain/charset.h"

namespace sb::constrain {

struct ByteEdge {
  uint8_t lo = 0, hi = 0;  // bytes lo..hi
  int32_t target = 0;
};

struct CallEdge {
  int32_t rule = 0;
  int32_t target = 0;  // where the call returns to
};

struct GrammarNode {
  int32_t bytes_begin = 0, bytes_end = 0;  // Grammar::byte_edges: sorted by lo, disjoint
  int32_t calls_begin = 0, calls_end = 0;  // Grammar::call_edges
  bool final = false;                      // the rule may end here
};

struct Grammar {
  std::vector<GrammarNode> nodes;      // every rule's nodes
  std::vector<ByteEdge> byte_edges;
  std::vector<CallEdge> call_edges;
  std::vector<int32_t> rule_start;     // [n_rules] each rule's first node
  std::vector<std::string> rule_names; // [n_rules] for messages
  int32_t root = 0;

  std::span<const ByteEdge> bytes_of(int32_t node) const {
    const GrammarNode& n = nodes[static_cast<size_t>(node)];
    return {byte_edges.data() + n.bytes_begin, static_cast<size_t>(n.bytes_end - n.bytes_begin)};
  }
  std::span<const CallEdge> calls_of(int32_t node) const {
    const GrammarNode& n = nodes[static_cast<size_t>(node)];
    return {call_edges.data() + n.calls_begin, static_cast<size_t>(n.calls_end - n.calls_begin)};
  }
  // The node `node` moves to on byte b, or -1.
  int32_t step(int32_t node, uint8_t b) const {
    for (const ByteEdge& e : bytes_of(node))
      if (b >= e.lo && b <= e.hi) return e.target;
    return -1;
  }
};

using ExprId = int32_t;
constexpr int kUnbounded = -1;  // repeat()'s max: no upper bound

// Caps on what one grammar may grow to, so a hostile schema or pattern is an
// error rather than an exhausted machine.
struct GrammarLimits {
  int max_nfa_states = 2'000'000;
  int max_nodes = 200'000;
  int64_t max_subset_states = 20'000'000;  // NFA states summed over all the DFA nodes' subsets
};

class GrammarBuilder {
 public:
  ExprId empty();                            // the empty text
  ExprId byte_range(uint8_t lo, uint8_t hi);  // one byte
  ExprId literal(std::string_view bytes);
  ExprId chars(const CharSet& set);           // one character of set, as UTF-8
  ExprId seq(std::vector<ExprId> items);
  ExprId alt(std::vector<ExprId> items);      // no items: matches nothing
  ExprId repeat(ExprId item, int min, int max);  // max >= min, or kUnbounded
  ExprId optional(ExprId item) { return repeat(item, 0, 1); }
  ExprId ref(int32_t rule);

  // Rules are declared, then defined (so they can refer to each other).
  int32_t add_rule(std::string name);
  void define(int32_t rule, ExprId body);
  bool defined(int32_t rule) const { return rules_[static_cast<size_t>(rule)].body >= 0; }

  // Every rule reachable from root must be defined. Errors: the root matches no
  // text, left recursion (naming a rule on the cycle), a limit exceeded.
  StatusOr<Grammar> build(int32_t root, const GrammarLimits& limits = {}) const;

 private:
  friend class NfaEmitter;
  enum class Kind : uint8_t { kEmpty, kBytes, kSeq, kAlt, kRepeat, kRef };
  struct Expr {
    explicit Expr(Kind k) : kind(k) {}
    Kind kind;
    uint8_t lo = 0, hi = 0;  // kBytes
    int32_t a = 0, b = 0;    // kRepeat: min, max; kRef: rule
    std::vector<ExprId> items;
  };
  struct Rule {
    std::string name;
    ExprId body = -1;
  };
  ExprId add(Expr e);

  std::vector<Expr> exprs_;
  std::vector<Rule> rules_;
};

}  // namespace sb::constrain
