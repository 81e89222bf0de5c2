// sb::Tokenizer: loading (GGUF / tokenizer.json / directory), validation of the
// TokenizerData, special-token splitting, normalisation, encode dispatch to the
// BPE (tokenizer_bpe.cpp) or SentencePiece (tokenizer_spm.cpp) algorithm, and
// decoding (whole sequence and streaming).
#include "core/tokenizer/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/tokenizer/tokenizer_impl.h"
#include "formats/gguf.h"
#include "formats/gguf_tokenizer.h"
#include "formats/tokenizer_json.h"

namespace sb {
namespace {

constexpr const char* kSpaceSymbol = "\xe2\x96\x81";  // U+2581

// Parses "<0xNN>"; -1 when `piece` is not a byte token.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int v = 0;
  for (char c : piece.substr(3, 2)) {
    v <<= 4;
    if (c >= '0' && c <= '9') v |= c - '0';
    else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
    else return -1;
  }
  return v;
}

// Decodes the code point at s[i] (which must be a well-formed sequence of n bytes).
uint32_t decode_cp(std::string_view s, size_t i, size_t n) {
  const auto b = [&](size_t k) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i + k])); };
  switch (n) {
    case 1: return b(0);
    case 2: return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
    case 3: return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
    default: return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
  }
}

