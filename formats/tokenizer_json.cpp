// tokenizer.json (+ tokenizer_config.json) -> TokenizerData, with simdjson's DOM.
#include "formats/tokenizer_json.h"

#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "formats/json_text.h"
#include "formats/tokenizer_presets.h"

namespace sb {
namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

constexpr const char* kSpaceSymbol = "\xe2\x96\x81";

// Parsing context: the file name for messages and the target data.
struct Reader {
  const std::string& src;
  TokenizerData& d;

  Status bad(const std::string& field, const std::string& what) const {
    return corrupt(src + ": " + field + " " + what);
  }
  Status unsupported_component(const std::string& field, std::string_view type) const {
    return unsupported(src + ": " + field + " of type '" + std::string(type) + "' is not supported");
  }
};

bool has(const object& o, const char* k) {
  element e;
  return !o[k].get(e) && !e.is_null();
}

// Optional typed members: missing or null leave `out` unchanged; a wrong type is an error.
Status opt_bool(const Reader& r, const object& o, const std::string& field, const char* k, bool* out) {
  element e;
  if (o[k].get(e) || e.is_null()) return ok_status();
  if (e.get_bool().get(*out)) return r.bad(field + "." + k, "is not a boolean");
  return ok_status();
}

Status opt_string(const Reader& r, const object& o, const std::string& field, const char* k, std::string* out) {
  element e;
  if (o[k].get(e) || e.is_null()) return ok_status();
  std::string_view sv;
  if (e.get_string().get(sv)) return r.bad(field + "." + k, "is not a string");
  out->assign(sv);
  return ok_status();
}

std::string type_of(const object& o) {
  std::string_view t;
  element e;
  if (o["type"].get(e) || e.get_string().get(t)) return std::string();
  return std::string(t);
}

// A literal string as a PCRE2 pattern.
std::string escape_regex(std::string_view s) {
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// {"Regex": "..."} or {"String": "..."} -> (pattern, is_regex).
Status read_pattern(const Reader& r, const object& o, const std::string& field, std::string* pattern, bool* is_regex) {
  object p;
  if (o["pattern"].get(p)) return r.bad(field + ".pattern", "is missing or not an object");
  std::string_view sv;
  if (!p["Regex"].get_string().get(sv)) {
    *pattern = std::string(sv);
    *is_regex = true;
  } else if (!p["String"].get_string().get(sv)) {
    *pattern = std::string(sv);
    *is_regex = false;
  } else {
    return r.bad(field + ".pattern", "has neither 'Regex' nor 'String'");
  }
  return ok_status();
}

Status read_normalizer(const Reader& r, const object& o, const std::string& field) {
  const std::string t = type_of(o);
  using K = NormalizerStep::Kind;
  if (t == "Sequence") {
    array list;
    if (o["normalizers"].get(list)) return r.bad(field + ".normalizers", "is not an array");
    size_t i = 0;
    for (element e : list) {
      object sub;
      if (e.get(sub)) return r.bad(field + ".normalizers[" + std::to_string(i) + "]", "is not an object");
      SB_RETURN_IF_ERROR(read_normalizer(r, sub, field + ".normalizers[" + std::to_string(i) + "]"));
      ++i;
    }
    return ok_status();
  }
  NormalizerStep step;
  if (t == "NFC") step.kind = K::kNfc;
  else if (t == "NFD") step.kind = K::kNfd;
  else if (t == "NFKC") step.kind = K::kNfkc;
  else if (t == "NFKD") step.kind = K::kNfkd;
  else if (t == "Lowercase") step.kind = K::kLowercase;
  else if (t == "Prepend") {
    step.kind = K::kPrepend;
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "prepend", &step.content));
  } else if (t == "Replace") {
    step.kind = K::kReplace;
    SB_RETURN_IF_ERROR(read_pattern(r, o, field, &step.pattern, &step.pattern_is_regex));
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "content", &step.content));
  } else if (t == "Strip") {
    bool left = true, right = true;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "strip_left", &left));
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "strip_right", &right));
    if (left) r.d.normalizer.push_back({K::kStripLeft, {}, false, {}});
    if (right) r.d.normalizer.push_back({K::kStripRight, {}, false, {}});
    return ok_status();
  } else {
    return r.unsupported_component(field, t);
  }
  r.d.normalizer.push_back(std::move(step));
  return ok_status();
}

