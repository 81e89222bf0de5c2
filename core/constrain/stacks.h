// The stacks of a grammar run (core/constrain/grammar.h) as a tree of interned
// frames. A frame is (node, parent): node is the position in the running rule,
// the parent frame holds the node the caller resumes at (and its own parent).
// Equal stacks are one frame id, so a run's state is a set of ids that never
// holds two copies of a stack, however ambiguous the grammar. Frames are only
// appended; truncate() drops the newest ones (rollback, scratch work).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/constrain/grammar.h"

namespace sb::constrain {

struct Frame {
  int32_t node;
  int32_t parent;  // a frame id, kBottom or kExit
};
constexpr int32_t kBottom = -1;  // below the root rule's frame: popping to it completes the text
constexpr int32_t kExit = -2;    // below the frame a token-table walk starts from: popping to it leaves that rule

class FrameArena {
 public:
  FrameArena();
  int32_t intern(int32_t node, int32_t parent);
  const Frame& at(int32_t id) const { return frames_[static_cast<size_t>(id)]; }
  size_t size() const { return frames_.size(); }
  // Drops frames [n, size()).
  void truncate(size_t n);

 private:
  size_t home(int32_t node, int32_t parent) const;
  void rehash(size_t capacity);

  std::vector<Frame> frames_;
  std::vector<int32_t> slots_;  // open addressing over frame ids, -1 empty; at most half full
};

// What expanding frames reached besides frames that read bytes.
struct Reach {
  bool bottom = false;  // the root rule ended: the text may end here
  bool exit = false;    // a kExit base was popped to
};

// Runs frames over a grammar. Not thread-safe (scratch buffers).
class StackRunner {
 public:
  explicit StackRunner(const Grammar& g) : g_(g) {}
  const Grammar& grammar() const { return g_; }

  // Expands `seeds` (frames placed at a node, not yet expanded): a call pushes the
  // callee's start node, a final node pops to the parent frame, recursively.
  // Appends every frame reached whose node reads bytes to *tops, once, sorted.
  Reach close(FrameArena& arena, std::span<const int32_t> seeds, std::vector<int32_t>* tops);
  // Moves each frame of `tops` over byte b and closes the frames that moved.
  Reach step(FrameArena& arena, std::span<const int32_t> tops, uint8_t b, std::vector<int32_t>* out);

 private:
  const Grammar& g_;
  std::vector<uint32_t> stamp_;  // by frame id: the epoch that reached it
  uint32_t epoch_ = 0;
  std::vector<int32_t> work_, moved_;
};

}  // namespace sb::constrain
