// Pre-tokenizers (regex splits, ByteLevel, Metaspace, digits) and BPE by merge
// ranks: symbols are bytes (byte-level) or characters (with byte fallback); the
// lowest-ranked adjacent pair merges first, via a priority queue over a linked
// list of symbols, so long pieces cost O(n log n), not O(n^2).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <queue>

#include "core/tokenizer/tokenizer_impl.h"

namespace sb {

void Regex::Deleter::operator()(pcre2_real_code_8* code) const { pcre2_code_free(code); }

StatusOr<Regex> Regex::compile(const std::string& pattern, bool literal) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
  if (literal) options = PCRE2_LITERAL | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options,
                                   &err, &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof(buf));
    return invalid_argument("regex /" + pattern + "/ does not compile at offset " + std::to_string(err_off) +
                            ": " + reinterpret_cast<const char*>(buf));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort; the interpreter is the fallback
  Regex r;
  r.code_.reset(code);
  return r;
}

MatchScratch::MatchScratch() {
  match_data_ = pcre2_match_data_create(32, nullptr);
  jit_stack_ = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
  match_context_ = pcre2_match_context_create(nullptr);
  if (jit_stack_ != nullptr && match_context_ != nullptr) {
    pcre2_jit_stack_assign(static_cast<pcre2_match_context*>(match_context_), nullptr,
                           static_cast<pcre2_jit_stack*>(jit_stack_));
  }
}

MatchScratch::~MatchScratch() {
  pcre2_match_context_free(static_cast<pcre2_match_context*>(match_context_));
  pcre2_jit_stack_free(static_cast<pcre2_jit_stack*>(jit_stack_));
  pcre2_match_data_free(static_cast<pcre2_match_data*>(match_data_));
}

