#include "formats/record.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "formats/json_writer.h"
#include "formats/request_fields.h"

namespace sb {

const char* record_error_code_name(RecordErrorCode code) {
  switch (code) {
    case RecordErrorCode::kInvalidJson: return "invalid_json";
    case RecordErrorCode::kMissingPrompt: return "missing_prompt";
    case RecordErrorCode::kInvalidParam: return "invalid_param";
    case RecordErrorCode::kInvalidUtf8: return "invalid_utf8";
    case RecordErrorCode::kUnsupported: return "unsupported";
    case RecordErrorCode::kPromptTooLong: return "prompt_too_long";
    case RecordErrorCode::kTemplateError: return "template_error";
    case RecordErrorCode::kConstraintDeadEnd: return "constraint_dead_end";
    case RecordErrorCode::kInternal: return "internal";
    case RecordErrorCode::kUnsupportedParam: return "unsupported_param";
    case RecordErrorCode::kUnsupportedEndpoint: return "unsupported_endpoint";
  }
  return "unknown";
}

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::optional<RecordError> make_error(RecordErrorCode code, std::string message) {
  return RecordError{code, std::move(message)};
}

const char* type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::INT64:
    case element_type::UINT64: return "an integer";
    case element_type::DOUBLE: return "a number";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
  }
  return "a value";
}

// Looks up `key`; false when absent or JSON null (both mean "use the default").
bool find_field(const object& obj, std::string_view key, element* out) {
  element e;
  if (obj.at_key(key).get(e) != simdjson::SUCCESS) return false;
  if (e.type() == element_type::NULL_VALUE) return false;
  *out = e;
  return true;
}

std::optional<RecordError> wrong_type(std::string_view key, const char* want, const element& e) {
  return make_error(RecordErrorCode::kInvalidParam,
                    std::string(key) + " must be " + want + ", got " + type_name(e.type()));
}

// Integers may be written as 3 or 3.0, never 3.5.
std::optional<RecordError> get_integer(const object& obj, std::string_view key, std::optional<int64_t>* out) {
  element e;
  if (!find_field(obj, key, &e)) return std::nullopt;
  switch (e.type()) {
    case element_type::INT64: *out = int64_t(e); return std::nullopt;
    case element_type::UINT64:
      return make_error(RecordErrorCode::kInvalidParam, std::string(key) + " is too large");
    case element_type::DOUBLE: {
      const double d = double(e);
      if (std::floor(d) != d || std::fabs(d) > 9.0e15) return wrong_type(key, "an integer", e);
      *out = static_cast<int64_t>(d);
      return std::nullopt;
    }
    default: return wrong_type(key, "an integer", e);
  }
}

std::optional<RecordError> get_number(const object& obj, std::string_view key, std::optional<double>* out) {
  element e;
  if (!find_field(obj, key, &e)) return std::nullopt;
  double d = 0;
  if (e.get_double().get(d) != simdjson::SUCCESS) return wrong_type(key, "a number", e);
  *out = d;
  return std::nullopt;
}

std::optional<RecordError> logprobs_range(std::string_view key, int64_t k) {
  if (k >= 0 && k <= kRecordMaxLogprobs) return std::nullopt;
  return make_error(RecordErrorCode::kInvalidParam, std::string(key) + " must be in [0, " +
                                                        std::to_string(kRecordMaxLogprobs) + "], got " +
                                                        std::to_string(k));
}

// "logprobs": K (completions style) or true/false with "top_logprobs": K (chat style).
std::optional<RecordError> parse_logprobs(const object& obj, RecordParams* p) {
  std::optional<int64_t> top;
  std::optional<RecordError> err;
  if ((err = get_integer(obj, "top_logprobs", &top))) return err;
  if (top && (err = logprobs_range("top_logprobs", *top))) return err;
  element e;
  const bool given = find_field(obj, "logprobs", &e);
  if (given && e.type() == element_type::BOOL) {
    if (top && !bool(e)) return make_error(RecordErrorCode::kInvalidParam, "top_logprobs needs \"logprobs\": true");
    p->logprobs = bool(e) ? static_cast<int>(top.value_or(0)) : -1;
    return std::nullopt;
  }
  if (top)
    return make_error(RecordErrorCode::kInvalidParam,
                      "top_logprobs needs \"logprobs\": true (or give \"logprobs\": K alone)");
  std::optional<int64_t> k;
  if ((err = get_integer(obj, "logprobs", &k))) return err;
  if (k && (err = logprobs_range("logprobs", *k))) return err;
  if (k) p->logprobs = static_cast<int>(*k);
  return std::nullopt;
}

