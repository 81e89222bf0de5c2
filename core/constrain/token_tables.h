// Per-node token sets of a grammar over a vocabulary, XGrammar's adaptive token
// mask cache: what each token does when read from a node, knowing nothing of the
// stack below it. Accepted: its bytes stay inside the node's rule (calls into
// other rules and back included), or the rule may end exactly at its last byte.
// Uncertain: the rule may end inside the token and only the callers can tell
// whether the rest fits; kept with each offset where the rule can end. Rejected:
// everything else. A node's sets come from one walk of the vocabulary trie
// driven by a lazily built DFA over stack sets, computed on the node's first use
// and kept (Matcher::fill_mask then only checks the uncertain tokens against
// the real stacks). Not thread-safe: one engine thread uses it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/constrain/grammar.h"
#include "core/constrain/stacks.h"
#include "core/constrain/vocabulary.h"

namespace sb::constrain {

struct NodeTokens {
  // Accepted tokens: a bit set over the vocabulary when they are many, else ids.
  std::vector<uint64_t> accepted_bits;  // [n_words] or empty
  std::vector<int32_t> accepted_ids;
  // Uncertain (token, offset) pairs, the rule able to end after `offset` bytes,
  // grouped by the first byte after it: group b is [group[b], group[b + 1]).
  std::vector<int32_t> uncertain_ids;
  std::vector<uint16_t> uncertain_offsets;
  std::vector<int32_t> group;  // [257], or empty when no token is uncertain
};

class TokenTables {
 public:
  TokenTables(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocabulary);
  const Grammar& grammar() const { return *grammar_; }
  const Vocabulary& vocabulary() const { return *vocab_; }
  int n_words() const { return (vocab_->n_vocab() + 63) / 64; }

  // The node's sets, computed on first use.
  const NodeTokens& of(int32_t node);
  // Computes every node's sets now (moves the cost to compile time).
  void compute_all();
  int n_computed() const { return n_computed_; }

 private:
  NodeTokens compute(int32_t node);
  int32_t intern_set(const std::vector<int32_t>& tops);
  // The set after reading byte b from set `set` (0: dead); *exited when a frame
  // popped to the walk's base on the way.
  int32_t transition(int32_t set, uint8_t b, bool* exited);

  std::shared_ptr<const Grammar> grammar_;
  std::shared_ptr<const Vocabulary> vocab_;
  std::vector<std::unique_ptr<NodeTokens>> tables_;  // [n_nodes]
  int n_computed_ = 0;

  // The walks' lazy DFA: states are sets of frames above kExit, transitions
  // filled on first use.
  FrameArena arena_;
  StackRunner runner_;
  std::map<std::vector<int32_t>, int32_t> set_ids_;
  std::vector<const std::vector<int32_t>*> sets_;  // by set id; [0] is the empty (dead) set
  std::vector<int32_t> transitions_;               // [n_sets, 256]: -1 unknown, else (next << 1) | exited
  std::vector<int32_t> scratch_;
};

}  // namespace sb::constrain
