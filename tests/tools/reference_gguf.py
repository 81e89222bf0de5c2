"""GGUF files of the reference models as llama.cpp's convert_hf_to_gguf.py writes
them (key and tensor names, q/k row permutation for llama, stacked experts),
from the same stored weights the float64 reference uses."""
import numpy as np

import gguf_file

def llama_cpp_permute(w, n_head):
    """llama.cpp's conversion of q/k rows for its interleaved ("norm") RoPE."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def common_meta(a, m, hd, ctx, eps):
    """The keys every architecture has."""
    return {"general.architecture": a, a + ".embedding_length": m["dim"], a + ".block_count": m["layers"],
            a + ".feed_forward_length": m["ffn"], a + ".context_length": ctx, a + ".attention.head_count": m["heads"],
            a + ".attention.head_count_kv": m["kv_heads"], a + ".attention.key_length": hd,
            a + ".attention.value_length": hd, a + ".attention.layer_norm_rms_epsilon": eps,
            a + ".rope.freq_base": m["theta"]}


def layer_tensors(m, w, names, shift=0.0):
    """blk.N.* tensors renamed from the HF names; norms plus `shift` (Gemma's converter adds 1)."""
    t = {}
    for i in range(m["layers"]):
        for hf, gg in names.items():
            key = "model.layers.%d.%s.weight" % (i, hf)
            if key in w:
                t["blk.%d.%s.weight" % (i, gg)] = w[key] + (shift if hf.endswith("norm") else 0.0)
    return t


def write_llama(path, m, w, hd, scaled_freqs, ctx, eps):
    """The model as llama.cpp converts a Llama 3.x checkpoint: permuted q/k, llama3 scaling as
    the rope_freqs tensor (per-pair divisors), no output.weight when tied. A sliding window
    (Mistral) goes in llama.attention.sliding_window: llama.cpp's converter leaves it out."""
    s = m["scaling"]
    base = 1.0 / m["theta"] ** (np.arange(0, hd, 2) / hd)
    meta = {"general.architecture": "llama", "llama.embedding_length": m["dim"], "llama.block_count": m["layers"],
            "llama.feed_forward_length": m["ffn"], "llama.context_length": ctx,
            "llama.attention.head_count": m["heads"], "llama.attention.head_count_kv": m["kv_heads"],
            "llama.attention.layer_norm_rms_epsilon": eps, "llama.rope.freq_base": m["theta"]}
    t = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"]}
    if m["window"]:
        meta["llama.attention.sliding_window"] = m["window"]
    if m["head_dim"]:
        meta.update({"llama.attention.key_length": hd, "llama.attention.value_length": hd,
                     "llama.rope.dimension_count": hd})
    if s:
        t["rope_freqs.weight"] = base / scaled_freqs
    if not m["tied"]:
        t["output.weight"] = w["lm_head.weight"]
    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
             "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
             "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}
    for i in range(m["layers"]):
        for hf, gg in names.items():
            a = w["model.layers.%d.%s.weight" % (i, hf)]
            if gg == "attn_q":
                a = llama_cpp_permute(a, m["heads"])
            elif gg == "attn_k":
                a = llama_cpp_permute(a, m["kv_heads"])
            t["blk.%d.%s.weight" % (i, gg)] = a
    gguf_file.write(path, meta, t)



def write_qwen3moe(path, m, w, hd, ctx, eps):
    """Qwen3-MoE: NeoX RoPE (q/k rows as they are), q/k norms, every layer's experts
    stacked into [experts, rows, cols] tensors, the router as ffn_gate_inp."""
    x, a = m["moe"], "qwen3moe"
    meta = common_meta(a, m, hd, ctx, eps)
    del meta[a + ".feed_forward_length"]  # no dense layer: the expert size is what counts
    meta.update({a + ".expert_count": x["experts"], a + ".expert_used_count": x["used"],
                 a + ".expert_feed_forward_length": x["ffn"]})
    t = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"]}
    if not m["tied"]:
        t["output.weight"] = w["lm_head.weight"]
    t.update(layer_tensors(m, w, {
        "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm", "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
        "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm", "mlp.gate": "ffn_gate_inp"}))
    for i in range(m["layers"]):
        p = "model.layers.%d." % i
        for proj, gg in (("gate_proj", "ffn_gate_exps"), ("up_proj", "ffn_up_exps"), ("down_proj", "ffn_down_exps")):
            t["blk.%d.%s.weight" % (i, gg)] = np.stack(
                [w[p + "mlp.experts.%d.%s.weight" % (e, proj)] for e in range(x["experts"])])
    gguf_file.write(path, meta, t)


def write_phi3(path, m, w, hd, ctx, eps):
    """Phi-3: fused attn_qkv and ffn_up (gate rows first), longrope as rope_factors_long /
    _short tensors with the original context and the cos/sin factor in keys, the window."""
    a, s = "phi3", m["scaling"]
    orig = m["extra"]["original_max_position_embeddings"]
    meta = common_meta(a, m, hd, ctx, eps)
    meta.update({a + ".rope.dimension_count": hd, a + ".rope.scaling.original_context_length": orig,
                 a + ".attention.sliding_window": m["window"], a + ".rope.scaling.type": "longrope",
                 a + ".rope.scaling.attn_factor": float(np.sqrt(1 + np.log(ctx / orig) / np.log(orig)))})
    t = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"],
         "output.weight": w["lm_head.weight"], "rope_factors_long.weight": np.array(s["long_factor"]),
         "rope_factors_short.weight": np.array(s["short_factor"])}
    t.update(layer_tensors(m, w, {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
                                  "self_attn.o_proj": "attn_output", "mlp.down_proj": "ffn_down"}))
    for i in range(m["layers"]):
        p = "model.layers.%d." % i
        t["blk.%d.attn_qkv.weight" % i] = np.concatenate(
            [w[p + "self_attn.%s_proj.weight" % x] for x in ("q", "k", "v")])
        t["blk.%d.ffn_up.weight" % i] = np.concatenate([w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"]])
    gguf_file.write(path, meta, t)


def write_gemma(path, m, w, hd, ctx, eps):
    """Gemma 2 / 3: norms stored as 1 + w, soft-caps and the window in keys (Gemma 2's
    pattern by llama.cpp's default 2; Gemma 3's here written explicitly), the global
    layers' linear scaling, tied embeddings."""
    a = m["gguf"]
    meta = common_meta(a, m, hd, ctx, eps)
    meta[a + ".attention.sliding_window"] = m["window"]
    if a == "gemma2":
        meta.update({a + ".attn_logit_softcapping": m["attn_softcap"], a + ".final_logit_softcapping": m["final_softcap"]})
    else:
        meta[a + ".attention.sliding_window_pattern"] = m["extra"]["sliding_window_pattern"]
    if m["scaling"]:
        meta.update({a + ".rope.scaling.type": m["scaling"]["rope_type"], a + ".rope.scaling.factor": m["scaling"]["factor"]})
    t = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"] + 1.0}
    t.update(layer_tensors(m, w, {
        "input_layernorm": "attn_norm", "post_attention_layernorm": "post_attention_norm",
        "pre_feedforward_layernorm": "ffn_norm", "post_feedforward_layernorm": "post_ffw_norm",
        "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output", "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
        "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down"}, shift=1.0))
    gguf_file.write(path, meta, t)


def write(path, m, w, hd, scaled_freqs, ctx, eps):
    """The model as llama.cpp's architecture m["gguf"] stores it; ctx: context length, eps: RMSNorm epsilon."""
    if m["gguf"] == "llama":
        write_llama(path, m, w, hd, scaled_freqs, ctx, eps)
    elif m["gguf"] == "qwen3moe":
        write_qwen3moe(path, m, w, hd, ctx, eps)
    elif m["gguf"] == "phi3":
        write_phi3(path, m, w, hd, ctx, eps)
    elif m["gguf"] in ("gemma2", "gemma3"):
        write_gemma(path, m, w, hd, ctx, eps)
    else:
        raise ValueError(m["gguf"])