std::optional<RecordError> constraint_string(const element& e, const char* key, ConstraintKind kind,
                                             std::optional<ConstraintSpec>* out) {
  if (e.type() != element_type::STRING) return wrong_type(key, "a string", e);
  *out = ConstraintSpec{kind, std::string(std::string_view(e)), {}, key};
  return std::nullopt;
}

std::optional<RecordError> parse_response_format(const element& e, std::optional<ConstraintSpec>* out) {
  object rf;
  if (e.get_object().get(rf) != simdjson::SUCCESS) return wrong_type("response_format", "an object", e);
  element type;
  if (!find_field(rf, "type", &type) || type.type() != element_type::STRING)
    return make_error(RecordErrorCode::kInvalidParam, "response_format needs \"type\": \"text\", \"json_object\" "
                                                      "or \"json_schema\"");
  const std::string_view t(type);
  if (t == "text") {
    *out = ConstraintSpec{ConstraintKind::kNone, "", {}, "response_format"};
    return std::nullopt;
  }
  if (t == "json_object") {
    *out = ConstraintSpec{ConstraintKind::kJsonObject, "", {}, "response_format"};
    return std::nullopt;
  }
  if (t != "json_schema")
    return make_error(RecordErrorCode::kInvalidParam, "response_format.type must be \"text\", \"json_object\" or "
                                                      "\"json_schema\", got \"" + std::string(t) + "\"");
  element js, schema, v;
  object js_obj;
  if (!find_field(rf, "json_schema", &js) || js.get_object().get(js_obj) != simdjson::SUCCESS)
    return make_error(RecordErrorCode::kInvalidParam, "response_format.json_schema must be an object with a \"schema\"");
  if (find_field(js_obj, "name", &v) && v.type() != element_type::STRING)
    return wrong_type("response_format.json_schema.name", "a string", v);
  if (find_field(js_obj, "strict", &v) && v.type() != element_type::BOOL)
    return wrong_type("response_format.json_schema.strict", "true or false", v);
  if (!find_field(js_obj, "schema", &schema) ||
      (schema.type() != element_type::OBJECT && schema.type() != element_type::BOOL))
    return make_error(RecordErrorCode::kInvalidParam, "response_format.json_schema.schema must be a JSON schema object");
  *out = ConstraintSpec{ConstraintKind::kJsonSchema, simdjson::minify(schema), {}, "response_format.json_schema.schema"};
  return std::nullopt;
}

// At most one of the constraint fields.
std::optional<RecordError> parse_constraint(const object& obj, std::optional<ConstraintSpec>* out) {
  static constexpr const char* kFields[] = {"response_format", "guided_json", "guided_regex", "guided_choice",
                                            "guided_grammar"};
  const char* given = nullptr;
  element e;
  for (const char* key : kFields) {
    if (!find_field(obj, key, &e)) continue;
    if (given != nullptr)
      return make_error(RecordErrorCode::kInvalidParam, std::string("give one output constraint, not both ") + given +
                                                            " and " + key);
    given = key;
    std::optional<RecordError> err;
    const std::string_view k(key);
    if (k == "response_format") {
      err = parse_response_format(e, out);
    } else if (k == "guided_json") {
      if (e.type() == element_type::STRING) {
        err = constraint_string(e, key, ConstraintKind::kJsonSchema, out);
      } else if (e.type() == element_type::OBJECT || e.type() == element_type::BOOL) {
        *out = ConstraintSpec{ConstraintKind::kJsonSchema, simdjson::minify(e), {}, key};
      } else {
        err = wrong_type(key, "a JSON schema (an object, or its JSON text)", e);
      }
    } else if (k == "guided_regex") {
      err = constraint_string(e, key, ConstraintKind::kRegex, out);
    } else if (k == "guided_grammar") {
      err = constraint_string(e, key, ConstraintKind::kGrammar, out);
    } else {
      simdjson::dom::array arr;
      if (e.get_array().get(arr) != simdjson::SUCCESS || arr.size() == 0)
        return wrong_type(key, "a non-empty list of strings", e);
      ConstraintSpec spec{ConstraintKind::kChoice, "", {}, key};
      for (element c : arr) {
        if (c.type() != element_type::STRING) return wrong_type(key, "a list of strings", e);
        spec.choices.emplace_back(std::string_view(c));
      }
      *out = std::move(spec);
    }
    if (err) return err;
  }
  return std::nullopt;
}