bool is_space_char(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string replace_all_copy(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  size_t pos = 0;
  while (true) {
    const size_t hit = from.empty() ? std::string_view::npos : s.find(from, pos);
    if (hit == std::string_view::npos) break;
    out.append(s.substr(pos, hit - pos));
    out.append(to);
    pos = hit + from.size();
  }
  out.append(s.substr(pos));
  return out;
}

bool looks_like_gguf(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

}  // namespace

// ---------------------------------------------------------------- building

Status Tokenizer::Impl::build() {
  const std::string& src = d.source.empty() ? std::string("tokenizer") : d.source;
  const size_t n = d.tokens.size();
  if (n == 0) return corrupt(src + ": the vocabulary is empty");
  if (n > static_cast<size_t>(INT32_MAX)) return corrupt(src + ": vocabulary of " + std::to_string(n) + " tokens is too large");
  if (!d.scores.empty() && d.scores.size() != n) {
    return corrupt(src + ": " + std::to_string(d.scores.size()) + " scores for " + std::to_string(n) + " tokens");
  }
  if (d.token_types.empty()) d.token_types.assign(n, TokenType::kNormal);
  if (!d.token_strip.empty() && d.token_strip.size() != n)
    return corrupt(src + ": " + std::to_string(d.token_strip.size()) + " strip flags for " + std::to_string(n) + " tokens");
  if (d.token_types.size() != n) {
    return corrupt(src + ": " + std::to_string(d.token_types.size()) + " token types for " + std::to_string(n) +
                   " tokens");
  }
  for (size_t i = 0; i < n; ++i) {
    const auto t = static_cast<int32_t>(d.token_types[i]);
    if (t < 1 || t > 6) d.token_types[i] = TokenType::kNormal;  // undefined types behave as normal pieces
    if (d.byte_fallback && d.token_types[i] == TokenType::kNormal && parse_byte_piece(d.tokens[i]) >= 0) {
      d.token_types[i] = TokenType::kByte;
    }
  }
  auto check_id = [&](int32_t id, const char* what) -> Status {
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return corrupt(src + ": " + what + " id " + std::to_string(id) + " is outside the vocabulary of " +
                     std::to_string(n));
    }
    return ok_status();
  };
  SB_RETURN_IF_ERROR(check_id(d.bos_id, "bos"));
  SB_RETURN_IF_ERROR(check_id(d.unk_id, "unknown-token"));
  SB_RETURN_IF_ERROR(check_id(d.pad_id, "padding"));
  for (int32_t id : d.eos_ids) SB_RETURN_IF_ERROR(check_id(id, "eos"));
  d.eos_ids.erase(std::remove(d.eos_ids.begin(), d.eos_ids.end(), -1), d.eos_ids.end());

  // Ordinary pieces first so they win over same-text special entries.
  piece_to_id.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    const TokenType t = d.token_types[i];
    if (t == TokenType::kNormal || t == TokenType::kUserDefined) piece_to_id.emplace(d.tokens[i], static_cast<int32_t>(i));
  }
  if (d.model == TokenizerModel::kBpe) {
    for (size_t i = 0; i < n; ++i) piece_to_id.emplace(d.tokens[i], static_cast<int32_t>(i));
  }
  byte_token.fill(-1);
  if (d.byte_level) {
    for (int b = 0; b < 256; ++b) {
      auto it = piece_to_id.find(byte_map.encode(static_cast<uint8_t>(b)));
      if (it != piece_to_id.end()) byte_token[b] = it->second;
    }
  } else {
    for (size_t i = n; i-- > 0;) {  // lowest id wins
      if (d.token_types[i] != TokenType::kByte) continue;
      const int b = parse_byte_piece(d.tokens[i]);
      if (b >= 0) byte_token[b] = static_cast<int32_t>(i);
    }
  }
  SB_RETURN_IF_ERROR(build_merges());
  SB_RETURN_IF_ERROR(build_specials());

  pre_regexes.clear();
  for (size_t i = 0; i < d.pre_tokenizer.size(); ++i) {
    const PreTokenizerStep& step = d.pre_tokenizer[i];
    std::string pattern;
    if (step.kind == PreTokenizerStep::Kind::kSplit) pattern = step.regex;
    if (step.kind == PreTokenizerStep::Kind::kDigits) pattern = step.individual_digits ? "\\p{N}" : "\\p{N}+";
    if (step.kind == PreTokenizerStep::Kind::kByteLevel && step.use_regex) pattern = step.regex;
    if (pattern.empty()) {
      pre_regexes.emplace_back();
      continue;
    }
    auto re = Regex::compile(pattern);
    if (!re.ok()) return re.status().with_context(src + ": pre-tokenizer " + std::to_string(i));
    pre_regexes.push_back(std::move(re).value());
  }
  normalizer_regexes.clear();
  for (size_t i = 0; i < d.normalizer.size(); ++i) {
    const NormalizerStep& step = d.normalizer[i];
    if (step.kind != NormalizerStep::Kind::kReplace || step.pattern.empty()) {
      normalizer_regexes.emplace_back();
      continue;
    }
    auto re = Regex::compile(step.pattern, !step.pattern_is_regex);
    if (!re.ok()) return re.status().with_context(src + ": normalizer " + std::to_string(i));
    normalizer_regexes.push_back(std::move(re).value());
  }
  build_decoded();
  return ok_status();
}

Status Tokenizer::Impl::build_merges() {
  if (d.model != TokenizerModel::kBpe) return ok_status();
  const std::string& src = d.source;
  merges.reserve(d.merges.size() * 2);
  std::string joined;
  for (size_t r = 0; r < d.merges.size(); ++r) {
    const auto& [a, b] = d.merges[r];
    auto ia = piece_to_id.find(a);
    auto ib = piece_to_id.find(b);
    joined.assign(a).append(b);
    auto ij = piece_to_id.find(joined);
    if (ia == piece_to_id.end() || ib == piece_to_id.end() || ij == piece_to_id.end()) {
      const std::string& missing = ia == piece_to_id.end() ? a : ib == piece_to_id.end() ? b : joined;
      return corrupt(src + ": merge " + std::to_string(r) + " ('" + a + " " + b + "') names '" + missing +
                     "', which is not in the vocabulary");
    }
    const uint64_t key = (static_cast<uint64_t>(static_cast<uint32_t>(ia->second)) << 32) |
                         static_cast<uint32_t>(ib->second);
    merges.emplace(key, MergeInfo{static_cast<int32_t>(r), ij->second});
  }
  return ok_status();
}

