#include "formats/hf_config.h"

#include <simdjson.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "formats/json_text.h"

namespace sb::hf {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

class Fields {
 public:
  Fields(object obj, const std::string& name) : obj_(obj), name_(name) {}

  // Each getter leaves *out unchanged when the key is absent or null.
  Status get_int(const char* key, int64_t* out, bool* present = nullptr) const {
    element e;
    if (!find(key, &e)) return ok_status();
    if (present != nullptr) *present = true;
    return to_int(e, key, out);
  }
  Status get_double(const char* key, double* out, bool* present = nullptr) const {
    element e;
    if (!find(key, &e)) return ok_status();
    if (present != nullptr) *present = true;
    if (e.type() == element_type::DOUBLE) *out = e.get_double().value_unsafe();
    else if (e.type() == element_type::INT64) *out = static_cast<double>(e.get_int64().value_unsafe());
    else if (e.type() == element_type::UINT64) *out = static_cast<double>(e.get_uint64().value_unsafe());
    else return bad(key, "a number");
    return ok_status();
  }
  Status get_bool(const char* key, bool* out, bool* present = nullptr) const {
    element e;
    if (!find(key, &e)) return ok_status();
    if (e.type() != element_type::BOOL) return bad(key, "true or false");
    *out = e.get_bool().value_unsafe();
    if (present != nullptr) *present = true;
    return ok_status();
  }
  Status get_string(const char* key, std::string* out) const {
    element e;
    if (!find(key, &e)) return ok_status();
    if (e.type() != element_type::STRING) return bad(key, "a string");
    *out = std::string(e.get_string().value_unsafe());
    return ok_status();
  }
  Status get_string_list(const char* key, std::vector<std::string>* out) const {
    element e;
    if (!find(key, &e)) return ok_status();
    if (e.type() != element_type::ARRAY) return bad(key, "a list of strings");
    out->clear();
    const simdjson::dom::array arr = e.get_array().value_unsafe();
    for (element x : arr) {
      if (x.type() != element_type::STRING) return bad(key, "a list of strings");
      out->emplace_back(x.get_string().value_unsafe());
    }
    return ok_status();
  }
  Status get_double_list(const char* key, std::vector<double>* out) const {
    element e;
    if (!find(key, &e)) return ok_status();
    if (e.type() != element_type::ARRAY) return bad(key, "a list of numbers");
    out->clear();
    const simdjson::dom::array arr = e.get_array().value_unsafe();
    for (element x : arr) {
      if (x.type() == element_type::DOUBLE) out->push_back(x.get_double().value_unsafe());
      else if (x.type() == element_type::INT64) out->push_back(static_cast<double>(x.get_int64().value_unsafe()));
      else return bad(key, "a list of numbers");
    }
    return ok_status();
  }
  // An int or a list of ints (eos_token_id).
  Status get_int_list(const char* key, std::vector<int64_t>* out, bool* present) const {
    element e;
    if (!find(key, &e)) return ok_status();
    *present = true;
    out->clear();
    if (e.type() != element_type::ARRAY) {
      int64_t x = 0;
      SB_RETURN_IF_ERROR(to_int(e, key, &x));
      out->push_back(x);
      return ok_status();
    }
    const simdjson::dom::array arr = e.get_array().value_unsafe();
    for (element x : arr) {
      int64_t v = 0;
      SB_RETURN_IF_ERROR(to_int(x, key, &v));
      out->push_back(v);
    }
    return ok_status();
  }
  bool find(const char* key, element* e) const {
    if (obj_[key].get(*e) != simdjson::SUCCESS) return false;
    return e->type() != element_type::NULL_VALUE;
  }
  Status bad(const char* key, const char* expected) const {
    return corrupt(name_ + ": field '" + key + "' must be " + expected);
  }

 private:
  Status to_int(element e, const char* key, int64_t* out) const {
    if (e.type() == element_type::INT64) {
      *out = e.get_int64().value_unsafe();
    } else if (e.type() == element_type::UINT64) {
      return corrupt(name_ + ": field '" + key + "' is too large");
    } else if (e.type() == element_type::DOUBLE) {
      const double d = e.get_double().value_unsafe();
      if (d != std::floor(d)) return bad(key, "an integer");
      if (std::fabs(d) > 9.0e15) return corrupt(name_ + ": field '" + key + "' is too large");
      *out = static_cast<int64_t>(d);
    } else {
      return bad(key, "an integer");
    }
    return ok_status();
  }