// "max_tokens", or OpenAI's newer name "max_completion_tokens"; both must agree.
std::optional<RecordError> parse_max_tokens(const object& obj, RecordParams* p) {
  std::optional<RecordError> err;
  std::optional<int64_t> completion;
  if ((err = get_integer(obj, "max_tokens", &p->max_tokens))) return err;
  if ((err = get_integer(obj, "max_completion_tokens", &completion))) return err;
  if (p->max_tokens && completion && *p->max_tokens != *completion)
    return make_error(RecordErrorCode::kInvalidParam, "max_tokens (" + std::to_string(*p->max_tokens) +
                                                          ") and max_completion_tokens (" +
                                                          std::to_string(*completion) + ") differ; give one");
  if (completion) p->max_tokens = completion;
  return std::nullopt;
}

// "logit_bias": {"TOKEN_ID": BIAS, ...} (OpenAI's shape: ids as keys).
std::optional<RecordError> parse_logit_bias(const object& obj, RecordParams* p) {
  element e;
  if (!find_field(obj, "logit_bias", &e)) return std::nullopt;
  object bias;
  if (e.get_object().get(bias) != simdjson::SUCCESS) return wrong_type("logit_bias", "an object", e);
  std::vector<std::pair<int32_t, float>> out;
  for (const auto field : bias) {
    const std::string_view key = field.key;
    int64_t id = 0;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
    if (ec != std::errc() || end != key.data() + key.size() || key.empty() || id < 0 ||
        id > std::numeric_limits<int32_t>::max())
      return make_error(RecordErrorCode::kInvalidParam,
                        "logit_bias keys must be token ids (non-negative integers), got \"" + std::string(key) + "\"");
    double v = 0;
    if (field.value.get_double().get(v) != simdjson::SUCCESS || !(v >= -100 && v <= 100))
      return make_error(RecordErrorCode::kInvalidParam,
                        "logit_bias values must be numbers in [-100, 100], got " + simdjson::minify(field.value) +
                            " for token " + std::string(key));
    for (const auto& given : out)
      if (given.first == id)
        return make_error(RecordErrorCode::kInvalidParam, "logit_bias gives token " + std::string(key) + " twice");
    out.emplace_back(static_cast<int32_t>(id), static_cast<float>(v));
  }
  p->logit_bias = std::move(out);
  return std::nullopt;
}

std::optional<RecordError> parse_penalties(const object& obj, RecordParams* p) {
  std::optional<RecordError> err;
  if ((err = get_number(obj, "repetition_penalty", &p->repetition_penalty))) return err;
  if (p->repetition_penalty && !(*p->repetition_penalty > 0 && *p->repetition_penalty < 1e30))
    return make_error(RecordErrorCode::kInvalidParam, "repetition_penalty must be > 0 (1 = off)");
  for (const auto& [key, value] : {std::pair{"presence_penalty", &p->presence_penalty},
                                   std::pair{"frequency_penalty", &p->frequency_penalty}}) {
    if ((err = get_number(obj, key, value))) return err;
    if (*value && !(**value >= -2 && **value <= 2))
      return make_error(RecordErrorCode::kInvalidParam, std::string(key) + " must be in [-2, 2]");
  }
  if ((err = get_integer(obj, "min_tokens", &p->min_tokens))) return err;
  if (p->min_tokens && (*p->min_tokens < 0 || *p->min_tokens > std::numeric_limits<int>::max()))
    return make_error(RecordErrorCode::kInvalidParam, "min_tokens must be >= 0");
  return parse_logit_bias(obj, p);
}

