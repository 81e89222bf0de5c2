// Helpers for the constraint tests: a byte vocabulary (token b is byte b,
// token 256 ends the text), matching a whole text, random texts a grammar
// accepts, and the allowed-token mask computed the slow way (every token tried).
#pragma once

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/constrain/constraint.h"
#include "core/constrain/matcher.h"

namespace sb::test {

inline std::shared_ptr<const constrain::Vocabulary> byte_vocabulary() {
  std::vector<std::string> bytes(257);
  for (int b = 0; b < 256; ++b) bytes[static_cast<size_t>(b)] = std::string(1, static_cast<char>(b));
  const int32_t end = 256;
  return constrain::Vocabulary::from_bytes(std::move(bytes), std::span<const int32_t>(&end, 1));
}

inline std::shared_ptr<constrain::TokenTables> tables_of(constrain::Grammar g,
                                                         std::shared_ptr<const constrain::Vocabulary> v) {
  return std::make_shared<constrain::TokenTables>(std::make_shared<const constrain::Grammar>(std::move(g)), std::move(v));
}

inline std::shared_ptr<constrain::TokenTables> compiled(const constrain::ConstraintSpec& spec,
                                                        std::shared_ptr<const constrain::Vocabulary> v) {
  auto g = constrain::compile_constraint(spec);
  REQUIRE_MESSAGE(g.ok(), g.status().to_string());
  return tables_of(std::move(g).value(), std::move(v));
}

// Whether the whole text matches (tables over byte_vocabulary()).
inline bool matches(const std::shared_ptr<constrain::TokenTables>& t, std::string_view text) {
  constrain::Matcher m(t);
  for (char c : text)
    if (!m.advance(static_cast<uint8_t>(c))) return false;
  return m.is_complete();
}

// The tokens the matcher accepts next, found by trying each one.
inline std::vector<uint64_t> brute_force_mask(constrain::Matcher& m) {
  const int n = m.tables().vocabulary().n_vocab();
  std::vector<uint64_t> mask(static_cast<size_t>((n + 63) / 64), 0);
  for (int32_t id = 0; id < n; ++id)
    if (m.advance(id)) {
      mask[static_cast<size_t>(id) >> 6] |= uint64_t{1} << (id & 63);
      m.rollback(1);
    }
  return mask;
}

inline std::vector<int32_t> allowed_ids(const std::vector<uint64_t>& mask) {
  std::vector<int32_t> out;
  for (size_t w = 0; w < mask.size(); ++w)
    for (uint64_t bits = mask[w]; bits != 0; bits &= bits - 1)
      out.push_back(static_cast<int32_t>(w * 64 + static_cast<size_t>(__builtin_ctzll(bits))));
  return out;
}

// A random text the grammar accepts (tables over byte_vocabulary()), drawn
// byte by byte from the mask; past `budget` bytes closing bytes and the end
// are preferred. nullopt when no end was reached within 8 * budget bytes.
inline std::optional<std::string> random_text(const std::shared_ptr<constrain::TokenTables>& t, std::mt19937_64& rng,
                                              size_t budget = 40) {
  constrain::Matcher m(t);
  std::vector<uint64_t> mask(5);
  std::string out;
  while (out.size() < 8 * budget) {
    m.fill_mask(mask);
    const std::vector<int32_t> ids = allowed_ids(mask);
    REQUIRE(!ids.empty());
    const bool can_end = ids.back() == 256;
    const bool late = out.size() > budget;
    if (can_end && (late || ids.size() == 1 || rng() % 4 == 0)) return out;
    std::vector<int32_t> pick;
    if (late)
      for (int32_t id : ids)
        if (id == '"' || id == '}' || id == ']') pick.push_back(id);
    if (pick.empty()) {
      // A run of consecutive allowed bytes first, then its first, its last or
      // any byte of it, so a lone '@' is as likely as the whole of [a-z].
      std::vector<size_t> runs;
      for (size_t i = 0; i < ids.size() - (can_end ? 1 : 0); ++i)
        if (i == 0 || ids[i] != ids[i - 1] + 1) runs.push_back(i);
      const size_t r = rng() % runs.size();
      const size_t end = r + 1 < runs.size() ? runs[r + 1] : ids.size() - (can_end ? 1 : 0);
      const size_t k = rng() % 3;
      pick.assign(ids.begin() + static_cast<long>(k == 2 ? end - 1 : runs[r]),
                  ids.begin() + static_cast<long>(k == 0 ? runs[r] + 1 : end));
    }
    const int32_t id = pick[rng() % pick.size()];
    REQUIRE(m.advance(id));
    out.push_back(static_cast<char>(id));
  }
  return std::nullopt;
}

// A random schema of nested objects, arrays, enums, bounded numbers, formatted
// and patterned strings and unions. max_length >= 0 keeps every text bounded
// (free strings at most that long, integers for numbers, no email), for models
// that would rarely close a string or stop writing digits.
inline std::string random_schema(std::mt19937_64& rng, int depth, int max_length = -1) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
  const int kind = depth >= 3 ? pick(7) : pick(10);
  switch (kind) {
    case 0:
      return max_length < 0 ? R"({"type":"string"})"
                            : R"({"type":"string","maxLength":)" + std::to_string(1 + pick(max_length)) + "}";
    case 1: {
      const char* formats[] = {"date", "date-time", "uuid", "time", "email"};
      return std::string(R"({"type":"string","format":")") + formats[pick(max_length < 0 ? 5 : 4)] + "\"}";
    }
    case 2: {
      const int lo = pick(200) - 100, span = pick(50);
      return R"({"type":"integer","minimum":)" + std::to_string(lo) + R"(,"maximum":)" + std::to_string(lo + span) + "}";
    }
    case 3: {
      if (max_length >= 0) return R"({"type":"integer","minimum":-5,"exclusiveMaximum":3000})";
      const double lo = (pick(2000) - 1000) / 100.0;
      return R"({"type":"number","exclusiveMinimum":)" + std::to_string(lo) + (pick(2) ? R"(,"maximum":)" +
             std::to_string(lo + pick(300) / 10.0) : std::string()) + "}";
    }
    case 4: return pick(2) ? R"({"enum":["red","green","blue",1,null]})" : R"({"const":"fixed \"value\""})";
    case 5: return pick(2) ? R"({"type":"boolean"})" : R"({"type":["integer","null"],"minimum":-99,"maximum":9})";
    case 6: return R"({"type":"string","pattern":"^[a-f0-9]{2,6}(-[xy])?$"})";
    case 7: {
      std::string s = R"({"type":"object","properties":{)";
      const int n = 1 + pick(4);
      std::string required;
      for (int i = 0; i < n; ++i) {
        s += (i ? "," : "") + std::string("\"f") + std::to_string(i) + "\":" + random_schema(rng, depth + 1, max_length);
        if (pick(3)) required += std::string(required.empty() ? "" : ",") + "\"f" + std::to_string(i) + "\"";
      }
      return s + R"(},"required":[)" + required + "]" + (pick(2) ? R"(,"additionalProperties":false)" : "") + "}";
    }
    case 8: {
      const int min = pick(3);
      return R"({"type":"array","items":)" + random_schema(rng, depth + 1, max_length) + R"(,"minItems":)" + std::to_string(min) +
             R"(,"maxItems":)" + std::to_string(min + pick(3)) + "}";
    }
    default:
      return R"({"anyOf":[)" + random_schema(rng, depth + 1, max_length) + "," + random_schema(rng, depth + 1, max_length) + "]}";
  }
}

}  // namespace sb::test