Status read_pre_tokenizer(const Reader& r, const object& o, const std::string& field) {
  const std::string t = type_of(o);
  using K = PreTokenizerStep::Kind;
  PreTokenizerStep step;
  if (t == "Sequence") {
    array list;
    if (o["pretokenizers"].get(list)) return r.bad(field + ".pretokenizers", "is not an array");
    size_t i = 0;
    for (element e : list) {
      object sub;
      const std::string sub_field = field + ".pretokenizers[" + std::to_string(i++) + "]";
      if (e.get(sub)) return r.bad(sub_field, "is not an object");
      SB_RETURN_IF_ERROR(read_pre_tokenizer(r, sub, sub_field));
    }
    return ok_status();
  }
  if (t == "Split") {
    step.kind = K::kSplit;
    bool is_regex = true;
    SB_RETURN_IF_ERROR(read_pattern(r, o, field, &step.regex, &is_regex));
    if (!is_regex) step.regex = escape_regex(step.regex);
    bool invert = false;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "invert", &invert));
    if (invert) return unsupported(r.src + ": " + field + ".invert = true is not supported");
    std::string behavior = "Isolated";
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "behavior", &behavior));
    using B = PreTokenizerStep::Behavior;
    if (behavior == "Isolated") step.behavior = B::kIsolated;
    else if (behavior == "Removed") step.behavior = B::kRemoved;
    else if (behavior == "MergedWithPrevious") step.behavior = B::kMergedWithPrevious;
    else if (behavior == "MergedWithNext") step.behavior = B::kMergedWithNext;
    else if (behavior == "Contiguous") step.behavior = B::kContiguous;
    else return r.bad(field + ".behavior", "'" + behavior + "' is not a split behavior");
  } else if (t == "ByteLevel") {
    step.kind = K::kByteLevel;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "add_prefix_space", &step.add_prefix_space));
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "use_regex", &step.use_regex));
    step.regex = gpt2_split_regex();
    r.d.byte_level = true;
  } else if (t == "Metaspace") {
    step.kind = K::kMetaspace;
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "replacement", &step.replacement));
    step.split = true;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "split", &step.split));
    bool add_prefix_space = true;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "add_prefix_space", &add_prefix_space));
    std::string scheme = add_prefix_space ? "always" : "never";
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "prepend_scheme", &scheme));
    if (scheme == "always") step.prepend = PreTokenizerStep::Prepend::kAlways;
    else if (scheme == "first") step.prepend = PreTokenizerStep::Prepend::kFirst;
    else if (scheme == "never") step.prepend = PreTokenizerStep::Prepend::kNever;
    else return r.bad(field + ".prepend_scheme", "'" + scheme + "' is not always/first/never");
    if (step.replacement.empty()) return r.bad(field + ".replacement", "is empty");
  } else if (t == "Digits") {
    step.kind = K::kDigits;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "individual_digits", &step.individual_digits));
  } else {
    return r.unsupported_component(field, t);
  }
  r.d.pre_tokenizer.push_back(std::move(step));
  return ok_status();
}

// Decoder: only the switches that matter for ours (byte-level, ▁ -> ' ', strip).
Status read_decoder(const Reader& r, const object& o, const std::string& field) {
  const std::string t = type_of(o);
  if (t == "Sequence") {
    array list;
    if (o["decoders"].get(list)) return r.bad(field + ".decoders", "is not an array");
    size_t i = 0;
    for (element e : list) {
      object sub;
      const std::string sub_field = field + ".decoders[" + std::to_string(i++) + "]";
      if (e.get(sub)) return r.bad(sub_field, "is not an object");
      SB_RETURN_IF_ERROR(read_decoder(r, sub, sub_field));
    }
  } else if (t == "ByteLevel") {
    r.d.byte_level = true;
  } else if (t == "Replace") {
    std::string pattern, content;
    bool is_regex = false;
    SB_RETURN_IF_ERROR(read_pattern(r, o, field, &pattern, &is_regex));
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "content", &content));
    if (pattern == kSpaceSymbol && content == " ") r.d.unescape_whitespace = true;
  } else if (t == "Strip") {
    int64_t start = 0;
    if (!o["start"].get_int64().get(start) && start > 0) r.d.strip_leading_space = true;
  } else if (t == "Metaspace") {
    r.d.unescape_whitespace = true;
    std::string scheme = "always";
    bool add_prefix_space = true;
    SB_RETURN_IF_ERROR(opt_bool(r, o, field, "add_prefix_space", &add_prefix_space));
    if (!add_prefix_space) scheme = "never";
    SB_RETURN_IF_ERROR(opt_string(r, o, field, "prepend_scheme", &scheme));
    if (scheme != "never") r.d.strip_leading_space = true;
  }
  // ByteFallback, Fuse and others need nothing: byte tokens always decode to bytes.
  return ok_status();
}

