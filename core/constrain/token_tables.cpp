#include "core/constrain/token_tables.h"

#include <algorithm>
#include <numeric>

namespace sb::constrain {

TokenTables::TokenTables(std::shared_ptr<const Grammar> grammar, std::shared_ptr<const Vocabulary> vocabulary)
    : grammar_(std::move(grammar)), vocab_(std::move(vocabulary)), runner_(*grammar_) {
  tables_.resize(grammar_->nodes.size());
  intern_set({});  // set 0: dead
}

const NodeTokens& TokenTables::of(int32_t node) {
  std::unique_ptr<NodeTokens>& t = tables_[static_cast<size_t>(node)];
  if (!t) {
    t = std::make_unique<NodeTokens>(compute(node));
    ++n_computed_;
  }
  return *t;
}

void TokenTables::compute_all() {
  for (size_t n = 0; n < grammar_->nodes.size(); ++n)
    if (grammar_->nodes[n].bytes_end > grammar_->nodes[n].bytes_begin) of(static_cast<int32_t>(n));
}

int32_t TokenTables::intern_set(const std::vector<int32_t>& tops) {
  auto [it, added] = set_ids_.try_emplace(tops, static_cast<int32_t>(sets_.size()));
  if (added) {
    sets_.push_back(&it->first);
    transitions_.resize(sets_.size() * 256, -1);
  }
  return it->second;
}

int32_t TokenTables::transition(int32_t set, uint8_t b, bool* exited) {
  const size_t slot = static_cast<size_t>(set) * 256 + b;
  if (transitions_[slot] < 0) {
    const Reach r = runner_.step(arena_, *sets_[static_cast<size_t>(set)], b, &scratch_);
    const int32_t next = intern_set(scratch_);
    transitions_[slot] = (next << 1) | (r.exit ? 1 : 0);
  }
  *exited = (transitions_[slot] & 1) != 0;
  return transitions_[slot] >> 1;
}

NodeTokens TokenTables::compute(int32_t node) {
  const std::vector<Vocabulary::TrieNode>& trie = vocab_->trie();
  const std::vector<int32_t>& sorted = vocab_->sorted();
  // The walk starts from the node alone: its calls and its own end are other
  // frames of any real state, whose tables cover them.
  std::vector<int32_t> set_at(Vocabulary::kMaxTokenBytes + 1), n_exits_at(Vocabulary::kMaxTokenBytes + 1);
  set_at[0] = intern_set({arena_.intern(node, kExit)});
  n_exits_at[0] = 0;
  std::vector<uint16_t> exits;  // offsets on the current path where the rule could end
  std::vector<int32_t> accepted;
  std::vector<std::pair<int32_t, uint16_t>> uncertain;
  auto add_uncertain = [&](int32_t begin, int32_t end) {
    for (int32_t k = begin; k < end; ++k)
      for (uint16_t off : exits) uncertain.emplace_back(sorted[static_cast<size_t>(k)], off);
  };
  for (size_t i = 1; i < trie.size();) {
    const Vocabulary::TrieNode& t = trie[i];
    const size_t d = t.depth;
    exits.resize(static_cast<size_t>(n_exits_at[d - 1]));
    bool exited = false;
    const int32_t next = transition(set_at[d - 1], t.byte, &exited);
    if (exited) exits.push_back(static_cast<uint16_t>(d));
    const int32_t ending_end = t.begin + t.n_ending;
    if (next != 0) {
      accepted.insert(accepted.end(), sorted.begin() + t.begin, sorted.begin() + ending_end);
      set_at[d] = next;
      n_exits_at[d] = static_cast<int32_t>(exits.size());
      ++i;
      continue;
    }
    // Nothing continues inside the rule: the tokens ending here are accepted
    // when it ended at their last byte; longer ones depend on the callers.
    if (exited) {
      accepted.insert(accepted.end(), sorted.begin() + t.begin, sorted.begin() + ending_end);
      add_uncertain(ending_end, t.end);
    } else {
      add_uncertain(t.begin, t.end);
    }
    i = static_cast<size_t>(t.next);
  }

  NodeTokens out;
  const size_t words = static_cast<size_t>(n_words());
  if (accepted.size() * 32 > words * 64) {
    out.accepted_bits.assign(words, 0);
    for (int32_t id : accepted) out.accepted_bits[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  } else {
    std::sort(accepted.begin(), accepted.end());
    out.accepted_ids = std::move(accepted);
  }
  if (!uncertain.empty()) {
    auto first_byte = [&](const std::pair<int32_t, uint16_t>& u) {
      return static_cast<uint8_t>(vocab_->bytes(u.first)[u.second]);
    };
    std::stable_sort(uncertain.begin(), uncertain.end(),
                     [&](const auto& a, const auto& b) { return first_byte(a) < first_byte(b); });
    out.group.assign(257, 0);
    for (const auto& u : uncertain) {
      ++out.group[first_byte(u) + 1u];
      out.uncertain_ids.push_back(u.first);
      out.uncertain_offsets.push_back(u.second);
    }
    std::partial_sum(out.group.begin(), out.group.end(), out.group.begin());
  }
  return out;
}

}  // namespace sb::constrain