  object obj_;
  const std::string& name_;
};

Status parse_object(simdjson::dom::parser* parser, std::string_view json, const std::string& name, object* out) {
  const simdjson::padded_string padded = padded_json(json);
  element doc;
  if (auto err = parser->parse(padded).get(doc); err != simdjson::SUCCESS) {
    return corrupt(name + ": invalid JSON: " + simdjson::error_message(err));
  }
  if (doc.get_object().get(*out) != simdjson::SUCCESS) return corrupt(name + ": expected a JSON object");
  return ok_status();
}

// rope_scaling, or rope_parameters (transformers 5: also holds rope_theta).
Status parse_rope_scaling(const Fields& f, const char* key, const std::string& name, RopeScalingConfig* rs,
                          double* rope_theta) {
  element e;
  if (!f.find(key, &e)) return ok_status();
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return f.bad(key, "an object or null");
  const std::string sub = name + ": " + key;
  Fields r(obj, sub);
  rs->present = true;
  SB_RETURN_IF_ERROR(r.get_double("rope_theta", rope_theta));
  SB_RETURN_IF_ERROR(r.get_string("type", &rs->type));
  SB_RETURN_IF_ERROR(r.get_string("rope_type", &rs->type));  // the newer name wins
  SB_RETURN_IF_ERROR(r.get_double("factor", &rs->factor));
  SB_RETURN_IF_ERROR(r.get_double("low_freq_factor", &rs->low_freq_factor));
  SB_RETURN_IF_ERROR(r.get_double("high_freq_factor", &rs->high_freq_factor));
  SB_RETURN_IF_ERROR(r.get_int("original_max_position_embeddings", &rs->original_max_position_embeddings));
  SB_RETURN_IF_ERROR(r.get_double("beta_fast", &rs->beta_fast));
  SB_RETURN_IF_ERROR(r.get_double("beta_slow", &rs->beta_slow));
  SB_RETURN_IF_ERROR(r.get_double_list("short_factor", &rs->short_factor));
  SB_RETURN_IF_ERROR(r.get_double_list("long_factor", &rs->long_factor));
  SB_RETURN_IF_ERROR(r.get_double("attention_factor", &rs->attention_factor));
  return ok_status();
}

void add_unique(std::vector<int64_t>* xs, int64_t x) {
  for (int64_t y : *xs) {
    if (y == x) return;
  }
  xs->push_back(x);
}

}  // namespace

