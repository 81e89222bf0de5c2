#include "core/constrain/grammar.h"

#include <algorithm>
#include <map>
#include <utility>

namespace sb::constrain {

// --- expressions -------------------------------------------------------------

ExprId GrammarBuilder::add(Expr e) {
  exprs_.push_back(std::move(e));
  return static_cast<ExprId>(exprs_.size() - 1);
}

ExprId GrammarBuilder::empty() { return add(Expr{Kind::kEmpty}); }

ExprId GrammarBuilder::byte_range(uint8_t lo, uint8_t hi) {
  Expr e{Kind::kBytes};
  e.lo = lo;
  e.hi = hi;
  return add(std::move(e));
}

ExprId GrammarBuilder::literal(std::string_view bytes) {
  std::vector<ExprId> items;
  for (char c : bytes) items.push_back(byte_range(static_cast<uint8_t>(c), static_cast<uint8_t>(c)));
  return seq(std::move(items));
}

ExprId GrammarBuilder::chars(const CharSet& set) {
  std::vector<ExprId> alts;
  for (const ByteRangeSeq& s : utf8_sequences(set)) {
    std::vector<ExprId> bytes;
    for (auto [lo, hi] : s) bytes.push_back(byte_range(lo, hi));
    alts.push_back(seq(std::move(bytes)));
  }
  return alt(std::move(alts));
}

ExprId GrammarBuilder::seq(std::vector<ExprId> items) {
  if (items.size() == 1) return items[0];
  Expr e{Kind::kSeq};
  e.items = std::move(items);
  return add(std::move(e));
}

ExprId GrammarBuilder::alt(std::vector<ExprId> items) {
  if (items.size() == 1) return items[0];
  Expr e{Kind::kAlt};
  e.items = std::move(items);
  return add(std::move(e));
}

ExprId GrammarBuilder::repeat(ExprId item, int min, int max) {
  SB_CHECK(min >= 0 && (max == kUnbounded || max >= min));
  Expr e{Kind::kRepeat};
  e.a = min;
  e.b = max;
  e.items = {item};
  return add(std::move(e));
}

ExprId GrammarBuilder::ref(int32_t rule) {
  Expr e{Kind::kRef};
  e.a = rule;
  return add(std::move(e));
}

int32_t GrammarBuilder::add_rule(std::string name) {
  rules_.push_back({std::move(name), -1});
  return static_cast<int32_t>(rules_.size() - 1);
}

void GrammarBuilder::define(int32_t rule, ExprId body) { rules_[static_cast<size_t>(rule)].body = body; }

// --- expressions to an NFA (Thompson) ------------------------------------------

namespace {
struct NfaState {
  std::vector<ByteEdge> bytes;
  std::vector<CallEdge> calls;
  std::vector<int32_t> eps;
};
}  // namespace

class NfaEmitter {
 public:
  NfaEmitter(const GrammarBuilder& b, int max_states) : b_(b), max_states_(max_states) {}

  bool overflow() const { return overflow_; }
  std::vector<NfaState>& states() { return states_; }
  void clear() { states_.clear(); }

  int32_t new_state() {
    if (static_cast<int>(states_.size()) >= max_states_) {
      overflow_ = true;
      return 0;
    }
    states_.emplace_back();
    return static_cast<int32_t>(states_.size() - 1);
  }

  // Emits e starting at state `from`; returns the state where it ends.
  int32_t emit(ExprId id, int32_t from) {
    if (overflow_) return from;
    const GrammarBuilder::Expr& e = b_.exprs_[static_cast<size_t>(id)];
    using Kind = GrammarBuilder::Kind;
    switch (e.kind) {
      case Kind::kEmpty:
        return from;
      case Kind::kBytes: {
        const int32_t to = new_state();
        if (!overflow_) states_[static_cast<size_t>(from)].bytes.push_back({e.lo, e.hi, to});
        return to;
      }
      case Kind::kRef: {
        const int32_t to = new_state();
        if (!overflow_) states_[static_cast<size_t>(from)].calls.push_back({e.a, to});
        return to;
      }
      case Kind::kSeq: {
        int32_t at = from;
        for (ExprId item : e.items) at = emit(item, at);
        return at;
      }
      case Kind::kAlt: {
        const int32_t to = new_state();
        for (ExprId item : e.items) {
          const int32_t s = new_state();
          if (overflow_) return from;
          states_[static_cast<size_t>(from)].eps.push_back(s);
          const int32_t end = emit(item, s);
          if (overflow_) return from;
          states_[static_cast<size_t>(end)].eps.push_back(to);
        }
        return to;
      }
      case Kind::kRepeat:
        return emit_repeat(e.items[0], e.a, e.b, from);
    }
    return from;
  }