Status read_model(const Reader& r, const object& model, std::unordered_map<std::string, int32_t>& vocab_ids,
                  size_t n_added) {
  const std::string t = type_of(model);
  if (!t.empty() && t != "BPE") return r.unsupported_component("model", t);
  object vocab;
  if (model["vocab"].get(vocab)) return r.bad("model.vocab", "is missing or not an object");
  const size_t n_entries = vocab.size();
  const size_t limit = n_entries + n_added + 65536;  // ids beyond this would be absurd holes
  std::vector<std::string>& tokens = r.d.tokens;
  std::vector<bool> seen;
  for (auto [k, v] : vocab) {
    int64_t id = -1;
    if (v.get_int64().get(id) || id < 0 || static_cast<size_t>(id) >= limit) {
      return r.bad("model.vocab", "entry '" + std::string(k) + "' has an invalid id (not an integer in 0.." +
                                      std::to_string(limit - 1) + ")");
    }
    const auto i = static_cast<size_t>(id);
    if (i >= tokens.size()) {
      tokens.resize(i + 1);
      seen.resize(i + 1, false);
    }
    if (seen[i]) return r.bad("model.vocab", "id " + std::to_string(id) + " is used twice");
    seen[i] = true;
    tokens[i] = std::string(k);
    vocab_ids.emplace(std::string(k), static_cast<int32_t>(id));
  }
  SB_RETURN_IF_ERROR(opt_bool(r, model, "model", "byte_fallback", &r.d.byte_fallback));
  SB_RETURN_IF_ERROR(opt_bool(r, model, "model", "ignore_merges", &r.d.ignore_merges));
  std::string prefix, suffix;
  SB_RETURN_IF_ERROR(opt_string(r, model, "model", "continuing_subword_prefix", &prefix));
  SB_RETURN_IF_ERROR(opt_string(r, model, "model", "end_of_word_suffix", &suffix));
  if (!prefix.empty() || !suffix.empty()) {
    return unsupported(r.src + ": model.continuing_subword_prefix / end_of_word_suffix are not supported");
  }
  std::string unk;
  SB_RETURN_IF_ERROR(opt_string(r, model, "model", "unk_token", &unk));
  if (!unk.empty()) {
    auto it = vocab_ids.find(unk);
    if (it == vocab_ids.end()) return r.bad("model.unk_token", "'" + unk + "' is not in the vocabulary");
    r.d.unk_id = it->second;
  }
  array merges;
  if (model["merges"].get(merges)) {
    if (has(model, "merges")) return r.bad("model.merges", "is not an array");
    return ok_status();
  }
  r.d.merges.reserve(merges.size());
  size_t i = 0;
  for (element e : merges) {
    const std::string field = "model.merges[" + std::to_string(i++) + "]";
    std::string_view s;
    array pair;
    if (!e.get_string().get(s)) {
      const size_t sp = s.find(' ');
      if (sp == std::string_view::npos || s.find(' ', sp + 1) != std::string_view::npos) {
        return r.bad(field, "'" + std::string(s) + "' is not two tokens separated by one space");
      }
      r.d.merges.emplace_back(std::string(s.substr(0, sp)), std::string(s.substr(sp + 1)));
    } else if (!e.get(pair) && pair.size() == 2) {
      std::string_view a, b;
      if (pair.at(0).get_string().get(a) || pair.at(1).get_string().get(b)) {
        return r.bad(field, "is not a pair of strings");
      }
      r.d.merges.emplace_back(std::string(a), std::string(b));
    } else {
      return r.bad(field, "is neither \"a b\" nor [\"a\", \"b\"]");
    }
  }
  return ok_status();
}