void Regex::find_all(std::string_view s, MatchScratch& scratch, std::vector<std::pair<size_t, size_t>>& out) const {
  auto* md = static_cast<pcre2_match_data*>(scratch.match_data_);
  auto* mctx = static_cast<pcre2_match_context*>(scratch.match_context_);
  SB_CHECK(md != nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(s.data());
  size_t pos = 0;
  while (pos < s.size()) {
    int rc = pcre2_match(code_.get(), subject, s.size(), pos, 0, md, mctx);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {  // JIT stack or match limit: retry interpreted
      rc = pcre2_match(code_.get(), subject, s.size(), pos, PCRE2_NO_JIT, md, mctx);
    }
    if (rc < 0) break;  // no further match: the rest is one gap
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (b < pos || e > s.size()) break;
    if (e <= b) {  // empty match: step one character and keep looking
      pos = b + utf8_char_bytes(s, b);
      continue;
    }
    out.emplace_back(b, e);
    pos = e;
  }
}

namespace {

using Behavior = PreTokenizerStep::Behavior;

// Splits `piece` by the match ranges per `behavior`, appending non-empty pieces.
void split_by_matches(std::string_view piece, const std::vector<std::pair<size_t, size_t>>& m, Behavior behavior,
                      std::vector<std::string>& out) {
  // Segments in order: (begin, end, is_match).
  struct Seg { size_t b, e; bool match; };
  std::vector<Seg> segs;
  size_t pos = 0;
  for (auto [b, e] : m) {
    if (b > pos) segs.push_back({pos, b, false});
    segs.push_back({b, e, true});
    pos = e;
  }
  if (pos < piece.size()) segs.push_back({pos, piece.size(), false});
  std::string cur;
  bool have_cur = false;
  auto flush = [&] {
    if (have_cur && !cur.empty()) out.push_back(std::move(cur));
    cur.clear();
    have_cur = false;
  };
  for (size_t i = 0; i < segs.size(); ++i) {
    const Seg& s = segs[i];
    std::string_view text = piece.substr(s.b, s.e - s.b);
    switch (behavior) {
      case Behavior::kIsolated:
        out.emplace_back(text);
        break;
      case Behavior::kRemoved:
        if (!s.match) out.emplace_back(text);
        break;
      case Behavior::kMergedWithPrevious:
        cur.append(text);
        have_cur = true;
        if (s.match) flush();
        break;
      case Behavior::kMergedWithNext:
        if (s.match) flush();
        cur.append(text);
        have_cur = true;
        break;
      case Behavior::kContiguous:
        if (have_cur && (i == 0 || segs[i - 1].match != s.match)) flush();
        cur.append(text);
        have_cur = true;
        break;
    }
  }
  flush();
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = s.find(from, pos);
    if (hit == std::string::npos) break;
    out.append(s, pos, hit - pos);
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

}  // namespace

void Tokenizer::Impl::pre_tokenize(std::string_view text, bool first_fragment, MatchScratch& scratch,
                                   std::vector<std::string>& pieces) const {
  pieces.clear();
  pieces.emplace_back(text);
  std::vector<std::string> next;
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t si = 0; si < d.pre_tokenizer.size(); ++si) {
    const PreTokenizerStep& step = d.pre_tokenizer[si];
    next.clear();
    switch (step.kind) {
      case PreTokenizerStep::Kind::kSplit:
      case PreTokenizerStep::Kind::kDigits:
        for (const std::string& p : pieces) {
          matches.clear();
          pre_regexes[si].find_all(p, scratch, matches);
          split_by_matches(p, matches, step.kind == PreTokenizerStep::Kind::kDigits ? Behavior::kIsolated
                                                                                    : step.behavior,
                           next);
        }
        break;
      case PreTokenizerStep::Kind::kByteLevel:
        for (std::string& p : pieces) {
          if (step.add_prefix_space && (p.empty() || p[0] != ' ')) p.insert(p.begin(), ' ');
          if (!step.use_regex) {
            next.push_back(std::move(p));
            continue;
          }
          matches.clear();
          pre_regexes[si].find_all(p, scratch, matches);
          split_by_matches(p, matches, Behavior::kIsolated, next);
        }
        break;
      case PreTokenizerStep::Kind::kMetaspace:
        for (size_t pi = 0; pi < pieces.size(); ++pi) {
          std::string p = std::move(pieces[pi]);
          replace_all(p, " ", step.replacement);
          const bool prepend = step.prepend == PreTokenizerStep::Prepend::kAlways ||
                               (step.prepend == PreTokenizerStep::Prepend::kFirst && first_fragment && pi == 0);
          if (prepend && p.compare(0, step.replacement.size(), step.replacement) != 0) p.insert(0, step.replacement);
          if (!step.split) {
            next.push_back(std::move(p));
            continue;
          }
          size_t start = 0;
          while (start < p.size()) {
            size_t hit = p.find(step.replacement, start + 1);
            if (hit == std::string::npos) hit = p.size();
            next.push_back(p.substr(start, hit - start));
            start = hit;
          }
        }
        break;
    }
    pieces.swap(next);
  }
}

void Tokenizer::Impl::emit_unknown(std::string_view bytes, std::vector<int32_t>& out) const {
  if (d.byte_fallback || d.byte_level) {
    bool all = true;
    for (char c : bytes) all = all && byte_token[static_cast<uint8_t>(c)] >= 0;
    if (all) {
      for (char c : bytes) out.push_back(byte_token[static_cast<uint8_t>(c)]);
      return;
    }
  }
  if (d.unk_id >= 0) out.push_back(d.unk_id);
}

void Tokenizer::Impl::bpe_encode(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.empty()) return;
  // Initial symbols.
  std::vector<int32_t> sym;
  sym.reserve(piece.size());
  if (d.byte_level) {
    if (d.ignore_merges) {
      std::string mapped;
      for (char c : piece) mapped += byte_map.encode(static_cast<uint8_t>(c));
      auto it = piece_to_id.find(mapped);
      if (it != piece_to_id.end()) {
        out.push_back(it->second);
        return;
      }
    }
    for (char c : piece) {
      const int32_t id = byte_token[static_cast<uint8_t>(c)];
      if (id >= 0) {
        sym.push_back(id);
      } else if (d.unk_id >= 0) {
        sym.push_back(d.unk_id);
      }
    }
  } else {
    if (d.ignore_merges) {
      auto it = piece_to_id.find(std::string(piece));
      if (it != piece_to_id.end()) {
        out.push_back(it->second);
        return;
      }
    }
    std::vector<int32_t> tmp;
    for (size_t i = 0; i < piece.size();) {
      const size_t n = utf8_char_bytes(piece, i);
      auto it = piece_to_id.find(std::string(piece.substr(i, n)));
      if (it != piece_to_id.end()) {
        sym.push_back(it->second);
      } else {
        tmp.clear();
        emit_unknown(piece.substr(i, n), tmp);
        sym.insert(sym.end(), tmp.begin(), tmp.end());
      }
      i += n;
    }
  }
  const int n = static_cast<int>(sym.size());
  if (n <= 1) {
    out.insert(out.end(), sym.begin(), sym.end());
    return;
  }
  // Doubly linked list over sym; a candidate is (rank, left position, left id, right id).
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Cand {
    int32_t rank, left;
    int32_t left_id, right_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> q;
  auto push = [&](int left) {
    if (left < 0 || next[left] < 0) return;
    const int right = next[left];
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(sym[left])) << 32) |
                         static_cast<uint32_t>(sym[right]);
    auto it = merges.find(key);
    if (it != merges.end()) q.push({it->second.rank, left, sym[left], sym[right]});
  };
  for (int i = 0; i + 1 < n; ++i) push(i);
  while (!q.empty()) {
    const Cand c = q.top();
    q.pop();
    const int left = c.left;
    if (sym[left] != c.left_id) continue;  // left symbol was merged away or changed
    const int right = next[left];
    if (right < 0 || sym[right] != c.right_id) continue;
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(c.left_id)) << 32) |
                         static_cast<uint32_t>(c.right_id);
    sym[left] = merges.at(key).id;
    sym[right] = -1;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    push(prev[left]);
    push(left);
  }
  for (int i = 0; i >= 0; i = next[i]) out.push_back(sym[i]);
}

}  // namespace sb
