#include "cli/widen_dspark.h"

namespace sb::cli {

Status widen_dspark_checkpoint(const DSparkModel& m, const std::string& dst, const WidenShape& shape) {
  const ModelConfig& c = m.model.config;
  if (c.n_expert > 0 || c.attn_bias)
    return unsupported(m.model.path + ": only dense Qwen3 DSpark drafters without biases can be widened");
  DSparkCheckpointView v;
  v.path = m.model.path;
  RandomDSparkShape& s = v.shape;
  s.n_vocab = c.n_vocab;
  s.dim = c.dim;
  s.n_layer = c.n_layer;
  s.n_head = c.n_head;
  s.n_kv_head = c.n_kv_head;
  s.head_dim = c.head_dim;
  s.ffn_dim = c.ffn_dim;
  s.max_ctx = c.max_ctx;
  s.rope_theta = c.rope_theta;
  s.rms_eps = c.rms_eps;
  s.block_size = m.dspark.block_size;
  s.target_layer_ids = m.dspark.target_layer_ids;
  s.mask_token_id = m.dspark.mask_token_id;
  s.markov_rank = m.dspark.markov_rank;
  s.confidence_head = m.dspark.confidence_head;
  s.confidence_head_with_markov = m.dspark.confidence_head_with_markov;
  const ModelWeights& w = m.model.weights;
  for (const LayerWeights& l : w.layers)
    v.layers.push_back({l.attn_norm, l.wq, l.wk, l.wv, l.wo, l.q_norm, l.k_norm, l.ffn_norm, l.w_gate, l.w_up, l.w_down});
  v.embed_tokens = w.tok_embd;
  v.norm = w.out_norm;
  v.lm_head = w.lm_head;
  v.fc = m.fc;
  v.hidden_norm = m.hidden_norm;
  v.markov_w1 = m.markov_w1;
  v.markov_w2 = m.markov_w2;
  v.confidence_w = m.confidence_w;
  v.confidence_b = m.confidence_b;
  return write_widened_dspark(v, dst, shape);
}

}  // namespace sb::cli
