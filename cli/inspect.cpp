// `specbatch inspect`: what a model file holds — architecture, dimensions,
// parameter count, tensor dtypes and the tokenizer — and the CPU kernel path a
// run would use, as "key: value" lines.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "cli/commands.h"
#include "cli/common.h"
#include "core/model/families.h"
#include "core/model/model.h"
#include "core/tokenizer/tokenizer.h"
#include "formats/generation_defaults.h"
#include "kernels/cpu/cpu_isa.h"

namespace sb::cli {
namespace {

const char* rope_style_name(RopeStyle s) {
  return s == RopeStyle::kInterleaved ? "interleaved" : "half (neox)";
}

const char* rope_scaling_name(RopeScalingType t) {
  switch (t) {
    case RopeScalingType::kNone: return "none";
    case RopeScalingType::kLinear: return "linear";
    case RopeScalingType::kDynamic: return "dynamic";
    case RopeScalingType::kLlama3: return "llama3";
    case RopeScalingType::kYarn: return "yarn";
    case RopeScalingType::kLongRope: return "longrope";
  }
  return "?";
}

std::string human_count(uint64_t n) {
  char buf[64];
  if (n >= 1000000000ull) std::snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  else if (n >= 1000000ull) std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  else if (n >= 1000ull) std::snprintf(buf, sizeof(buf), "%.1fK", n / 1e3);
  else std::snprintf(buf, sizeof(buf), "%llu", static_cast<unsigned long long>(n));
  return buf;
}

std::string human_bytes(uint64_t n) {
  char buf[64];
  if (n >= (1ull << 30)) std::snprintf(buf, sizeof(buf), "%.2f GiB", n / double(1ull << 30));
  else if (n >= (1ull << 20)) std::snprintf(buf, sizeof(buf), "%.2f MiB", n / double(1ull << 20));
  else std::snprintf(buf, sizeof(buf), "%.1f KiB", n / 1024.0);
  return buf;
}

std::string join_ints(const std::vector<int>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s.empty() ? "none" : s;
}

// Scale, window and soft-caps: "scale 0.25, sliding window 4096 on 21 of 42 layers, scores soft-capped at 50".
std::string attention_summary(const ModelConfig& c) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "scale %g", c.attn_scale > 0 ? c.attn_scale : 1.0 / std::sqrt(double{1.0} * c.head_dim));
  std::string s = buf;
  if (c.sliding_window > 0) {
    int n = 0;
    for (int l = 0; l < c.n_layer; ++l) n += c.layer_is_sliding(l) ? 1 : 0;
    s += ", sliding window " + std::to_string(c.sliding_window) + " on " + std::to_string(n) + " of " +
         std::to_string(c.n_layer) + " layers";
  }
  if (c.attn_softcap > 0) {
    std::snprintf(buf, sizeof(buf), ", scores soft-capped at %g", c.attn_softcap);
    s += buf;
  }
  if (c.final_softcap > 0) {
    std::snprintf(buf, sizeof(buf), ", logits soft-capped at %g", c.final_softcap);
    s += buf;
  }
  if (c.embed_scale != 1.0f) {
    std::snprintf(buf, sizeof(buf), ", embeddings scaled by %g", c.embed_scale);
    s += buf;
  }
  return s;
}

// Tensors per dtype with their count and bytes (a tied lm_head is the embedding, counted once).
std::string tensor_dtypes(const ModelWeights& w) {
  struct Tally {
    int n = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Tally> by_dtype;
  auto add = [&by_dtype](const TensorView& t) {
    if (!t.present()) return;
    Tally& tally = by_dtype[dtype_name(t.dtype)];
    ++tally.n;
    tally.bytes += t.n_bytes();
  };
  add(w.tok_embd);
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.bq, &l.bk, &l.bv, &l.q_norm,
                                &l.k_norm, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down, &l.attn_post_norm,
                                &l.ffn_post_norm, &l.router})
      add(*t);
    for (const std::vector<TensorView>* experts : {&l.exp_gate, &l.exp_up, &l.exp_down})
      for (const TensorView& t : *experts) add(t);
  }
  add(w.out_norm);
  if (w.lm_head.data != w.tok_embd.data) add(w.lm_head);
  std::string dtypes;
  for (const auto& [name, tally] : by_dtype) {
    if (!dtypes.empty()) dtypes += ", ";
    dtypes += name + " x" + std::to_string(tally.n) + " (" + human_bytes(tally.bytes) + ")";
  }
  return dtypes.empty() ? "none" : dtypes;
}

