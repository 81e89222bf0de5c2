// SentencePiece-style BPE by scores: start from characters, repeatedly merge the
// adjacent pair whose concatenation is a vocabulary piece with the highest score
// (leftmost on ties); leftovers that are not pieces fall back to <0xNN> byte tokens
// (or the unknown token). Priority queue + linked list: O(n log n).
#include <queue>

#include "core/tokenizer/tokenizer_impl.h"

namespace sb {

void Tokenizer::Impl::spm_encode(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  struct Sym {
    size_t begin, len;  // byte range in text; len 0 once merged away
    int prev, next;
  };
  std::vector<Sym> sym;
  sym.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_char_bytes(text, i);
    const int idx = static_cast<int>(sym.size());
    sym.push_back({i, n, idx - 1, -1});
    if (idx > 0) sym[idx - 1].next = idx;
    i += n;
  }
  struct Cand {
    float score;
    int left;
    size_t len;  // combined length when proposed; a mismatch means the pair changed
    bool operator<(const Cand& o) const { return score != o.score ? score < o.score : left > o.left; }
  };
  std::priority_queue<Cand> q;
  std::string key;
  auto push = [&](int left) {
    if (left < 0 || sym[left].next < 0) return;
    const Sym& a = sym[left];
    const Sym& b = sym[a.next];
    key.assign(text.substr(a.begin, a.len + b.len));
    auto it = piece_to_id.find(key);
    if (it == piece_to_id.end()) return;
    const float score = d.scores.empty() ? 0.0f : d.scores[static_cast<size_t>(it->second)];
    q.push({score, left, a.len + b.len});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) push(i);
  while (!q.empty()) {
    const Cand c = q.top();
    q.pop();
    Sym& a = sym[c.left];
    if (a.len == 0 || a.next < 0) continue;
    Sym& b = sym[a.next];
    if (a.len + b.len != c.len) continue;  // stale: one side merged since
    a.len += b.len;
    b.len = 0;
    a.next = b.next;
    if (a.next >= 0) sym[a.next].prev = c.left;
    push(a.prev);
    push(c.left);
  }
  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string_view piece = text.substr(sym[i].begin, sym[i].len);
    auto it = piece_to_id.find(std::string(piece));
    if (it != piece_to_id.end()) {
      out.push_back(it->second);
    } else {
      emit_unknown(piece, out);
    }
  }
}

}  // namespace sb
