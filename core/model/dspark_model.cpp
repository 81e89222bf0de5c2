// load_dspark(): a DSpark checkpoint directory -> DSparkModel, checked field by
// field against the target it drafts for before any tensor is bound.
#include "core/model/dspark_model.h"

#include <filesystem>

#include "core/model/weight_binder.h"
#include "formats/hf_config.h"
#include "formats/safetensors.h"

namespace sb {
namespace {

constexpr int kMaxBlockSize = 64;
constexpr int kMaxMarkovRank = 65536;

// The DSpark fields of config.json, range-checked against the target.
Status dspark_fields(const hf::DSparkJsonConfig& j, const std::string& cfg, const ModelConfig& target,
                     DSparkConfig* d) {
  const auto field = [&](const std::string& name, int64_t v) { return cfg + ": " + name + " = " + std::to_string(v); };
  if (!j.has_block_size) return corrupt(cfg + ": 'block_size' is missing (not a DSpark checkpoint?)");
  if (j.block_size < 1 || j.block_size > kMaxBlockSize) {
    return corrupt(field("block_size", j.block_size) + " is outside 1.." + std::to_string(kMaxBlockSize));
  }
  d->block_size = static_cast<int>(j.block_size);
  if (!j.has_target_layer_ids || j.target_layer_ids.empty()) {
    return corrupt(cfg + ": 'target_layer_ids' is missing or empty");
  }
  for (size_t i = 0; i < j.target_layer_ids.size(); ++i) {
    const int64_t id = j.target_layer_ids[i];
    if (id < -1 || id >= target.n_layer) {
      return invalid_argument(field("target_layer_ids[" + std::to_string(i) + "]", id) + " is outside [-1, " +
                              std::to_string(target.n_layer) + "): the target has " +
                              std::to_string(target.n_layer) + " layers (a checkpoint for another target?)");
    }
    d->target_layer_ids.push_back(static_cast<int>(id));
  }
  if (j.num_target_layers != 0 && j.num_target_layers != target.n_layer) {
    return invalid_argument(field("num_target_layers", j.num_target_layers) + " differs from the target's " +
                            std::to_string(target.n_layer) + " layers (a checkpoint for another target?)");
  }
  if (!j.has_mask_token_id) return corrupt(cfg + ": 'mask_token_id' is missing");
  if (j.mask_token_id < 0 || j.mask_token_id >= target.n_vocab) {
    return corrupt(field("mask_token_id", j.mask_token_id) + " is outside the vocabulary [0, " +
                   std::to_string(target.n_vocab) + ")");
  }
  d->mask_token_id = static_cast<int>(j.mask_token_id);
  if (j.markov_rank < 0 || j.markov_rank > kMaxMarkovRank) {
    return corrupt(field("markov_rank", j.markov_rank) + " is outside 0.." + std::to_string(kMaxMarkovRank));
  }
  d->markov_rank = static_cast<int>(j.markov_rank);
  if (j.markov_head_type != "vanilla") {
    return unsupported(cfg + ": markov_head_type '" + j.markov_head_type + "' is not supported (vanilla)");
  }
  d->markov_head_type = j.markov_head_type;
  d->confidence_head = j.enable_confidence_head;
  d->confidence_head_with_markov = j.enable_confidence_head && j.confidence_head_with_markov;
  if (d->confidence_head_with_markov && d->markov_rank == 0) {
    return corrupt(cfg + ": confidence_head_with_markov needs markov_rank > 0");
  }
  return ok_status();
}

}  // namespace

StatusOr<DSparkModel> load_dspark(const std::string& dir, const ModelConfig& target) {
  const std::string cfg = (std::filesystem::path(dir) / "config.json").string();
  SB_ASSIGN_OR_RETURN(const hf::ModelJsonConfig j, hf::read_model_config(dir));
  SB_ASSIGN_OR_RETURN(const std::string text, hf::read_text_file(cfg));
  SB_ASSIGN_OR_RETURN(const hf::DSparkJsonConfig dj, hf::parse_dspark_config(text, cfg));
  // Qwen3-style drafters only: another family's (DeepSpec's Gemma4DSparkModel)
  // or sliding-window layers would run as Qwen3 full attention, wrongly.
  if (!j.architectures.empty() && j.architectures[0] != "Qwen3DSparkModel")
    return unsupported(cfg + ": architectures '" + j.architectures[0] +
                       "' is not a supported DSpark drafter (supported: Qwen3DSparkModel)");
  for (size_t l = 0; l < j.layer_types.size(); ++l)
    if (j.layer_types[l] != "full_attention")
      return unsupported(cfg + ": layer_types[" + std::to_string(l) + "] '" + j.layer_types[l] +
                         "' is not supported in a DSpark drafter (full_attention only)");
  DSparkModel d;
  Model& m = d.model;
  m.path = dir;
  ModelConfig& c = m.config;
  c.arch = Arch::kQwen3;
  c.arch_name = "Qwen3DSparkModel";
  c.rope_style = RopeStyle::kHalf;
  c.qk_norm = true;
  c.attn_bias = j.attention_bias;
  SB_RETURN_IF_ERROR(hf_model_config(j, cfg, &c));
  if (c.dim != target.dim) {
    return invalid_argument(cfg + ": hidden_size = " + std::to_string(c.dim) + " differs from the target's " +
                            std::to_string(target.dim) + " (a checkpoint for another target?)");
  }
  if (c.n_vocab != target.n_vocab) {
    return invalid_argument(cfg + ": vocab_size = " + std::to_string(c.n_vocab) + " differs from the target's " +
                            std::to_string(target.n_vocab) + " (a checkpoint for another target?)");
  }
  SB_RETURN_IF_ERROR(dspark_fields(dj, cfg, target, &d.dspark));

  SB_ASSIGN_OR_RETURN(safetensors::TensorSet set, safetensors::TensorSet::open_dir(dir));
  WeightBinder b(safetensors_lookup(set, "model."), &m, " (looked for with and without a leading 'model.')");
  TensorNames names;
  names.tok_embd = "embed_tokens.weight";
  names.out_norm = "norm.weight";
  names.lm_head = "lm_head.weight";
  names.layer = [](int i, const char* slot) { return "layers." + std::to_string(i) + "." + hf_layer_slot_name(slot); };
  SB_RETURN_IF_ERROR(bind_model_weights(names, &b, &m, j.tie_word_embeddings));
  if (m.config.tied_embeddings && !j.tie_word_embeddings) {
    return not_found(dir + ": tensor 'lm_head.weight' is missing (looked for with and without a leading 'model.'; "
                           "tie_word_embeddings is not set)");
  }
  const int64_t n_features = static_cast<int64_t>(d.dspark.target_layer_ids.size()) * c.dim;
  SB_RETURN_IF_ERROR(b.bind("fc.weight", c.dim, n_features, &d.fc));
  SB_RETURN_IF_ERROR(b.bind("hidden_norm.weight", 1, c.dim, &d.hidden_norm));
  const int r = d.dspark.markov_rank;
  if (r > 0) {
    SB_RETURN_IF_ERROR(b.bind("markov_head.markov_w1.weight", c.n_vocab, r, &d.markov_w1));
    SB_RETURN_IF_ERROR(b.bind("markov_head.markov_w2.weight", c.n_vocab, r, &d.markov_w2));
  }
  if (d.dspark.confidence_head) {
    const int64_t in = c.dim + (d.dspark.confidence_head_with_markov ? r : 0);
    SB_RETURN_IF_ERROR(b.bind("confidence_head.proj.weight", 1, in, &d.confidence_w));
    SB_RETURN_IF_ERROR(b.bind("confidence_head.proj.bias", 1, 1, &d.confidence_b));
  }
  for (const auto& map : set.mappings()) m.storage.push_back(map);
  return d;
}

}  // namespace sb
