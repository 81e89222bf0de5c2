#include "core/constrain/matcher.h"

namespace sb::constrain {

Matcher::Matcher(std::shared_ptr<TokenTables> tables) : tables_(std::move(tables)), runner_(tables_->grammar()) {
  const Grammar& g = tables_->grammar();
  const int32_t root = arena_.intern(g.rule_start[static_cast<size_t>(g.root)], kBottom);
  const Reach r = runner_.close(arena_, std::span<const int32_t>(&root, 1), &tops_);
  history_.push_back({0, static_cast<int32_t>(tops_.size()), static_cast<uint32_t>(arena_.size()), r.bottom, false});
}

bool Matcher::run(std::span<const int32_t> from, std::string_view bytes, std::vector<int32_t>* out, bool* complete) {
  a_.assign(from.begin(), from.end());
  *complete = false;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const Reach r = runner_.step(arena_, a_, static_cast<uint8_t>(bytes[i]), &b_);
    a_.swap(b_);
    if (a_.empty()) {
      *complete = r.bottom && i + 1 == bytes.size();
      if (!*complete) return false;
    } else {
      *complete = r.bottom;
    }
  }
  out->swap(a_);
  return true;
}

bool Matcher::advance(int32_t token) {
  const State cur = history_.back();
  const Vocabulary& v = tables_->vocabulary();
  if (cur.ended || token < 0 || token >= v.n_vocab()) return false;
  if (v.is_end(token)) {
    if (!cur.complete) return false;
    history_.push_back({cur.tops_end, cur.tops_end, cur.arena_size, true, true});
    return true;
  }
  if (!v.in_trie(token)) return false;
  const size_t mark = arena_.size();
  std::vector<int32_t> next;
  bool complete = false;
  if (!run(tops(cur), v.bytes(token), &next, &complete)) {
    arena_.truncate(mark);
    return false;
  }
  const int32_t begin = static_cast<int32_t>(tops_.size());
  tops_.insert(tops_.end(), next.begin(), next.end());
  history_.push_back({begin, static_cast<int32_t>(tops_.size()), static_cast<uint32_t>(arena_.size()), complete, false});
  return true;
}

void Matcher::rollback(int n) {
  SB_CHECK(n >= 0 && n <= n_tokens());
  history_.resize(history_.size() - static_cast<size_t>(n));
  const State& s = history_.back();
  tops_.resize(static_cast<size_t>(s.tops_end));
  if (s.arena_size < arena_.size()) fitting_.clear();
  arena_.truncate(s.arena_size);
}

void Matcher::check_uncertain(const NodeTokens& nt, int32_t parent, std::vector<int32_t>* fit) {
  // Where the callers resume once the node's rule ends, and the bytes they can read first.
  ctx_.clear();
  runner_.close(arena_, std::span<const int32_t>(&parent, 1), &ctx_);
  const Grammar& g = tables_->grammar();
  bool first[256] = {};
  for (int32_t f : ctx_)
    for (const ByteEdge& e : g.bytes_of(arena_.at(f).node))
      for (int b = e.lo; b <= e.hi; ++b) first[b] = true;
  const Vocabulary& v = tables_->vocabulary();
  std::vector<int32_t> unused;
  for (int b = 0; b < 256; ++b) {
    if (!first[b]) continue;
    for (int32_t k = nt.group[static_cast<size_t>(b)]; k < nt.group[static_cast<size_t>(b) + 1]; ++k) {
      const int32_t id = nt.uncertain_ids[static_cast<size_t>(k)];
      bool complete = false;
      if (run(ctx_, v.bytes(id).substr(nt.uncertain_offsets[static_cast<size_t>(k)]), &unused, &complete))
        fit->push_back(id);
    }
  }
}

void Matcher::fill_mask(std::span<uint64_t> mask) {
  std::fill(mask.begin(), mask.end(), 0);
  const State cur = history_.back();
  if (cur.ended) return;
  const size_t mark = arena_.size();
  for (int32_t f : tops(cur)) {
    const Frame frame = arena_.at(f);
    const NodeTokens& nt = tables_->of(frame.node);
    if (!nt.accepted_bits.empty()) {
      for (size_t w = 0; w < mask.size(); ++w) mask[w] |= nt.accepted_bits[w];
    } else {
      for (int32_t id : nt.accepted_ids) mask[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
    }
    // Past the root rule's end nothing but an end token may follow.
    if (nt.group.empty() || frame.parent == kBottom) continue;
    auto [it, added] = fitting_.try_emplace(f);
    if (added) check_uncertain(nt, frame.parent, &it->second);
    for (int32_t id : it->second) mask[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  }
  if (cur.complete)
    for (int32_t id : tables_->vocabulary().end_ids()) mask[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
  arena_.truncate(mark);
}

}  // namespace sb::constrain