namespace {

// The fields of one object (the top level, or a wrapper's text_config) over *c.
Status read_fields(const Fields& f, const std::string& name, ModelJsonConfig* c_out) {
  ModelJsonConfig& c = *c_out;
  SB_RETURN_IF_ERROR(f.get_string_list("architectures", &c.architectures));
  SB_RETURN_IF_ERROR(f.get_string("model_type", &c.model_type));
  SB_RETURN_IF_ERROR(f.get_int("vocab_size", &c.vocab_size));
  SB_RETURN_IF_ERROR(f.get_int("hidden_size", &c.hidden_size));
  SB_RETURN_IF_ERROR(f.get_int("num_hidden_layers", &c.num_hidden_layers));
  SB_RETURN_IF_ERROR(f.get_int("num_attention_heads", &c.num_attention_heads));
  SB_RETURN_IF_ERROR(f.get_int("num_key_value_heads", &c.num_key_value_heads));
  SB_RETURN_IF_ERROR(f.get_int("head_dim", &c.head_dim));
  SB_RETURN_IF_ERROR(f.get_int("intermediate_size", &c.intermediate_size));
  SB_RETURN_IF_ERROR(f.get_int("max_position_embeddings", &c.max_position_embeddings));
  SB_RETURN_IF_ERROR(f.get_double("rms_norm_eps", &c.rms_norm_eps));
  SB_RETURN_IF_ERROR(f.get_double("rope_theta", &c.rope_theta));
  SB_RETURN_IF_ERROR(parse_rope_scaling(f, "rope_scaling", name, &c.rope_scaling, &c.rope_theta));
  SB_RETURN_IF_ERROR(parse_rope_scaling(f, "rope_parameters", name, &c.rope_scaling, &c.rope_theta));
  SB_RETURN_IF_ERROR(f.get_bool("tie_word_embeddings", &c.tie_word_embeddings, &c.has_tie_word_embeddings));
  SB_RETURN_IF_ERROR(f.get_bool("attention_bias", &c.attention_bias));
  SB_RETURN_IF_ERROR(f.get_int("bos_token_id", &c.bos_token_id));
  bool has_eos = false;
  SB_RETURN_IF_ERROR(f.get_int_list("eos_token_id", &c.eos_token_ids, &has_eos));
  SB_RETURN_IF_ERROR(f.get_int("sliding_window", &c.sliding_window));
  SB_RETURN_IF_ERROR(f.get_bool("use_sliding_window", &c.use_sliding_window));
  SB_RETURN_IF_ERROR(f.get_string_list("layer_types", &c.layer_types));
  SB_RETURN_IF_ERROR(f.get_int("sliding_window_pattern", &c.sliding_window_pattern));
  SB_RETURN_IF_ERROR(f.get_double("query_pre_attn_scalar", &c.query_pre_attn_scalar));
  SB_RETURN_IF_ERROR(f.get_double("attn_logit_softcapping", &c.attn_logit_softcapping));
  SB_RETURN_IF_ERROR(f.get_double("final_logit_softcapping", &c.final_logit_softcapping));
  SB_RETURN_IF_ERROR(f.get_string("hidden_act", &c.hidden_activation));
  SB_RETURN_IF_ERROR(f.get_string("hidden_activation", &c.hidden_activation));  // Gemma's name wins
  SB_RETURN_IF_ERROR(f.get_double("rope_local_base_freq", &c.rope_local_base_freq));
  SB_RETURN_IF_ERROR(f.get_int("original_max_position_embeddings", &c.original_max_position_embeddings));
  SB_RETURN_IF_ERROR(f.get_double("partial_rotary_factor", &c.partial_rotary_factor));
  SB_RETURN_IF_ERROR(f.get_int("num_local_experts", &c.num_experts));  // transformers 5's name
  SB_RETURN_IF_ERROR(f.get_int("num_experts", &c.num_experts));
  SB_RETURN_IF_ERROR(f.get_int("num_experts_per_tok", &c.num_experts_per_tok));
  SB_RETURN_IF_ERROR(f.get_int("moe_intermediate_size", &c.moe_intermediate_size));
  SB_RETURN_IF_ERROR(f.get_bool("norm_topk_prob", &c.norm_topk_prob));
  SB_RETURN_IF_ERROR(f.get_int("decoder_sparse_step", &c.decoder_sparse_step));
  bool has_mlp_only = false;
  SB_RETURN_IF_ERROR(f.get_int_list("mlp_only_layers", &c.mlp_only_layers, &has_mlp_only));
  return ok_status();
}

}  // namespace

StatusOr<ModelJsonConfig> parse_model_config(std::string_view json, const std::string& name,
                                             const ModelJsonConfig* defaults) {
  simdjson::dom::parser parser;
  object obj;
  SB_RETURN_IF_ERROR(parse_object(&parser, json, name, &obj));
  Fields f(obj, name);
  ModelJsonConfig c = defaults != nullptr ? *defaults : ModelJsonConfig{};
  SB_RETURN_IF_ERROR(read_fields(f, name, &c));
  element e;
  c.has_vision_config = f.find("vision_config", &e);
  if (f.find("text_config", &e)) {
    object text;
    if (e.get_object().get(text) != simdjson::SUCCESS) return f.bad("text_config", "an object");
    const std::string sub = name + ": text_config";
    SB_RETURN_IF_ERROR(read_fields(Fields(text, sub), sub, &c));
  }
  return c;
}