// "128 SwiGLU experts of ffn 768, 8 per token (top-k by router logit, ties to the lower index,
// weights renormalised), on 48 of 48 layers".
std::string moe_summary(const ModelConfig& c) {
  int n = 0;
  for (int l = 0; l < c.n_layer; ++l) n += c.layer_is_moe(l) ? 1 : 0;
  return std::to_string(c.n_expert) + " SwiGLU experts of ffn " + std::to_string(c.expert_ffn_dim) + ", " +
         std::to_string(c.n_expert_used) + " per token (top-k by router logit, ties to the lower index, weights " +
         (c.expert_norm_topk ? "renormalised" : "softmax over all experts") + "), on " + std::to_string(n) + " of " +
         std::to_string(c.n_layer) + " layers";
}

}  // namespace

CLI::App* add_inspect_command(CLI::App& app, InspectOptions& o) {
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Print a model's architecture, dimensions, parameter count, tensor dtypes and tokenizer");
  cmd->add_option("model", o.model, "GGUF file or Hugging Face model directory")->required()->type_name("MODEL");
  return cmd;
}

int inspect_command(const InspectOptions& o) {
  auto model = load_model(o.model);
  if (!model.ok()) {
    print_error(model.status().message());
    return kExitFatal;
  }
  const ModelConfig& c = model->config;
  std::string out;
  auto line = [&out](const std::string& key, const std::string& value) {
    out += key;
    out += ": ";
    out += value;
    out += '\n';
  };
  line("model", model->path);
  line("architecture", c.arch_name + " (family " + family_name(c.arch) + ")" +
                           (c.vision_ignored ? "; text only: the vision tower and projector are not loaded" : ""));
  line("vocab", std::to_string(c.n_vocab));
  line("dim", std::to_string(c.dim));
  line("layers", std::to_string(c.n_layer));
  line("heads", std::to_string(c.n_head) + " (kv heads " + std::to_string(c.n_kv_head) + ", head dim " +
                    std::to_string(c.head_dim) + ")");
  line("ffn dim", std::to_string(c.ffn_dim));
  line("context", std::to_string(c.max_ctx));
  char buf[160];
  std::snprintf(buf, sizeof(buf), "theta %g, %s, scaling %s (factor %g)", c.rope_theta,
                rope_style_name(c.rope_style), rope_scaling_name(c.rope_scaling.type), c.rope_scaling.factor);
  std::string rope = buf;
  if (!c.rope_scaling.freq_factors.empty()) rope += ", per-pair factors (rope_freqs)";
  if (c.rope_local_theta > 0) {
    std::snprintf(buf, sizeof(buf), ", sliding layers theta %g unscaled", c.rope_local_theta);
    rope += buf;
  }
  line("rope", rope);
  line("attention", attention_summary(c));
  line("mlp", c.act == Activation::kGeluTanh ? "GELU-tanh gated" : "SwiGLU");
  if (c.n_expert > 0) line("experts", moe_summary(c));
  line("norms", c.post_norms ? "pre and post (attention and MLP outputs normed before the residual add)" : "pre");
  std::snprintf(buf, sizeof(buf), "%g", c.rms_eps);
  line("rms norm eps", buf);
  line("attention bias", c.attn_bias ? "yes" : "no");
  line("q/k norm", c.qk_norm ? "yes" : "no");
  line("tied embeddings", c.tied_embeddings ? "yes" : "no");
  line("bos id", c.bos_id >= 0 ? std::to_string(c.bos_id) : "none");
  line("eos ids", join_ints(c.eos_ids));
  line("parameters", human_count(model->n_params) + " (" + std::to_string(model->n_params) + ")");

  line("tensors", tensor_dtypes(model->weights));
  const auto defaults = read_generation_defaults(o.model);
  if (!defaults.ok()) line("generation defaults", "not readable: " + defaults.status().message());
  else if (defaults->empty()) line("generation defaults", "none");
  else
    line("generation defaults", defaults->describe() + " (" + defaults->source +
                                    "; run applies them unless --generation-config ignore)");

  // The CPU kernel path a run would use here.
  cpu::CpuIsa isa;
  std::string isa_error;
  line("cpu kernels", cpu::cpu_isa_parse(std::getenv("SPECBATCH_CPU"), &isa, &isa_error)
                          ? cpu::cpu_isa_describe(isa) + " (this CPU runs: " + cpu::cpu_isa_supported_list() +
                                "; SPECBATCH_CPU picks one)"
                          : isa_error);

  auto tokenizer = Tokenizer::load(o.model);
  line("tokenizer", tokenizer.ok() ? (*tokenizer)->summary() : "not loadable: " + tokenizer.status().message());
  const Status s = write_all(STDOUT_FILENO, out, "stdout");
  if (!s.ok()) {
    print_error(s.message());
    return kExitFatal;
  }
  return tokenizer.ok() ? kExitOk : kExitFatal;
}

}  // namespace sb::cli
