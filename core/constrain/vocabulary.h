// The model's vocabulary as bytes, for constraint masks: each token's bytes
// (Tokenizer::token_bytes) and a trie of them laid out in preorder, so that the
// tokens under a trie node are one contiguous run of the byte-sorted tokens and a
// walk can skip a whole subtree by jumping. Tokens with no bytes (control
// tokens), ids the tokenizer does not have (padded logit rows) and tokens over
// kMaxTokenBytes are never allowed by a constraint; end tokens (EOS, end of
// turn) are allowed exactly when the constrained text is complete.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sb {
class Tokenizer;
}

namespace sb::constrain {

class Vocabulary {
 public:
  static constexpr int kMaxTokenBytes = 1024;

  struct TrieNode {
    uint8_t byte = 0;      // the byte from the parent (the root has none)
    uint16_t depth = 0;    // bytes from the root
    int32_t next = 0;      // preorder index after this subtree
    int32_t begin = 0;     // sorted()[begin, end): the tokens in this subtree
    int32_t end = 0;
    int32_t n_ending = 0;  // sorted()[begin, begin + n_ending): those whose bytes end here
  };

  // n_vocab: the model's logit rows (>= the tokenizer's vocabulary).
  static std::shared_ptr<const Vocabulary> create(const Tokenizer& tokenizer, int n_vocab,
                                                  std::span<const int32_t> end_ids);
  // From token bytes directly (tests, benchmarks): token i has bytes[i].
  static std::shared_ptr<const Vocabulary> from_bytes(std::vector<std::string> bytes,
                                                      std::span<const int32_t> end_ids);

  int n_vocab() const { return static_cast<int>(bytes_.size()); }
  std::string_view bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  std::span<const int32_t> end_ids() const { return end_ids_; }
  bool is_end(int32_t id) const { return is_end_[static_cast<size_t>(id)] != 0; }
  // Whether a grammar may allow the token by its bytes (not empty, not an end token).
  bool in_trie(int32_t id) const { return in_trie_[static_cast<size_t>(id)] != 0; }
  const std::vector<TrieNode>& trie() const { return trie_; }  // [0] is the root
  const std::vector<int32_t>& sorted() const { return sorted_; }
  // The trie's tokens whose bytes start with b.
  std::span<const int32_t> starting_with(uint8_t b) const;

 private:
  Vocabulary(std::vector<std::string> bytes, std::span<const int32_t> end_ids);

  std::vector<std::string> bytes_;  // [n_vocab]
  std::vector<int32_t> end_ids_;
  std::vector<char> is_end_, in_trie_;  // [n_vocab]
  std::vector<int32_t> sorted_;     // ids in the trie, by bytes
  std::vector<TrieNode> trie_;
};

}  // namespace sb::constrain
