#include "core/constrain/vocabulary.h"

#include <algorithm>

#include "core/tokenizer/tokenizer.h"

namespace sb::constrain {

std::shared_ptr<const Vocabulary> Vocabulary::create(const Tokenizer& tokenizer, int n_vocab,
                                                     std::span<const int32_t> end_ids) {
  std::vector<std::string> bytes(static_cast<size_t>(std::max(n_vocab, tokenizer.n_vocab())));
  for (int32_t id = 0; id < tokenizer.n_vocab(); ++id) bytes[static_cast<size_t>(id)] = tokenizer.token_bytes(id);
  return from_bytes(std::move(bytes), end_ids);
}

std::shared_ptr<const Vocabulary> Vocabulary::from_bytes(std::vector<std::string> bytes,
                                                         std::span<const int32_t> end_ids) {
  return std::shared_ptr<const Vocabulary>(new Vocabulary(std::move(bytes), end_ids));
}

std::span<const int32_t> Vocabulary::starting_with(uint8_t b) const {
  auto first = [&](int c) {  // the first sorted token whose first byte is >= c
    return std::partition_point(sorted_.begin(), sorted_.end(), [&](int32_t id) {
      return static_cast<uint8_t>(bytes_[static_cast<size_t>(id)][0]) < c;
    });
  };
  const auto lo = first(b), hi = first(b + 1);
  return {sorted_.data() + (lo - sorted_.begin()), static_cast<size_t>(hi - lo)};
}

Vocabulary::Vocabulary(std::vector<std::string> bytes, std::span<const int32_t> end_ids) : bytes_(std::move(bytes)) {
  const size_t n = bytes_.size();
  is_end_.assign(n, 0);
  in_trie_.assign(n, 0);
  for (int32_t id : end_ids)
    if (id >= 0 && static_cast<size_t>(id) < n && !is_end_[static_cast<size_t>(id)]) {
      is_end_[static_cast<size_t>(id)] = 1;
      end_ids_.push_back(id);
    }
  for (size_t id = 0; id < n; ++id) {
    const size_t len = bytes_[id].size();
    if (len > 0 && len <= static_cast<size_t>(kMaxTokenBytes) && !is_end_[id]) {
      in_trie_[id] = 1;
      sorted_.push_back(static_cast<int32_t>(id));
    }
  }
  std::sort(sorted_.begin(), sorted_.end(), [&](int32_t a, int32_t b) {
    const int c = bytes_[static_cast<size_t>(a)].compare(bytes_[static_cast<size_t>(b)]);
    return c != 0 ? c < 0 : a < b;
  });

  // Preorder trie: the previous token's path stays open as far as the next token
  // shares it; deeper nodes close (their subtree ends) and new ones open.
  trie_.push_back({});
  std::vector<int32_t> path{0};  // open nodes, by depth
  auto close = [&](int32_t k) {
    TrieNode& t = trie_[static_cast<size_t>(path.back())];
    t.end = k;
    t.next = static_cast<int32_t>(trie_.size());
    path.pop_back();
  };
  std::string_view prev;
  for (size_t k = 0; k < sorted_.size(); ++k) {
    const std::string_view s = bytes_[static_cast<size_t>(sorted_[k])];
    size_t lcp = 0;
    while (lcp < s.size() && lcp < prev.size() && s[lcp] == prev[lcp]) ++lcp;
    while (path.size() > lcp + 1) close(static_cast<int32_t>(k));
    for (size_t d = lcp; d < s.size(); ++d) {
      TrieNode t;
      t.byte = static_cast<uint8_t>(s[d]);
      t.depth = static_cast<uint16_t>(d + 1);
      t.begin = static_cast<int32_t>(k);
      path.push_back(static_cast<int32_t>(trie_.size()));
      trie_.push_back(t);
    }
    ++trie_[static_cast<size_t>(path.back())].n_ending;
    prev = s;
  }
  while (!path.empty()) close(static_cast<int32_t>(sorted_.size()));
}

}  // namespace sb::constrain