StatusOr<DSparkJsonConfig> parse_dspark_config(std::string_view json, const std::string& name) {
  simdjson::dom::parser parser;
  object obj;
  SB_RETURN_IF_ERROR(parse_object(&parser, json, name, &obj));
  Fields f(obj, name);
  DSparkJsonConfig d;
  SB_RETURN_IF_ERROR(f.get_int("block_size", &d.block_size, &d.has_block_size));
  SB_RETURN_IF_ERROR(f.get_int_list("target_layer_ids", &d.target_layer_ids, &d.has_target_layer_ids));
  SB_RETURN_IF_ERROR(f.get_int("mask_token_id", &d.mask_token_id, &d.has_mask_token_id));
  SB_RETURN_IF_ERROR(f.get_int("markov_rank", &d.markov_rank));
  SB_RETURN_IF_ERROR(f.get_string("markov_head_type", &d.markov_head_type));
  SB_RETURN_IF_ERROR(f.get_bool("enable_confidence_head", &d.enable_confidence_head));
  SB_RETURN_IF_ERROR(f.get_bool("confidence_head_with_markov", &d.confidence_head_with_markov));
  SB_RETURN_IF_ERROR(f.get_int("num_target_layers", &d.num_target_layers));
  return d;
}

Status merge_generation_config(std::string_view json, const std::string& name, ModelJsonConfig* config) {
  simdjson::dom::parser parser;
  object obj;
  SB_RETURN_IF_ERROR(parse_object(&parser, json, name, &obj));
  Fields f(obj, name);
  SB_RETURN_IF_ERROR(f.get_int("bos_token_id", &config->bos_token_id));
  std::vector<int64_t> eos;
  bool has_eos = false;
  SB_RETURN_IF_ERROR(f.get_int_list("eos_token_id", &eos, &has_eos));
  for (int64_t id : eos) add_unique(&config->eos_token_ids, id);
  return ok_status();
}

StatusOr<GenerationSampling> parse_generation_sampling(std::string_view json, const std::string& name) {
  simdjson::dom::parser parser;
  object obj;
  SB_RETURN_IF_ERROR(parse_object(&parser, json, name, &obj));
  Fields f(obj, name);
  GenerationSampling g;
  const auto number = [&f](const char* key, std::optional<double>* out) -> Status {
    double v = 0;
    bool present = false;
    SB_RETURN_IF_ERROR(f.get_double(key, &v, &present));
    if (present) *out = v;
    return ok_status();
  };
  const auto integer = [&f](const char* key, std::optional<int64_t>* out) -> Status {
    int64_t v = 0;
    bool present = false;
    SB_RETURN_IF_ERROR(f.get_int(key, &v, &present));
    if (present) *out = v;
    return ok_status();
  };
  SB_RETURN_IF_ERROR(number("temperature", &g.temperature));
  SB_RETURN_IF_ERROR(number("top_p", &g.top_p));
  SB_RETURN_IF_ERROR(number("min_p", &g.min_p));
  SB_RETURN_IF_ERROR(number("repetition_penalty", &g.repetition_penalty));
  SB_RETURN_IF_ERROR(integer("top_k", &g.top_k));
  SB_RETURN_IF_ERROR(integer("max_new_tokens", &g.max_new_tokens));
  return g;
}

StatusOr<std::string> read_text_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errno_error(path);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return errno_error(path + ": read");
  return s;
}

StatusOr<ModelJsonConfig> read_model_config(const std::string& dir, const ModelJsonConfig* defaults) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return not_found(path + ": no such file (not a Hugging Face model directory?)");
  SB_ASSIGN_OR_RETURN(const std::string text, read_text_file(path));
  SB_ASSIGN_OR_RETURN(ModelJsonConfig c, parse_model_config(text, path, defaults));
  const std::string gen = (std::filesystem::path(dir) / "generation_config.json").string();
  if (std::filesystem::is_regular_file(gen, ec)) {
    SB_ASSIGN_OR_RETURN(const std::string gtext, read_text_file(gen));
    SB_RETURN_IF_ERROR(merge_generation_config(gtext, gen, &c));
  }
  return c;
}

}  // namespace sb::hf