Status Tokenizer::Impl::build_specials() {
  for (auto& bucket : specials_by_byte) bucket.clear();
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    const TokenType t = d.token_types[i];
    if (t != TokenType::kControl && t != TokenType::kUserDefined && t != TokenType::kUnknown) continue;
    if (d.tokens[i].empty()) continue;
    specials_by_byte[static_cast<uint8_t>(d.tokens[i][0])].push_back(static_cast<int32_t>(i));
  }
  for (auto& bucket : specials_by_byte) {
    std::stable_sort(bucket.begin(), bucket.end(), [&](int32_t x, int32_t y) {
      return d.tokens[static_cast<size_t>(x)].size() > d.tokens[static_cast<size_t>(y)].size();
    });
  }
  return ok_status();
}

void Tokenizer::Impl::build_decoded() {
  decoded.assign(d.tokens.size(), std::string());
  for (size_t i = 0; i < d.tokens.size(); ++i) {
    const std::string& piece = d.tokens[i];
    std::string& out = decoded[i];
    switch (d.token_types[i]) {
      case TokenType::kControl:
      case TokenType::kUnused:
        break;
      case TokenType::kUnknown:
        out = d.model == TokenizerModel::kSentencePiece ? std::string(" \xe2\x81\x87 ") : piece;
        break;
      case TokenType::kUserDefined:
        out = piece;
        break;
      case TokenType::kByte: {
        const int b = parse_byte_piece(piece);
        out = b >= 0 ? std::string(1, static_cast<char>(b)) : piece;
        break;
      }
      case TokenType::kNormal:
        if (d.byte_level) {
          for (size_t k = 0; k < piece.size();) {
            const size_t len = utf8_sequence_length(piece, k);
            if (len == 0) {
              out.push_back(piece[k++]);
              continue;
            }
            const int b = byte_map.decode(decode_cp(piece, k, len));
            if (b >= 0) {
              out.push_back(static_cast<char>(b));
            } else {
              out.append(piece, k, len);
            }
            k += len;
          }
        } else if (d.unescape_whitespace) {
          out = replace_all_copy(piece, kSpaceSymbol, " ");
        } else {
          out = piece;
        }
        break;
    }
  }
}

// ---------------------------------------------------------------- encoding

std::vector<Fragment> Tokenizer::Impl::split_specials(std::string_view text, bool parse_special) const {
  std::vector<Fragment> frags;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    int32_t found = -1;
    for (int32_t id : specials_by_byte[static_cast<uint8_t>(text[i])]) {
      if (!parse_special && type(id) != TokenType::kUserDefined) continue;
      const std::string& piece = d.tokens[static_cast<size_t>(id)];
      if (text.compare(i, piece.size(), piece) == 0) {
        found = id;
        break;
      }
    }
    if (found < 0) {
      ++i;
      continue;
    }
    // ASCII whitespace beside a stripping token is dropped (llama.cpp's isspace).
    const uint8_t strip = d.token_strip.empty() ? uint8_t{kStripNone} : d.token_strip[static_cast<size_t>(found)];
    size_t left_end = i;
    if (strip & kStripLeft)
      while (left_end > start && std::isspace(static_cast<unsigned char>(text[left_end - 1]))) --left_end;
    if (left_end > start) frags.push_back({-1, text.substr(start, left_end - start)});
    frags.push_back({found, {}});
    i += d.tokens[static_cast<size_t>(found)].size();
    if (strip & kStripRight)
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    start = i;
  }
  if (start < text.size()) frags.push_back({-1, text.substr(start)});
  return frags;
}