std::optional<RecordError> parse_params(const object& obj, RecordParams* p) {
  std::optional<RecordError> err;
  if ((err = parse_max_tokens(obj, p))) return err;
  if (p->max_tokens && *p->max_tokens < 0)
    return make_error(RecordErrorCode::kInvalidParam, "max_tokens must be >= 0, got " + std::to_string(*p->max_tokens));
  if (p->max_tokens && *p->max_tokens > std::numeric_limits<int>::max())
    return make_error(RecordErrorCode::kInvalidParam, "max_tokens is too large");
  if ((err = get_integer(obj, "n", &p->n))) return err;
  if (p->n && (*p->n < 1 || *p->n > kMaxSamplesPerRecord))
    return make_error(RecordErrorCode::kInvalidParam,
                      "n must be in [1, " + std::to_string(kMaxSamplesPerRecord) + "], got " + std::to_string(*p->n));

  if ((err = get_number(obj, "temperature", &p->temperature))) return err;
  if (p->temperature && !(*p->temperature >= 0))
    return make_error(RecordErrorCode::kInvalidParam, "temperature must be >= 0");
  if ((err = get_number(obj, "top_p", &p->top_p))) return err;
  if (p->top_p && !(*p->top_p > 0 && *p->top_p <= 1))
    return make_error(RecordErrorCode::kInvalidParam, "top_p must be in (0, 1]");
  if ((err = get_integer(obj, "top_k", &p->top_k))) return err;
  if (p->top_k && (*p->top_k < 0 || *p->top_k > std::numeric_limits<int>::max()))
    return make_error(RecordErrorCode::kInvalidParam, "top_k must be >= 0 (0 = off)");
  if ((err = get_number(obj, "min_p", &p->min_p))) return err;
  if (p->min_p && !(*p->min_p >= 0 && *p->min_p <= 1))
    return make_error(RecordErrorCode::kInvalidParam, "min_p must be in [0, 1]");
  if ((err = get_number(obj, "typical_p", &p->typical_p))) return err;
  if (p->typical_p && !(*p->typical_p > 0 && *p->typical_p <= 1))
    return make_error(RecordErrorCode::kInvalidParam, "typical_p must be in (0, 1]");

  element e;
  if (find_field(obj, "seed", &e)) {
    if (e.type() == element_type::INT64 && int64_t(e) >= 0) {
      p->seed = static_cast<uint64_t>(int64_t(e));
    } else if (e.type() == element_type::UINT64) {
      p->seed = uint64_t(e);
    } else {
      return make_error(RecordErrorCode::kInvalidParam, "seed must be a non-negative integer");
    }
  }
  if (find_field(obj, "stop", &e)) {
    std::vector<std::string> stops;
    if (e.type() == element_type::STRING) {
      stops.emplace_back(std::string_view(e));
    } else if (e.type() == element_type::ARRAY) {
      simdjson::dom::array arr;
      if (e.get_array().get(arr) != simdjson::SUCCESS) return wrong_type("stop", "a list", e);
      for (element s : arr) {
        if (s.type() != element_type::STRING)
          return make_error(RecordErrorCode::kInvalidParam, "stop must be a string or a list of strings");
        stops.emplace_back(std::string_view(s));
      }
    } else {
      return wrong_type("stop", "a string or a list of strings", e);
    }
    for (const std::string& s : stops) {
      if (s.empty()) return make_error(RecordErrorCode::kInvalidParam, "stop strings must not be empty");
    }
    p->stop = std::move(stops);
  }
  for (const auto& [key, out] : {std::pair{"include_stop_str_in_output", &p->include_stop_str_in_output},
                                  std::pair{"skip_special_tokens", &p->skip_special_tokens}}) {
    if (!find_field(obj, key, &e)) continue;
    if (e.type() != element_type::BOOL) return wrong_type(key, "true or false", e);
    *out = bool(e);
  }
  if ((err = get_integer(obj, "truncate_prompt_tokens", &p->truncate_prompt_tokens))) return err;
  if (p->truncate_prompt_tokens && (*p->truncate_prompt_tokens == 0 || *p->truncate_prompt_tokens < -1 ||
                                    *p->truncate_prompt_tokens > std::numeric_limits<int>::max()))
    return make_error(RecordErrorCode::kInvalidParam, "truncate_prompt_tokens must be >= 1, or -1 (the context length)");
  if (find_field(obj, "ignore_eos", &e)) {
    if (e.type() != element_type::BOOL) return wrong_type("ignore_eos", "true or false", e);
    p->ignore_eos = bool(e);
  }
  if (find_field(obj, "stop_token_ids", &e)) {
    simdjson::dom::array arr;
    if (e.get_array().get(arr) != simdjson::SUCCESS) return wrong_type("stop_token_ids", "a list of token ids", e);
    std::vector<int32_t> ids;
    for (element id : arr) {
      if (id.type() != element_type::INT64 || int64_t(id) < 0 || int64_t(id) > std::numeric_limits<int32_t>::max())
        return make_error(RecordErrorCode::kInvalidParam, "stop_token_ids must be a list of non-negative integers, got " +
                                                              simdjson::minify(id));
      ids.push_back(static_cast<int32_t>(int64_t(id)));
    }
    p->stop_token_ids = std::move(ids);
  }
  if ((err = parse_penalties(obj, p))) return err;
  if ((err = parse_logprobs(obj, p))) return err;
  if ((err = parse_constraint(obj, &p->constraint))) return err;
  if (find_field(obj, "return_token_ids", &e)) {
    if (e.type() != element_type::BOOL) return wrong_type("return_token_ids", "true or false", e);
    p->return_token_ids = bool(e);
  }
  return std::nullopt;
}

