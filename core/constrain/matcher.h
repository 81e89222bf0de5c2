// One constrained sequence's position in its grammar: the stacks reached by the
// tokens advanced over so far, with the state after each token kept so that
// rollback(n) (rejected draft tokens) is a truncation. fill_mask() gives exactly
// the tokens advance() would accept next: per-node accepted sets from the
// TokenTables, the uncertain tokens checked against the real stacks, and the end
// tokens when the text is complete. The state is a function of the tokens
// advanced over: replaying them rebuilds it (how a resumed or preempted
// sequence gets it back).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "core/constrain/stacks.h"
#include "core/constrain/token_tables.h"

namespace sb::constrain {

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<TokenTables> tables);
  Matcher(const Matcher& other) = default;  // an independent copy at the same state
  Matcher& operator=(const Matcher&) = delete;

  // Advances over one token; false (state unchanged) when the grammar forbids
  // it. An end token is accepted only when the text is complete, and ends it.
  bool advance(int32_t token);
  // Undoes the last n advances (n <= n_tokens()).
  void rollback(int n);
  int n_tokens() const { return static_cast<int>(history_.size()) - 1; }
  // The text so far matches the whole grammar: end tokens are allowed.
  bool is_complete() const { return history_.back().complete; }
  // An end token was accepted: nothing more is.
  bool is_ended() const { return history_.back().ended; }

  // Sets bit t of mask ((n_vocab + 63) / 64 words) exactly for the tokens
  // advance() would accept now, and clears every other bit.
  void fill_mask(std::span<uint64_t> mask);
  const TokenTables& tables() const { return *tables_; }

 private:
  struct State {
    int32_t tops_begin, tops_end;  // tops_[begin, end): frames that read bytes next
    uint32_t arena_size;           // frames the state needs
    bool complete, ended;
  };
  std::span<const int32_t> tops(const State& s) const {
    return {tops_.data() + s.tops_begin, static_cast<size_t>(s.tops_end - s.tops_begin)};
  }
  // Runs bytes from `from`; true when the state after them is alive (frames
  // left, or the text complete after the last byte). *complete tells which.
  bool run(std::span<const int32_t> from, std::string_view bytes, std::vector<int32_t>* out, bool* complete);
  // The uncertain tokens of a top frame's node that fit its callers, appended to *fit.
  void check_uncertain(const NodeTokens& nt, int32_t parent, std::vector<int32_t>* fit);

  std::shared_ptr<TokenTables> tables_;
  FrameArena arena_;
  StackRunner runner_;
  std::vector<State> history_;  // [n_tokens + 1]: the start, then after each token
  std::vector<int32_t> tops_;
  std::vector<int32_t> a_, b_, ctx_;  // scratch
  // check_uncertain()'s answer by top frame: the same frame recurs at every
  // position of a long string or number. Cleared when rollback drops frames.
  std::unordered_map<int32_t, std::vector<int32_t>> fitting_;
};

}  // namespace sb::constrain