std::string Tokenizer::Impl::normalize(std::string_view text, MatchScratch& scratch) const {
  std::string s(text);
  std::vector<std::pair<size_t, size_t>> matches;
  for (size_t i = 0; i < d.normalizer.size(); ++i) {
    const NormalizerStep& step = d.normalizer[i];
    switch (step.kind) {
      case NormalizerStep::Kind::kNfc: s = unicode_normalize(s, NormalForm::kNfc); break;
      case NormalizerStep::Kind::kNfd: s = unicode_normalize(s, NormalForm::kNfd); break;
      case NormalizerStep::Kind::kNfkc: s = unicode_normalize(s, NormalForm::kNfkc); break;
      case NormalizerStep::Kind::kNfkd: s = unicode_normalize(s, NormalForm::kNfkd); break;
      case NormalizerStep::Kind::kLowercase: s = unicode_lowercase(s); break;
      case NormalizerStep::Kind::kPrepend:
        if (!s.empty()) s.insert(0, step.content);
        break;
      case NormalizerStep::Kind::kReplace: {
        if (step.pattern.empty()) break;
        matches.clear();
        normalizer_regexes[i].find_all(s, scratch, matches);
        if (matches.empty()) break;
        std::string out;
        size_t pos = 0;
        for (auto [b, e] : matches) {
          out.append(s, pos, b - pos);
          out.append(step.content);
          pos = e;
        }
        out.append(s, pos, std::string::npos);
        s = std::move(out);
        break;
      }
      case NormalizerStep::Kind::kStripLeft: {
        size_t k = 0;
        while (k < s.size() && is_space_char(s[k])) ++k;
        s.erase(0, k);
        break;
      }
      case NormalizerStep::Kind::kStripRight:
        while (!s.empty() && is_space_char(s.back())) s.pop_back();
        break;
    }
  }
  return s;
}

void Tokenizer::Impl::encode_fragment(std::string_view text, bool prev_special, bool first_fragment,
                                      MatchScratch& scratch, std::vector<int32_t>& out) const {
  std::string s = d.normalizer.empty() ? std::string(text) : normalize(text, scratch);
  if (d.model == TokenizerModel::kSentencePiece) {
    if (d.add_space_prefix && prev_special) s.insert(s.begin(), ' ');
    if (d.escape_whitespace) s = replace_all_copy(s, " ", kSpaceSymbol);
    spm_encode(s, out);
    return;
  }
  std::vector<std::string> pieces;
  pre_tokenize(s, first_fragment, scratch, pieces);
  for (const std::string& p : pieces) bpe_encode(p, out);
}

// ---------------------------------------------------------------- Tokenizer

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::from_data(TokenizerData data) {
  auto impl = std::make_unique<Impl>();
  impl->d = std::move(data);
  SB_RETURN_IF_ERROR(impl->build());
  return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
}

StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const std::string json = (fs::path(path) / "tokenizer.json").string();
    if (!fs::exists(json, ec)) return not_found(path + ": directory has no tokenizer.json");
    SB_ASSIGN_OR_RETURN(TokenizerData data, load_tokenizer_json(json));
    return from_data(std::move(data));
  }
  if (!fs::exists(path, ec)) return not_found(path + ": no such file");
  const bool gguf_name = path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  if (gguf_name || looks_like_gguf(path)) {
    SB_ASSIGN_OR_RETURN(gguf::File file, gguf::File::open(path));
    SB_ASSIGN_OR_RETURN(TokenizerData data, tokenizer_data_from_gguf(file));
    return from_data(std::move(data));
  }
  SB_ASSIGN_OR_RETURN(TokenizerData data, load_tokenizer_json(path));
  return from_data(std::move(data));
}

int Tokenizer::n_vocab() const { return static_cast<int>(impl_->d.tokens.size()); }
int Tokenizer::bos_id() const { return impl_->d.bos_id; }
const std::vector<int>& Tokenizer::eos_ids() const { return impl_->d.eos_ids; }
bool Tokenizer::add_bos_default() const { return impl_->d.add_bos && impl_->d.bos_id >= 0; }
const std::string& Tokenizer::chat_template() const { return impl_->d.chat_template; }
const std::string& Tokenizer::bos_token() const { return token_piece(impl_->d.bos_id); }
const std::string& Tokenizer::eos_token() const {
  return token_piece(impl_->d.eos_ids.empty() ? -1 : impl_->d.eos_ids.front());
}