 private:
  int32_t emit_repeat(ExprId item, int min, int max, int32_t from) {
    int32_t at = from;
    for (int i = 0; i < min && !overflow_; ++i) at = fresh(item, at);
    if (max == kUnbounded) {
      const int32_t loop = new_state();
      if (overflow_) return from;
      states_[static_cast<size_t>(at)].eps.push_back(loop);
      const int32_t end = fresh(item, loop);
      if (overflow_) return from;
      states_[static_cast<size_t>(end)].eps.push_back(loop);
      return loop;
    }
    const int32_t to = new_state();
    for (int i = min; i < max && !overflow_; ++i) {
      states_[static_cast<size_t>(at)].eps.push_back(to);
      at = fresh(item, at);
    }
    if (overflow_) return from;
    states_[static_cast<size_t>(at)].eps.push_back(to);
    return to;
  }

  // Emits item from a new state entered by an epsilon edge, so a loop back to
  // that state never re-enters anything emitted before it.
  int32_t fresh(ExprId item, int32_t from) {
    const int32_t s = new_state();
    if (overflow_) return from;
    states_[static_cast<size_t>(from)].eps.push_back(s);
    return emit(item, s);
  }

  const GrammarBuilder& b_;
  int max_states_;
  bool overflow_ = false;
  std::vector<NfaState> states_;
};

// --- NFA to DFA, one rule at a time -------------------------------------------

namespace {

// The classes of the n nodes [base, base + n) of one rule's DFA that accept the
// same symbol strings (Hopcroft's partition refinement). Symbols are the byte
// classes no edge boundary splits and the called rules; a missing edge leads to
// an extra dead state. Class ids are arbitrary, below n + 1.
std::vector<int32_t> equivalence_classes(const Grammar& g, int32_t base, size_t n) {
  std::vector<int> bounds{0, 256};
  std::vector<int32_t> rules;
  for (size_t i = 0; i < n; ++i) {
    for (const ByteEdge& e : g.bytes_of(base + static_cast<int32_t>(i))) bounds.insert(bounds.end(), {e.lo, e.hi + 1});
    for (const CallEdge& e : g.calls_of(base + static_cast<int32_t>(i))) rules.push_back(e.rule);
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  std::sort(rules.begin(), rules.end());
  rules.erase(std::unique(rules.begin(), rules.end()), rules.end());
  const size_t n_bytes = bounds.size() - 1, n_sym = n_bytes + rules.size(), n_states = n + 1;
  const int32_t dead = static_cast<int32_t>(n);
  auto index_of = [](const auto& v, int x) { return static_cast<size_t>(std::lower_bound(v.begin(), v.end(), x) - v.begin()); };
  std::vector<int32_t> delta(n_states * n_sym, dead);
  for (size_t i = 0; i < n; ++i) {
    for (const ByteEdge& e : g.bytes_of(base + static_cast<int32_t>(i)))
      for (size_t c = index_of(bounds, e.lo); c < index_of(bounds, e.hi + 1); ++c) delta[i * n_sym + c] = e.target - base;
    for (const CallEdge& e : g.calls_of(base + static_cast<int32_t>(i)))
      delta[i * n_sym + n_bytes + index_of(rules, e.rule)] = e.target - base;
  }
  // Sources of each (symbol, target), CSR.
  std::vector<int32_t> inv_begin(n_sym * n_states + 1, 0), inv(n_states * n_sym);
  for (size_t q = 0; q < n_states; ++q)
    for (size_t c = 0; c < n_sym; ++c) ++inv_begin[c * n_states + static_cast<size_t>(delta[q * n_sym + c]) + 1];
  for (size_t k = 1; k < inv_begin.size(); ++k) inv_begin[k] += inv_begin[k - 1];
  {
    std::vector<int32_t> fill(inv_begin.begin(), inv_begin.end() - 1);
    for (size_t q = 0; q < n_states; ++q)
      for (size_t c = 0; c < n_sym; ++c)
        inv[static_cast<size_t>(fill[c * n_states + static_cast<size_t>(delta[q * n_sym + c])]++)] =
            static_cast<int32_t>(q);
  }
  // Blocks are runs of elems_; a block's marked members sit at its front.
  std::vector<int32_t> elems(n_states), loc(n_states), block(n_states);
  std::vector<int32_t> first, end, marked;
  std::vector<char> in_work;
  std::vector<int32_t> work, touched, splitter;
  size_t k = 0;
  for (int final = 1; final >= 0; --final) {
    const size_t from = k;
    for (size_t q = 0; q < n_states; ++q)
      if ((q < n && g.nodes[static_cast<size_t>(base) + q].final) == (final == 1)) {
        elems[k] = static_cast<int32_t>(q);
        loc[q] = static_cast<int32_t>(k++);
        block[q] = static_cast<int32_t>(first.size());
      }
    if (k == from) continue;
    first.push_back(static_cast<int32_t>(from));
    end.push_back(static_cast<int32_t>(k));
    marked.push_back(0);
    in_work.push_back(0);
  }
  if (first.size() == 2) {
    const int32_t smaller = end[0] - first[0] <= end[1] - first[1] ? 0 : 1;
    work.push_back(smaller);
    in_work[static_cast<size_t>(smaller)] = 1;
  }
  auto mark = [&](int32_t q) {
    const size_t b = static_cast<size_t>(block[static_cast<size_t>(q)]);
    const int32_t pos = loc[static_cast<size_t>(q)], mpos = first[b] + marked[b];
    if (pos < mpos) return;  // already marked
    if (marked[b] == 0) touched.push_back(static_cast<int32_t>(b));
    const int32_t other = elems[static_cast<size_t>(mpos)];
    std::swap(elems[static_cast<size_t>(pos)], elems[static_cast<size_t>(mpos)]);
    loc[static_cast<size_t>(other)] = pos;
    loc[static_cast<size_t>(q)] = mpos;
    ++marked[b];
  };
  auto split = [&](int32_t b) {
    const size_t bi = static_cast<size_t>(b);
    const int32_t m = marked[bi], size = end[bi] - first[bi];
    marked[bi] = 0;
    if (m == size) return;
    const int32_t nb = static_cast<int32_t>(first.size());
    first.push_back(first[bi]);
    end.push_back(first[bi] + m);
    marked.push_back(0);
    first[bi] += m;
    for (int32_t i = first[static_cast<size_t>(nb)]; i < end[static_cast<size_t>(nb)]; ++i)
      block[static_cast<size_t>(elems[static_cast<size_t>(i)])] = nb;
    const int32_t add = in_work[bi] || m <= size - m ? nb : b;
    in_work.push_back(0);
    if (!in_work[static_cast<size_t>(add)]) {
      in_work[static_cast<size_t>(add)] = 1;
      work.push_back(add);
    }
  };
  while (!work.empty()) {
    const size_t a = static_cast<size_t>(work.back());
    work.pop_back();
    in_work[a] = 0;
    splitter.assign(elems.begin() + first[a], elems.begin() + end[a]);
    for (size_t c = 0; c < n_sym; ++c) {
      touched.clear();
      for (int32_t q : splitter)
        for (int32_t i = inv_begin[c * n_states + static_cast<size_t>(q)];
             i < inv_begin[c * n_states + static_cast<size_t>(q) + 1]; ++i)
          mark(inv[static_cast<size_t>(i)]);
      for (int32_t b : touched) split(b);
    }
  }
  block.resize(n);
  return block;
}

class Determinizer {
 public:
  Determinizer(const std::vector<NfaState>& nfa, Grammar* g, const GrammarLimits& limits)
      : nfa_(nfa), g_(g), limits_(limits), stamp_(nfa.size(), 0) {}

  // Appends the DFA of the NFA from `start` (accepting at `accept`) to g; returns
  // its start node, or -1 when a limit is exceeded.
  int32_t run(int32_t start, int32_t accept) {
    accept_ = accept;
    base_ = static_cast<int32_t>(g_->nodes.size());
    const size_t bytes_base = g_->byte_edges.size(), calls_base = g_->call_edges.size();
    ids_.clear();
    sets_.clear();
    std::vector<int32_t> s{start};
    closure(&s);
    intern(std::move(s));
    for (size_t k = 0; k < sets_.size(); ++k) {
      if (static_cast<int>(g_->nodes.size()) >= limits_.max_nodes || subset_states_ > limits_.max_subset_states)
        return -1;
      expand(k);
    }
    minimize(bytes_base, calls_base);
    return base_;
  }

 private:
  void closure(std::vector<int32_t>* set) {
    ++epoch_;
    std::vector<int32_t> stack = *set;
    set->clear();
    while (!stack.empty()) {
      const int32_t s = stack.back();
      stack.pop_back();
      if (stamp_[static_cast<size_t>(s)] == epoch_) continue;
      stamp_[static_cast<size_t>(s)] = epoch_;
      set->push_back(s);
      for (int32_t t : nfa_[static_cast<size_t>(s)].eps) stack.push_back(t);
    }
    std::sort(set->begin(), set->end());
  }

  int32_t intern(std::vector<int32_t> set) {
    auto [it, added] = ids_.try_emplace(std::move(set), base_ + static_cast<int32_t>(sets_.size()));
    if (added) {
      sets_.push_back(&it->first);
      subset_states_ += static_cast<int64_t>(it->first.size());
    }
    return it->second;
  }

  int32_t target_of(std::vector<int32_t> targets) {
    closure(&targets);
    return intern(std::move(targets));
  }

  void expand(size_t k) {
    const std::vector<int32_t>& members = *sets_[k];
    GrammarNode node;
    node.final = std::binary_search(members.begin(), members.end(), accept_);
    node.bytes_begin = static_cast<int32_t>(g_->byte_edges.size());
    std::vector<ByteEdge> edges;
    std::vector<int> bounds;
    for (int32_t m : members)
      for (const ByteEdge& e : nfa_[static_cast<size_t>(m)].bytes) {
        edges.push_back(e);
        bounds.push_back(e.lo);
        bounds.push_back(e.hi + 1);
      }
    std::sort(bounds.begin(), bounds.end());
    bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      const int lo = bounds[i], hi = bounds[i + 1] - 1;
      std::vector<int32_t> targets;
      for (const ByteEdge& e : edges)
        if (e.lo <= lo && e.hi >= hi) targets.push_back(e.target);
      if (targets.empty()) continue;
      const int32_t to = target_of(std::move(targets));
      std::vector<ByteEdge>& out = g_->byte_edges;
      if (static_cast<int32_t>(out.size()) > node.bytes_begin && out.back().target == to && out.back().hi + 1 == lo) {
        out.back().hi = static_cast<uint8_t>(hi);
      } else {
        out.push_back({static_cast<uint8_t>(lo), static_cast<uint8_t>(hi), to});
      }
    }
    node.bytes_end = static_cast<int32_t>(g_->byte_edges.size());
    std::map<int32_t, std::vector<int32_t>> calls;
    for (int32_t m : members)
      for (const CallEdge& c : nfa_[static_cast<size_t>(m)].calls) calls[c.rule].push_back(c.target);
    std::vector<CallEdge> call_edges;
    for (auto& [rule, targets] : calls) call_edges.push_back({rule, target_of(std::move(targets))});
    node.calls_begin = static_cast<int32_t>(g_->call_edges.size());
    g_->call_edges.insert(g_->call_edges.end(), call_edges.begin(), call_edges.end());
    node.calls_end = static_cast<int32_t>(g_->call_edges.size());
    g_->nodes.push_back(node);
  }

  // Merges the rule's nodes that no text tells apart (subset construction
  // leaves e.g. "after the opening quote" and "after a character" as two nodes
  // of a string); the start stays first.
  void minimize(size_t bytes_base, size_t calls_base) {
    const size_t n = g_->nodes.size() - static_cast<size_t>(base_);
    const std::vector<int32_t> cls = equivalence_classes(*g_, base_, n);
    // Classes numbered by their first node (the start's is 0); that node's edges stand for the class.
    std::vector<int32_t> id(static_cast<size_t>(*std::max_element(cls.begin(), cls.end())) + 1, -1), first;
    for (size_t i = 0; i < n; ++i)
      if (id[static_cast<size_t>(cls[i])] < 0) {
        id[static_cast<size_t>(cls[i])] = static_cast<int32_t>(first.size());
        first.push_back(static_cast<int32_t>(i));
      }
    if (first.size() == n) return;
    const Grammar old{std::vector<GrammarNode>(g_->nodes.begin() + base_, g_->nodes.end()),
                      std::vector<ByteEdge>(g_->byte_edges.begin() + static_cast<long>(bytes_base), g_->byte_edges.end()),
                      std::vector<CallEdge>(g_->call_edges.begin() + static_cast<long>(calls_base), g_->call_edges.end()),
                      {}, {}, 0};
    g_->nodes.resize(static_cast<size_t>(base_));
    g_->byte_edges.resize(bytes_base);
    g_->call_edges.resize(calls_base);
    auto to = [&](int32_t target) { return base_ + id[static_cast<size_t>(cls[static_cast<size_t>(target - base_)])]; };
    for (int32_t i : first) {
      const GrammarNode& o = old.nodes[static_cast<size_t>(i)];
      GrammarNode node;
      node.final = o.final;
      node.bytes_begin = static_cast<int32_t>(g_->byte_edges.size());
      for (int32_t k = o.bytes_begin; k < o.bytes_end; ++k) {
        const ByteEdge& e = old.byte_edges[static_cast<size_t>(k) - bytes_base];
        std::vector<ByteEdge>& out = g_->byte_edges;
        if (static_cast<int32_t>(out.size()) > node.bytes_begin && out.back().target == to(e.target) &&
            out.back().hi + 1 == e.lo) {
          out.back().hi = e.hi;
        } else {
          out.push_back({e.lo, e.hi, to(e.target)});
        }
      }
      node.bytes_end = static_cast<int32_t>(g_->byte_edges.size());
      node.calls_begin = static_cast<int32_t>(g_->call_edges.size());
      for (int32_t k = o.calls_begin; k < o.calls_end; ++k) {
        const CallEdge& e = old.call_edges[static_cast<size_t>(k) - calls_base];
        g_->call_edges.push_back({e.rule, to(e.target)});
      }
      node.calls_end = static_cast<int32_t>(g_->call_edges.size());
      g_->nodes.push_back(node);
    }
  }

  const std::vector<NfaState>& nfa_;
  Grammar* g_;
  const GrammarLimits& limits_;
  int64_t subset_states_ = 0;  // over every rule determinised with this object
  int32_t accept_ = 0, base_ = 0;
  std::map<std::vector<int32_t>, int32_t> ids_;
  std::vector<const std::vector<int32_t>*> sets_;  // by node - base_
  std::vector<uint32_t> stamp_;
  uint32_t epoch_ = 0;
};

// Repeats passes over the nodes (last first: a rule's nodes are numbered from
// its start, so completion mostly flows backwards) until nothing changes.
template <typename Fn>
void fixpoint(size_t n, Fn&& update) {
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t i = n; i-- > 0;) changed |= update(i);
  }
}