void parse_id(const object& obj, Record* r) {
  element e;
  if (!find_field(obj, "id", &e) && !find_field(obj, "custom_id", &e)) return;
  switch (e.type()) {
    case element_type::STRING:
      r->has_id = true;
      r->id = std::string(std::string_view(e));
      break;
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      r->has_id = true;
      r->id_is_number = true;
      r->id = simdjson::minify(e);
      break;
    default:
      // Objects, arrays and booleans are not ids; the record keeps id null.
      break;
  }
}

bool is_neutral(const element& e, std::string_view neutral) {
  if (neutral.empty()) return false;
  double d = 0;
  if (e.get_double().get(d) == simdjson::SUCCESS) {
    const std::string n(neutral);
    char* end = nullptr;
    const double v = std::strtod(n.c_str(), &end);
    return *end == '\0' && v == d;
  }
  return simdjson::minify(e) == neutral;
}

// The field policy (formats/request_fields.h): a refused field with a value other
// than its neutral one is an error, or with `ignore` is listed in r->ignored_fields.
std::optional<RecordError> check_field_policy(const object& obj, bool ignore, Record* r) {
  for (const auto field : obj) {
    const RequestField* known = find_request_field(field.key);
    if (known == nullptr || known->policy != FieldPolicy::kRefused) continue;
    if (field.value.type() == element_type::NULL_VALUE || is_neutral(field.value, known->neutral)) continue;
    if (ignore) {
      r->ignored_fields.emplace_back(known->name);
      continue;
    }
    std::string message = std::string(known->name) + ": not supported";
    if (!known->neutral.empty()) message += " (only " + std::string(known->neutral) + ")";
    if (!known->note.empty()) message += "; " + std::string(known->note);
    return make_error(RecordErrorCode::kUnsupportedParam, std::move(message));
  }
  return std::nullopt;
}