// bos_token / eos_token in tokenizer_config.json: a string or {"content": ...}.
// Not `required`: a token that is not in the vocabulary is ignored.
Status config_token(const Reader& r, const object& cfg, const char* k, const std::unordered_map<std::string, int32_t>& ids,
                    int32_t* out, bool required = true) {
  element e;
  if (cfg[k].get(e) || e.is_null()) return ok_status();
  std::string_view content;
  if (e.get_string().get(content)) {
    object o;
    if (e.get(o) || o["content"].get_string().get(content)) {
      return r.bad(std::string("tokenizer_config.json ") + k, "is neither a string nor {\"content\": ...}");
    }
  }
  auto it = ids.find(std::string(content));
  if (it == ids.end()) {
    if (!required) return ok_status();
    return r.bad(std::string("tokenizer_config.json ") + k, "'" + std::string(content) + "' is not a token");
  }
  *out = it->second;
  return ok_status();
}

// tokenizer_config.json chat_template: a string, or a list of {"name", "template"}
// of which "default" (else the first) is the model's template.
Status read_chat_template(const Reader& r, const object& cfg) {
  element e;
  if (cfg["chat_template"].get(e) || e.is_null()) return ok_status();
  std::string_view text;
  if (!e.get_string().get(text)) {
    r.d.chat_template = std::string(text);
    return ok_status();
  }
  array list;
  if (e.get(list)) return r.bad("tokenizer_config.json chat_template", "is neither a string nor a list");
  bool found_default = false;
  for (element item : list) {
    std::string_view name, body;
    if (item["name"].get_string().get(name) || item["template"].get_string().get(body)) {
      return r.bad("tokenizer_config.json chat_template", "entries need string 'name' and 'template'");
    }
    if (name == "default" || (r.d.chat_template.empty() && !found_default)) r.d.chat_template = std::string(body);
    found_default = found_default || name == "default";
  }
  return ok_status();
}