// Which nodes can still reach the end of their rule (calls only through rules
// that can complete), and which rules can complete at all.
void find_completing(const Grammar& g, std::vector<char>* completing, std::vector<char>* productive) {
  completing->assign(g.nodes.size(), 0);
  productive->assign(g.rule_start.size(), 0);
  for (bool changed = true; changed;) {
    fixpoint(g.nodes.size(), [&](size_t i) {
      if ((*completing)[i]) return false;
      const int32_t n = static_cast<int32_t>(i);
      bool c = g.nodes[i].final;
      for (const ByteEdge& e : g.bytes_of(n)) c = c || (*completing)[static_cast<size_t>(e.target)];
      for (const CallEdge& e : g.calls_of(n))
        c = c || ((*productive)[static_cast<size_t>(e.rule)] && (*completing)[static_cast<size_t>(e.target)]);
      (*completing)[i] = c;
      return c;
    });
    changed = false;
    for (size_t r = 0; r < g.rule_start.size(); ++r)
      if (!(*productive)[r] && (*completing)[static_cast<size_t>(g.rule_start[r])]) {
        (*productive)[r] = 1;
        changed = true;
      }
  }
}

// A copy of g keeping only rules reachable from the root and nodes reachable
// from their rule's start, over edges that can still complete.
Grammar compact(const Grammar& g, const std::vector<char>& completing, const std::vector<char>& productive) {
  auto live_byte = [&](const ByteEdge& e) { return completing[static_cast<size_t>(e.target)] != 0; };
  auto live_call = [&](const CallEdge& e) {
    return productive[static_cast<size_t>(e.rule)] && completing[static_cast<size_t>(e.target)];
  };
  std::vector<int32_t> rule_id(g.rule_start.size(), -1), node_id(g.nodes.size(), -1);
  std::vector<int32_t> rules{g.root}, order;
  rule_id[static_cast<size_t>(g.root)] = 0;
  for (size_t k = 0; k < rules.size(); ++k) {
    std::vector<int32_t> stack{g.rule_start[static_cast<size_t>(rules[k])]};
    while (!stack.empty()) {
      const int32_t n = stack.back();
      stack.pop_back();
      if (node_id[static_cast<size_t>(n)] >= 0) continue;
      node_id[static_cast<size_t>(n)] = static_cast<int32_t>(order.size());
      order.push_back(n);
      for (const ByteEdge& e : g.bytes_of(n))
        if (live_byte(e)) stack.push_back(e.target);
      for (const CallEdge& e : g.calls_of(n)) {
        if (!live_call(e)) continue;
        stack.push_back(e.target);
        if (rule_id[static_cast<size_t>(e.rule)] < 0) {
          rule_id[static_cast<size_t>(e.rule)] = static_cast<int32_t>(rules.size());
          rules.push_back(e.rule);
        }
      }
    }
  }
  Grammar out;
  for (int32_t r : rules) {
    out.rule_start.push_back(node_id[static_cast<size_t>(g.rule_start[static_cast<size_t>(r)])]);
    out.rule_names.push_back(g.rule_names[static_cast<size_t>(r)]);
  }
  for (int32_t n : order) {
    GrammarNode node;
    node.final = g.nodes[static_cast<size_t>(n)].final;
    node.bytes_begin = static_cast<int32_t>(out.byte_edges.size());
    for (const ByteEdge& e : g.bytes_of(n))
      if (live_byte(e)) out.byte_edges.push_back({e.lo, e.hi, node_id[static_cast<size_t>(e.target)]});
    node.bytes_end = static_cast<int32_t>(out.byte_edges.size());
    node.calls_begin = static_cast<int32_t>(out.call_edges.size());
    for (const CallEdge& e : g.calls_of(n))
      if (live_call(e))
        out.call_edges.push_back({rule_id[static_cast<size_t>(e.rule)], node_id[static_cast<size_t>(e.target)]});
    node.calls_end = static_cast<int32_t>(out.call_edges.size());
    out.nodes.push_back(node);
  }
  return out;
}

