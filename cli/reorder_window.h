// Restores input order for output lines that complete out of order. At most
// `capacity` admitted records (finished or not) are held: the caller admits a
// record only while has_room(), so a slow record slows admission instead of
// letting finished lines pile up without limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sb::cli {

class ReorderWindow {
 public:
  explicit ReorderWindow(size_t capacity);

  bool has_room() const { return next_ - base_ < slots_.size(); }
  bool empty() const { return next_ == base_; }
  // Reserves the next slot in admission order and returns its number.
  uint64_t admit();
  // Fills an admitted slot; an empty line means "nothing to write" (its error
  // went to --errors), which still releases the slot in order.
  void complete(uint64_t slot, std::string line);
  // The next line in admission order if it is complete; the slot is released.
  std::optional<std::string> pop();

 private:
  struct Slot {
    bool done = false;
    std::string line;
  };
  std::vector<Slot> slots_;  // [capacity] ring, slot n at n % capacity
  uint64_t base_ = 0;        // oldest slot not yet popped
  uint64_t next_ = 0;        // next slot to admit
};

}  // namespace sb::cli