std::string read_whole(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

StatusOr<TokenizerData> parse_tokenizer_json(std::string_view json, std::string_view config_json,
                                             const std::string& source) {
  TokenizerData d;
  d.source = source;
  d.model = TokenizerModel::kBpe;
  Reader r{source, d};
  simdjson::dom::parser parser;
  const simdjson::padded_string padded = padded_json(json);
  element root_el;
  if (auto err = parser.parse(padded).get(root_el)) {
    return corrupt(source + ": not valid JSON (" + simdjson::error_message(err) + ")");
  }
  object root;
  if (root_el.get(root)) return corrupt(source + ": the top level is not a JSON object");

  // added_tokens first counted, so vocabulary id limits account for them.
  array added;
  const bool have_added = !root["added_tokens"].get(added);
  object model;
  if (root["model"].get(model)) return corrupt(source + ": 'model' is missing or not an object");
  std::unordered_map<std::string, int32_t> ids;
  SB_RETURN_IF_ERROR(read_model(r, model, ids, have_added ? added.size() : 0));
  const size_t n_model = d.tokens.size();
  d.token_types.assign(n_model, TokenType::kNormal);

  std::vector<bool> in_model(n_model, false);
  for (const auto& [text, id] : ids) in_model[static_cast<size_t>(id)] = true;
  if (have_added) {
    const size_t limit = n_model + added.size() + 65536;
    size_t i = 0;
    for (element e : added) {
      const std::string field = "added_tokens[" + std::to_string(i++) + "]";
      object o;
      int64_t id = -1;
      std::string_view content;
      if (e.get(o) || o["id"].get_int64().get(id) || o["content"].get_string().get(content)) {
        return r.bad(field, "needs an integer 'id' and a string 'content'");
      }
      if (id < 0 || static_cast<size_t>(id) >= limit) return r.bad(field + ".id", std::to_string(id) + " is out of range");
      bool special = false;
      SB_RETURN_IF_ERROR(opt_bool(r, o, field, "special", &special));
      const auto u = static_cast<size_t>(id);
      if (u >= d.tokens.size()) {
        d.tokens.resize(u + 1);
        d.token_types.resize(u + 1, TokenType::kUnused);
      }
      d.tokens[u] = std::string(content);
      d.token_types[u] = special ? TokenType::kControl : TokenType::kUserDefined;
      ids[std::string(content)] = static_cast<int32_t>(id);
    }
  }
  for (size_t i = n_model; i < d.tokens.size(); ++i) {
    if (d.tokens[i].empty() && d.token_types[i] == TokenType::kUnused) d.tokens[i] = "[UNUSED" + std::to_string(i) + "]";
  }
  for (size_t i = 0; i < n_model; ++i) {
    if (!in_model[i] && d.token_types[i] == TokenType::kNormal) d.token_types[i] = TokenType::kUnused;
  }
  if (d.unk_id >= 0) d.token_types[static_cast<size_t>(d.unk_id)] = TokenType::kUnknown;

  object o;
  if (!root["normalizer"].get(o)) SB_RETURN_IF_ERROR(read_normalizer(r, o, "normalizer"));
  if (!root["pre_tokenizer"].get(o)) SB_RETURN_IF_ERROR(read_pre_tokenizer(r, o, "pre_tokenizer"));
  if (!root["decoder"].get(o)) SB_RETURN_IF_ERROR(read_decoder(r, o, "decoder"));
  d.pre_name = "tokenizer.json";

  // post_processor TemplateProcessing that starts with a special token: BOS added by default.
  if (!root["post_processor"].get(o)) {
    object pp = o;
    if (type_of(o) == "Sequence") {
      array procs;
      if (!o["processors"].get(procs)) {
        for (element e : procs) {
          object p;
          if (!e.get(p) && type_of(p) == "TemplateProcessing") pp = p;
        }
      }
    }
    array single;
    if (type_of(pp) == "TemplateProcessing" && !pp["single"].get(single) && single.size() > 0) {
      std::string_view first;
      if (!single.at(0)["SpecialToken"]["id"].get_string().get(first)) {
        auto it = ids.find(std::string(first));
        if (it != ids.end()) {
          d.bos_id = it->second;
          d.add_bos = true;
        }
      }
    }
  }

  if (!config_json.empty()) {
    const std::string cfg_name =
        (std::filesystem::path(source).parent_path() / "tokenizer_config.json").string();
    element cfg_el;
    const simdjson::padded_string cfg_padded = padded_json(config_json);
    simdjson::dom::parser cfg_parser;
    if (auto err = cfg_parser.parse(cfg_padded).get(cfg_el)) {
      return corrupt(cfg_name + ": not valid JSON (" + simdjson::error_message(err) + ")");
    }
    object cfg;
    if (cfg_el.get(cfg)) return corrupt(cfg_name + ": the top level is not a JSON object");
    SB_RETURN_IF_ERROR(config_token(r, cfg, "bos_token", ids, &d.bos_id));
    int32_t eos = -1;
    SB_RETURN_IF_ERROR(config_token(r, cfg, "eos_token", ids, &eos));
    if (eos >= 0) d.eos_ids.push_back(eos);
    SB_RETURN_IF_ERROR(config_token(r, cfg, "unk_token", ids, &d.unk_id, false));
    SB_RETURN_IF_ERROR(config_token(r, cfg, "pad_token", ids, &d.pad_id, false));
    SB_RETURN_IF_ERROR(opt_bool(r, cfg, "tokenizer_config.json", "add_bos_token", &d.add_bos));
    SB_RETURN_IF_ERROR(opt_bool(r, cfg, "tokenizer_config.json", "add_eos_token", &d.add_eos));
    SB_RETURN_IF_ERROR(read_chat_template(r, cfg));
  }
  if (d.byte_level) d.byte_fallback = false;
  add_end_of_generation_ids(d);
  return d;
}

StatusOr<TokenizerData> load_tokenizer_json(const std::string& path) {
  bool ok = false;
  const std::string json = read_whole(path, &ok);
  if (!ok) return io_error(path + ": cannot be read");
  const std::string cfg_path = (std::filesystem::path(path).parent_path() / "tokenizer_config.json").string();
  std::string cfg;
  std::error_code ec;
  if (std::filesystem::exists(cfg_path, ec)) {
    cfg = read_whole(cfg_path, &ok);
    if (!ok) return io_error(cfg_path + ": cannot be read");
  }
  SB_ASSIGN_OR_RETURN(TokenizerData d, parse_tokenizer_json(json, cfg, path));
  // Newer Hugging Face directories keep the template in its own file.
  const std::string jinja_path = (std::filesystem::path(path).parent_path() / "chat_template.jinja").string();
  if (d.chat_template.empty() && std::filesystem::exists(jinja_path, ec)) {
    d.chat_template = read_whole(jinja_path, &ok);
    if (!ok) return io_error(jinja_path + ": cannot be read");
  }
  return d;
}

}  // namespace sb