bool Tokenizer::is_eos(int32_t id) const {
  const auto& e = impl_->d.eos_ids;
  return std::find(e.begin(), e.end(), id) != e.end();
}

void Tokenizer::add_eos_ids(std::span<const int32_t> ids) {
  for (int32_t id : ids) {
    if (id < 0 || id >= n_vocab() || is_eos(id)) continue;
    impl_->d.eos_ids.push_back(id);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  const Impl& m = *impl_;
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 2);
  if (add_bos && m.d.bos_id >= 0) out.push_back(m.d.bos_id);
  if (!text.empty()) {
    MatchScratch scratch;
    bool prev_special = true, first = true;
    for (const Fragment& f : m.split_specials(text, parse_special)) {
      if (f.token >= 0) {
        out.push_back(f.token);
        prev_special = true;
        continue;
      }
      m.encode_fragment(f.text, prev_special, first, scratch, out);
      prev_special = false;
      first = false;
    }
  }
  if (add_bos && m.d.add_eos && !m.d.eos_ids.empty()) out.push_back(m.d.eos_ids.front());
  return out;
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return std::string();
  return impl_->decoded[static_cast<size_t>(id)];
}

const std::string& Tokenizer::token_piece(int32_t id) const {
  static const std::string kEmpty;
  if (id < 0 || id >= n_vocab()) return kEmpty;
  return impl_->d.tokens[static_cast<size_t>(id)];
}

std::string Tokenizer::control_text(int32_t id) const {
  if (id < 0 || id >= n_vocab() || impl_->type(id) != TokenType::kControl) return std::string();
  return impl_->d.tokens[static_cast<size_t>(id)];
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  StreamDecoder dec(*this);
  std::string out;
  for (int32_t id : ids) out += dec.push(id);
  out += dec.finish();
  return out;
}

std::string Tokenizer::summary() const {
  const TokenizerData& d = impl_->d;
  std::string s;
  if (d.model == TokenizerModel::kSentencePiece) {
    s = "SentencePiece BPE";
  } else if (d.byte_level) {
    s = "byte-level BPE";
  } else {
    s = d.byte_fallback ? "BPE with byte fallback" : "BPE";
  }
  s += ", " + std::to_string(d.tokens.size()) + " tokens";
  if (!d.pre_name.empty()) s += ", pre=" + d.pre_name;
  s += ", bos=" + (d.bos_id >= 0 ? std::to_string(d.bos_id) : std::string("none"));
  s += ", eos=";
  if (d.eos_ids.empty()) s += "none";
  for (size_t i = 0; i < d.eos_ids.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(d.eos_ids[i]);
  }
  if (add_bos_default()) s += ", adds bos";
  return s;
}

// ---------------------------------------------------------------- StreamDecoder

bool Tokenizer::drops_leading_space(std::span<const int32_t> context) const {
  return impl_->strip_first_space() &&
         std::all_of(context.begin(), context.end(), [&](int32_t id) { return token_bytes(id).empty(); });
}

StreamDecoder::StreamDecoder(const Tokenizer& tokenizer, std::span<const int32_t> context, bool keep_control)
    : tok_(tokenizer), strip_space_(tokenizer.drops_leading_space(context)), keep_control_(keep_control) {}

std::string StreamDecoder::push(int32_t id) {
  std::string bytes = tok_.token_bytes(id);
  if (bytes.empty() && keep_control_) bytes = tok_.control_text(id);
  if (bytes.empty()) return std::string();
  if (strip_space_) {
    strip_space_ = false;
    if (bytes[0] == ' ') bytes.erase(0, 1);
  }
  pending_ += bytes;
  const size_t hold = utf8_incomplete_tail(pending_);
  std::string out = utf8_sanitize(std::string_view(pending_).substr(0, pending_.size() - hold));
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StreamDecoder::finish() {
  std::string out = utf8_sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace sb