// A message's "content" given as a list of parts: the texts of the "text"
// parts joined by "\n" (as vLLM does for string-content templates); another part
// type is refused, or with `ignore` left out and listed in r->ignored_fields.
std::optional<RecordError> join_text_parts(const simdjson::dom::array& parts, size_t i, bool ignore, Record* r,
                                           std::string* out) {
  const std::string where = "messages[" + std::to_string(i) + "].content";
  bool first = true;
  for (element part : parts) {
    object po;
    element type, text;
    if (part.get_object().get(po) != simdjson::SUCCESS || !find_field(po, "type", &type) ||
        type.type() != element_type::STRING)
      return make_error(RecordErrorCode::kInvalidParam, where + " parts must be objects with a \"type\"");
    const std::string_view t(type);
    if (t != "text") {
      if (!ignore)
        return make_error(RecordErrorCode::kUnsupportedParam,
                          where + ": part type \"" + std::string(t) + "\": not supported (only \"text\")");
      r->ignored_fields.push_back("content part " + std::string(t));
      continue;
    }
    if (!find_field(po, "text", &text) || text.type() != element_type::STRING)
      return make_error(RecordErrorCode::kInvalidParam, where + ": a text part needs a string \"text\"");
    if (!first) *out += '\n';
    *out += std::string_view(text);
    first = false;
  }
  return std::nullopt;
}

// The messages as JSON text for the chat template, list contents joined to strings.
std::optional<RecordError> messages_json(const element& messages, bool ignore, Record* r) {
  simdjson::dom::array arr;
  if (messages.get_array().get(arr) != simdjson::SUCCESS) return wrong_type("messages", "an array", messages);
  bool has_parts = false;
  for (element m : arr) {
    element content;
    object mo;
    has_parts |= m.get_object().get(mo) == simdjson::SUCCESS && find_field(mo, "content", &content) &&
                 content.type() == element_type::ARRAY;
  }
  if (!has_parts) {
    r->messages_json = simdjson::minify(messages);
    return std::nullopt;
  }
  JsonWriter w;
  w.begin_array();
  size_t i = 0;
  for (element m : arr) {
    object mo;
    if (m.get_object().get(mo) != simdjson::SUCCESS) {
      w.raw(simdjson::minify(m));  // the template reports what it cannot use
    } else {
      w.begin_object();
      for (const auto field : mo) {
        w.key(field.key);
        simdjson::dom::array parts;
        if (field.key != "content" || field.value.get_array().get(parts) != simdjson::SUCCESS) {
          w.raw(simdjson::minify(field.value));
          continue;
        }
        std::string text;
        if (std::optional<RecordError> err = join_text_parts(parts, i, ignore, r, &text)) return err;
        w.value(text);
      }
      w.end_object();
    }
    ++i;
  }
  w.end_array();
  r->messages_json = w.take();
  return std::nullopt;
}

// chat_template_kwargs, add_generation_prompt, continue_final_message: chat
// records only (a plain record that sets one is invalid_param).
std::optional<RecordError> parse_chat_settings(const object& obj, Record* r) {
  element e;
  for (const char* key : {"chat_template_kwargs", "add_generation_prompt", "continue_final_message"}) {
    if (!r->chat && find_field(obj, key, &e))
      return make_error(RecordErrorCode::kInvalidParam, std::string(key) + " applies to chat records (\"messages\") only");
  }
  if (find_field(obj, "chat_template_kwargs", &e)) {
    if (e.type() != element_type::OBJECT) return wrong_type("chat_template_kwargs", "an object", e);
    r->chat_template_kwargs_json = simdjson::minify(e);
  }
  if (find_field(obj, "add_generation_prompt", &e)) {
    if (e.type() != element_type::BOOL) return wrong_type("add_generation_prompt", "true or false", e);
    r->add_generation_prompt = bool(e);
  }
  if (find_field(obj, "continue_final_message", &e)) {
    if (e.type() != element_type::BOOL) return wrong_type("continue_final_message", "true or false", e);
    r->continue_final_message = bool(e);
  }
  if (r->continue_final_message && r->add_generation_prompt.value_or(false))
    return make_error(RecordErrorCode::kInvalidParam,
                      "continue_final_message and add_generation_prompt cannot both be true");
  return std::nullopt;
}