// A rule that can call itself (directly or through others) before reading a
// byte; -1 when there is none.
int32_t left_recursive_rule(const Grammar& g) {
  const size_t n_rules = g.rule_start.size();
  std::vector<char> nullable_end(g.nodes.size(), 0), nullable(n_rules, 0);
  for (bool changed = true; changed;) {
    fixpoint(g.nodes.size(), [&](size_t i) {
      if (nullable_end[i]) return false;
      bool c = g.nodes[i].final;
      for (const CallEdge& e : g.calls_of(static_cast<int32_t>(i)))
        c = c || (nullable[static_cast<size_t>(e.rule)] && nullable_end[static_cast<size_t>(e.target)]);
      nullable_end[i] = c;
      return c;
    });
    changed = false;
    for (size_t r = 0; r < n_rules; ++r)
      if (!nullable[r] && nullable_end[static_cast<size_t>(g.rule_start[r])]) {
        nullable[r] = 1;
        changed = true;
      }
  }
  // Rules each rule may call before reading a byte.
  std::vector<std::vector<int32_t>> left(n_rules);
  std::vector<size_t> seen(g.nodes.size(), n_rules);  // the rule whose search reached the node
  for (size_t r = 0; r < n_rules; ++r) {
    std::vector<int32_t> stack{g.rule_start[r]};
    while (!stack.empty()) {
      const int32_t n = stack.back();
      stack.pop_back();
      if (seen[static_cast<size_t>(n)] == r) continue;
      seen[static_cast<size_t>(n)] = r;
      for (const CallEdge& e : g.calls_of(n)) {
        left[r].push_back(e.rule);
        if (nullable[static_cast<size_t>(e.rule)]) stack.push_back(e.target);
      }
    }
  }
  // Depth-first search for a cycle (0 unvisited, 1 on the path, 2 done).
  std::vector<char> color(n_rules, 0);
  for (size_t s = 0; s < n_rules; ++s) {
    if (color[s]) continue;
    std::vector<std::pair<int32_t, size_t>> path{{static_cast<int32_t>(s), 0}};
    color[s] = 1;
    while (!path.empty()) {
      auto& [r, next] = path.back();
      const std::vector<int32_t>& out = left[static_cast<size_t>(r)];
      if (next == out.size()) {
        color[static_cast<size_t>(r)] = 2;
        path.pop_back();
        continue;
      }
      const int32_t t = out[next++];
      if (color[static_cast<size_t>(t)] == 1) return t;
      if (color[static_cast<size_t>(t)] == 0) {
        color[static_cast<size_t>(t)] = 1;
        path.push_back({t, 0});
      }
    }
  }
  return -1;
}

}  // namespace

