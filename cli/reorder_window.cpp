#include "cli/reorder_window.h"

#include "core/base/status.h"

namespace sb::cli {

ReorderWindow::ReorderWindow(size_t capacity) : slots_(capacity) { SB_CHECK(capacity > 0); }

uint64_t ReorderWindow::admit() {
  SB_CHECK(has_room());
  return next_++;
}

void ReorderWindow::complete(uint64_t slot, std::string line) {
  SB_CHECK(slot >= base_ && slot < next_);
  Slot& s = slots_[slot % slots_.size()];
  SB_CHECK(!s.done);
  s.done = true;
  s.line = std::move(line);
}

std::optional<std::string> ReorderWindow::pop() {
  while (base_ < next_) {
    Slot& s = slots_[base_ % slots_.size()];
    if (!s.done) return std::nullopt;
    s.done = false;
    ++base_;
    if (!s.line.empty()) return std::move(s.line);
  }
  return std::nullopt;
}

}  // namespace sb::cli