// OpenAI Batch lines name their endpoint; only the two generation endpoints run.
std::optional<RecordError> check_endpoint(const object& obj) {
  element url;
  if (!find_field(obj, "url", &url)) return std::nullopt;
  if (url.type() != element_type::STRING) return wrong_type("url", "a string", url);
  const std::string_view u(url);
  if (u == "/v1/completions" || u == "/v1/chat/completions") return std::nullopt;
  return make_error(RecordErrorCode::kUnsupportedEndpoint,
                    "url " + std::string(u) + ": not supported (only /v1/completions and /v1/chat/completions)");
}

}  // namespace

struct RecordParser::Impl {
  simdjson::dom::parser parser;
  RecordParserOptions options;
};

RecordParser::RecordParser(RecordParserOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
}
RecordParser::~RecordParser() = default;

ParsedRecord RecordParser::parse(std::string_view line, uint64_t index) {
  ParsedRecord out;
  out.record.index = index;
  element doc;
  const auto err = impl_->parser.parse(line.data(), line.size(), true).get(doc);
  if (err == simdjson::UTF8_ERROR) {
    out.error = make_error(RecordErrorCode::kInvalidUtf8, "the line is not valid UTF-8");
    return out;
  }
  if (err != simdjson::SUCCESS) {
    out.error = make_error(RecordErrorCode::kInvalidJson,
                           std::string("the line is not valid JSON (") + simdjson::error_message(err) + ")");
    return out;
  }
  object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) {
    out.error = make_error(RecordErrorCode::kInvalidJson,
                           std::string("the line must be a JSON object, got ") + type_name(doc.type()));
    return out;
  }
  parse_id(obj, &out.record);

  // OpenAI Batch lines carry the request in "body".
  object fields = obj;
  element body;
  if (find_field(obj, "body", &body)) {
    if ((out.error = check_endpoint(obj))) return out;
    if (body.get_object().get(fields) != simdjson::SUCCESS) {
      out.error = make_error(RecordErrorCode::kInvalidParam, "body must be an object");
      return out;
    }
  }

  const bool ignore = impl_->options.ignore_unsupported;
  if ((out.error = check_field_policy(fields, ignore, &out.record))) return out;
  element e;
  element messages;
  if (find_field(fields, "messages", &messages)) {
    if (find_field(fields, "prompt", &e)) {
      out.error = make_error(RecordErrorCode::kInvalidParam, "give either \"prompt\" or \"messages\", not both");
      return out;
    }
    if (messages.type() != element_type::ARRAY) {
      out.error = wrong_type("messages", "an array of message objects", messages);
      return out;
    }
    out.record.chat = true;
    if ((out.error = messages_json(messages, ignore, &out.record))) return out;
    if (find_field(fields, "tools", &e)) {
      if (e.type() != element_type::ARRAY) {
        out.error = wrong_type("tools", "an array", e);
        return out;
      }
      out.record.tools_json = simdjson::minify(e);
    }
    if ((out.error = parse_chat_settings(fields, &out.record))) return out;
    out.error = parse_params(fields, &out.record.params);
    return out;
  }
  if (!find_field(fields, "prompt", &e)) {
    out.error = make_error(RecordErrorCode::kMissingPrompt, "the record has no \"prompt\"");
    return out;
  }
  if (e.type() == element_type::ARRAY) {
    out.error = make_error(RecordErrorCode::kUnsupported, "prompt as a list (of strings or token ids) is not "
                                                          "supported; give one string per record");
    return out;
  }
  if (e.type() != element_type::STRING) {
    out.error = wrong_type("prompt", "a string", e);
    return out;
  }
  const std::string_view prompt(e);
  // JSON escapes can spell lone surrogates; the unescaped text must be UTF-8.
  if (!simdjson::validate_utf8(prompt.data(), prompt.size())) {
    out.error = make_error(RecordErrorCode::kInvalidUtf8, "prompt is not valid UTF-8");
    return out;
  }
  out.record.prompt = std::string(prompt);
  if ((out.error = parse_chat_settings(fields, &out.record))) return out;
  out.error = parse_params(fields, &out.record.params);
  return out;
}

}  // namespace sb
