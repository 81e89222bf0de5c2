#include "core/constrain/stacks.h"

#include <algorithm>

namespace sb::constrain {

FrameArena::FrameArena() { slots_.assign(64, -1); }

size_t FrameArena::home(int32_t node, int32_t parent) const {
  uint64_t h = (static_cast<uint64_t>(static_cast<uint32_t>(node)) << 32) | static_cast<uint32_t>(parent);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return static_cast<size_t>(h) & (slots_.size() - 1);
}

void FrameArena::rehash(size_t capacity) {
  slots_.assign(capacity, -1);
  for (size_t id = 0; id < frames_.size(); ++id) {
    size_t i = home(frames_[id].node, frames_[id].parent);
    while (slots_[i] >= 0) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = static_cast<int32_t>(id);
  }
}

int32_t FrameArena::intern(int32_t node, int32_t parent) {
  const size_t mask = slots_.size() - 1;
  size_t i = home(node, parent);
  for (; slots_[i] >= 0; i = (i + 1) & mask) {
    const Frame& f = frames_[static_cast<size_t>(slots_[i])];
    if (f.node == node && f.parent == parent) return slots_[i];
  }
  const int32_t id = static_cast<int32_t>(frames_.size());
  frames_.push_back({node, parent});
  slots_[i] = id;
  if (frames_.size() * 2 > slots_.size()) rehash(slots_.size() * 2);
  return id;
}

void FrameArena::truncate(size_t n) {
  const size_t mask = slots_.size() - 1;
  while (frames_.size() > n) {
    const int32_t id = static_cast<int32_t>(frames_.size() - 1);
    size_t i = home(frames_.back().node, frames_.back().parent);
    while (slots_[i] != id) i = (i + 1) & mask;
    // Backward-shift deletion keeps every probe chain unbroken.
    for (size_t j = (i + 1) & mask; slots_[j] >= 0; j = (j + 1) & mask) {
      const Frame& f = frames_[static_cast<size_t>(slots_[j])];
      const size_t k = home(f.node, f.parent);
      const bool movable = (i <= j) ? (k <= i || k > j) : (k <= i && k > j);
      if (movable) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = -1;
    frames_.pop_back();
  }
}

Reach StackRunner::close(FrameArena& arena, std::span<const int32_t> seeds, std::vector<int32_t>* tops) {
  Reach reach;
  if (++epoch_ == 0) {  // wrapped: forget every stamp
    std::fill(stamp_.begin(), stamp_.end(), 0);
    epoch_ = 1;
  }
  const size_t first_top = tops->size();
  work_.assign(seeds.begin(), seeds.end());
  while (!work_.empty()) {
    const int32_t f = work_.back();
    work_.pop_back();
    if (f < 0) {
      (f == kBottom ? reach.bottom : reach.exit) = true;
      continue;
    }
    if (stamp_.size() <= static_cast<size_t>(f)) stamp_.resize(arena.size() * 2, 0);
    if (stamp_[static_cast<size_t>(f)] == epoch_) continue;
    stamp_[static_cast<size_t>(f)] = epoch_;
    const Frame frame = arena.at(f);
    const GrammarNode& node = g_.nodes[static_cast<size_t>(frame.node)];
    if (node.bytes_end > node.bytes_begin) tops->push_back(f);
    for (const CallEdge& c : g_.calls_of(frame.node)) {
      const int32_t ret = arena.intern(c.target, frame.parent);
      work_.push_back(arena.intern(g_.rule_start[static_cast<size_t>(c.rule)], ret));
    }
    if (node.final) work_.push_back(frame.parent);
  }
  std::sort(tops->begin() + static_cast<std::ptrdiff_t>(first_top), tops->end());
  return reach;
}

Reach StackRunner::step(FrameArena& arena, std::span<const int32_t> tops, uint8_t b, std::vector<int32_t>* out) {
  moved_.clear();
  for (int32_t f : tops) {
    const Frame frame = arena.at(f);
    const int32_t to = g_.step(frame.node, b);
    if (to >= 0) moved_.push_back(arena.intern(to, frame.parent));
  }
  out->clear();
  return close(arena, moved_, out);
}

}  // namespace sb::constrain