StatusOr<Grammar> GrammarBuilder::build(int32_t root, const GrammarLimits& limits) const {
  Grammar g;
  g.root = root;
  NfaEmitter emitter(*this, limits.max_nfa_states);
  for (const Rule& rule : rules_) {
    g.rule_names.push_back(rule.name);
    if (rule.body < 0) {
      // Undefined rules match nothing; trimming drops them (front ends check
      // that the rules they use are defined).
      g.rule_start.push_back(static_cast<int32_t>(g.nodes.size()));
      g.nodes.push_back({static_cast<int32_t>(g.byte_edges.size()), static_cast<int32_t>(g.byte_edges.size()),
                         static_cast<int32_t>(g.call_edges.size()), static_cast<int32_t>(g.call_edges.size()), false});
      continue;
    }
    emitter.clear();
    const int32_t start = emitter.new_state();
    const int32_t accept = emitter.emit(rule.body, start);
    if (emitter.overflow())
      return out_of_range("the grammar is too large: more than " + std::to_string(limits.max_nfa_states) +
                          " automaton states while expanding rule '" + rule.name + "'");
    Determinizer d(emitter.states(), &g, limits);
    const int32_t first = d.run(start, accept);
    if (first < 0)
      return out_of_range("the grammar is too large: more than " + std::to_string(limits.max_nodes) +
                          " automaton nodes, or too much work making them, at rule '" + rule.name + "'");
    g.rule_start.push_back(first);
  }
  std::vector<char> completing, productive;
  find_completing(g, &completing, &productive);
  if (!productive[static_cast<size_t>(root)]) return invalid_argument("the grammar matches no text");
  Grammar out = compact(g, completing, productive);
  const int32_t left = left_recursive_rule(out);
  if (left >= 0)
    return invalid_argument("rule '" + out.rule_names[static_cast<size_t>(left)] +
                            "' is left-recursive (it can reach itself before reading any text)");
  return out;
}

}  // namespace sb::constrain
