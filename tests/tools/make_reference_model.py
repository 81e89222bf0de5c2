#!/usr/bin/python3
"""Writes small randomly initialised Hugging Face model directories (config.json
+ model.safetensors, written by hand from numpy) and reference logits computed by
a deliberately simple float64 numpy forward written from the architectures'
definitions (rotate_half RoPE and its scalings, grouped-query attention with
causal and sliding-window masks, SwiGLU / GELU-tanh MLPs, RMSNorm, Gemma's
(1 + w) norms, post-norms, embedding scale and soft-caps, Qwen3-MoE's top-k
routed experts).

Usage: make_reference_model.py OUT_DIR
Creates OUT_DIR/NAME/ for each model in MODELS (Llama, Llama 3.2, Mistral, Qwen2,
Qwen3, Qwen3-MoE, Phi-3, Gemma 2, Gemma 3) with config.json, model.safetensors
(model.gguf too where the spec names llama.cpp's architecture, as its converter
writes it: reference_gguf.py) and reference.txt:
  line 1: the token ids fed from position 0
  line 2: the positions whose logits follow
  then one line of logits per listed position;
and greedy.txt: the 12 greedy tokens after the first 5 reference tokens.
"""
import json
import os
import struct
import sys
import zlib

import numpy as np

import reference_gguf


def spec(**kw):
    """A model of the Llama family unless kw says otherwise."""
    m = dict(model_type="llama", head_dim=None, bias=False, qk_norm=False, tied=False, dtype="F32",
             theta=10000.0, scaling=None, window=0, sliding=None, act="silu", gemma=False, post_norms=False,
             attn_scalar=None, attn_softcap=None, final_softcap=None, local_theta=None, fused=False,
             gguf=None, moe=None, wrapper=False, seed=None, extra={})
    m.update(kw)
    return m


MODELS = {
    # Qwen2: q/k/v biases, GQA 4:2, tied embeddings, F32.
    "qwen2": spec(arch="Qwen2ForCausalLM", model_type="qwen2", vocab=101, dim=64, layers=2, heads=4,
                  kv_heads=2, ffn=96, bias=True, tied=True, theta=1000000.0),
    # Qwen3: per-head q/k RMSNorm, explicit head_dim != dim / heads, GQA 4:1, untied, BF16.
    "qwen3": spec(arch="Qwen3ForCausalLM", model_type="qwen3", vocab=103, dim=48, layers=2, heads=4,
                  kv_heads=1, head_dim=20, ffn=80, qk_norm=True, dtype="BF16", theta=1000000.0),
    # Llama: no biases, MHA, untied, llama3 RoPE scaling, F32.
    "llama": spec(arch="LlamaForCausalLM", vocab=89, dim=40, layers=2, heads=5, kv_heads=5, ffn=72,
                  scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                               original_max_position_embeddings=64)),
    # Llama 3.2: tied embeddings, GQA, llama3 scaling; also written as GGUF (rope_freqs).
    "llama32": spec(arch="LlamaForCausalLM", vocab=97, dim=48, layers=2, heads=6, kv_heads=2, ffn=64, tied=True,
                    gguf="llama",
                    theta=500000.0, scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                                 high_freq_factor=4.0, original_max_position_embeddings=32)),
    # Mistral: sliding-window attention on every layer (window 4 < 13 tokens), GQA, explicit head_dim.
    "mistral": spec(arch="MistralForCausalLM", model_type="mistral", vocab=91, dim=40, layers=2, heads=4,
                    kv_heads=2, head_dim=12, ffn=64, window=4, sliding=[True, True], theta=1000000.0, gguf="llama"),
    # Phi-3: fused qkv and gate_up, longrope (long factors: the 32-token cache exceeds the original 16),
    # sliding window 6 on every layer.
    "phi3": spec(arch="Phi3ForCausalLM", model_type="phi3", vocab=95, dim=48, layers=2, heads=4, kv_heads=2,
                 ffn=64, fused=True, window=6, sliding=[True, True], ctx=32,
                 scaling=dict(type="longrope", short_factor=[1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                              long_factor=[1.0, 1.5, 2.5, 4.0, 6.0, 9.0]),
                 extra=dict(original_max_position_embeddings=16), gguf="phi3"),
    # Gemma 2: (1 + w) norms, pre+post norms, GELU-tanh, embedding scale, query_pre_attn_scalar,
    # attention and final soft-caps, alternating local (window 5) / global layers, tied.
    "gemma2": spec(arch="Gemma2ForCausalLM", model_type="gemma2", vocab=107, dim=32, layers=3, heads=4,
                   kv_heads=2, head_dim=16, ffn=48, tied=True, act="gelu_tanh", gemma=True, post_norms=True,
                   window=5, sliding=[True, False, True], attn_scalar=24.0, attn_softcap=5.0,
                   final_softcap=3.0, seed=1234),
    # Gemma 2 as its 2B/9B are: query_pre_attn_scalar = head_dim (what llama.cpp assumes for
    # GGUF files below 27B), window 6 on layers 0 and 2; also written as GGUF.
    "gemma2_2b": spec(arch="Gemma2ForCausalLM", model_type="gemma2", vocab=103, dim=32, layers=3, heads=2,
                      kv_heads=1, head_dim=16, ffn=40, tied=True, act="gelu_tanh", gemma=True, post_norms=True,
                      window=6, sliding=[True, False, True], attn_softcap=4.0, final_softcap=6.0, gguf="gemma2"),
    # Gemma 3: Gemma 2's layer plus q/k norms, no soft-caps, local layers' own RoPE base, global
    # layers' linear scaling, pattern 3 (layers 0, 1 local, 2 global), BF16.
    "gemma3": spec(arch="Gemma3ForCausalLM", model_type="gemma3_text", vocab=109, dim=32, layers=3, heads=2,
                   kv_heads=1, head_dim=16, ffn=48, tied=True, act="gelu_tanh", gemma=True, post_norms=True,
                   qk_norm=True, window=4, sliding=[True, True, False], attn_scalar=16.0, dtype="BF16",
                   theta=1000000.0, local_theta=10000.0, scaling=dict(rope_type="linear", factor=2.0),
                   extra=dict(sliding_window_pattern=3), gguf="gemma3"),
    # Gemma 3 as the 4B+ checkpoints ship: Gemma3ForConditionalGeneration with a sparse
    # text_config (query_pre_attn_scalar 256, RoPE bases, eps and the pattern-6 window left to
    # Gemma3TextConfig's defaults), text weights under language_model.model., vision tensors
    # beside them (never read).
    "gemma3_mm": spec(arch="Gemma3ForConditionalGeneration", model_type="gemma3", vocab=101, dim=32, layers=3,
                      heads=2, kv_heads=1, head_dim=16, ffn=40, tied=True, act="gelu_tanh", gemma=True,
                      post_norms=True, qk_norm=True, window=5, sliding=[True, True, True], attn_scalar=256.0,
                      dtype="BF16", theta=1000000.0, local_theta=10000.0, wrapper=True),
    # Qwen3-MoE: Qwen3 attention, every layer 8 SwiGLU experts of 24, 3 per token, weights renormalised;
    # layer 0's router is zero (all experts tie: the lowest three win), layer 1's rows 2 and 5 are equal
    # (a tie that straddles the top-3 boundary for some tokens). BF16, untied; also written as GGUF.
    "qwen3moe": spec(arch="Qwen3MoeForCausalLM", model_type="qwen3_moe", vocab=113, dim=32, layers=3, heads=4,
                     kv_heads=2, head_dim=16, ffn=40, qk_norm=True, dtype="BF16", theta=1000000.0, gguf="qwen3moe",
                     moe=dict(experts=8, used=3, ffn=24, norm=True, zero_router=[0], dup_rows={1: (2, 5)},
                              dense=[]), seed=1242),
    # Qwen3-MoE with a dense layer (mlp_only_layers) and weights not renormalised; tied, F32.
    "qwen3moe_mixed": spec(arch="Qwen3MoeForCausalLM", model_type="qwen3_moe", vocab=97, dim=32, layers=2,
                           heads=2, kv_heads=1, head_dim=16, ffn=40, qk_norm=True, tied=True, theta=1000000.0,
                           moe=dict(experts=6, used=2, ffn=20, norm=False, zero_router=[], dup_rows={},
                                    dense=[1])),
}
EPS = 1e-6
MAX_POSITIONS = 128
TOKENS_LEN = 13
CHECK_POSITIONS = [0, 1, 6, 12]
GREEDY_LEN = 12  # after a 5-token prompt: runs past every sliding window


def to_bf16_bits(a):
    """float32 -> bfloat16 bit patterns, round to nearest even."""
    bits = np.asarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    bits = bits + 0x7FFF + ((bits >> 16) & 1)
    return (bits >> 16).astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def write_safetensors(path, tensors, dtype):
    """tensors: name -> float64 array. Returns the values as stored (rounded)."""
    header, blobs, stored, offset = {}, [], {}, 0
    for name, a in tensors.items():
        if dtype == "F32":
            raw = a.astype("<f4")
            stored[name] = raw.astype(np.float64)
        else:
            raw = to_bf16_bits(a).astype("<u2")
            stored[name] = from_bf16_bits(raw).astype(np.float64)
        data = raw.tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    return stored


def make_weights(m, rng):
    """Unfused weights under Hugging Face names (Gemma's own norm names); norms
    hold w for Gemma's (1 + w) scale, the scale itself elsewhere."""
    hd = m["head_dim"] or m["dim"] // m["heads"]
    d, f, v = m["dim"], m["ffn"], m["vocab"]
    qd, kd = m["heads"] * hd, m["kv_heads"] * hd
    norm = (lambda n: 0.1 * rng.normal(size=n)) if m["gemma"] else (lambda n: 1 + 0.1 * rng.normal(size=n))
    w = {"model.embed_tokens.weight": rng.normal(0, 1.0, (v, d)), "model.norm.weight": norm(d)}
    if not m["tied"]:
        w["lm_head.weight"] = rng.normal(0, 0.2, (v, d))
    for i in range(m["layers"]):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = norm(d)
        w[p + "post_attention_layernorm.weight"] = norm(d)
        if m["post_norms"]:
            w[p + "pre_feedforward_layernorm.weight"] = norm(d)
            w[p + "post_feedforward_layernorm.weight"] = norm(d)
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, d ** -0.5, (qd, d))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, d ** -0.5, (kd, d))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, d ** -0.5, (kd, d))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, qd ** -0.5, (d, qd))
        if m["bias"]:
            w[p + "self_attn.q_proj.bias"] = rng.normal(0, 0.5, qd)
            w[p + "self_attn.k_proj.bias"] = rng.normal(0, 0.5, kd)
            w[p + "self_attn.v_proj.bias"] = rng.normal(0, 0.5, kd)
        if m["qk_norm"]:
            w[p + "self_attn.q_norm.weight"] = norm(hd) * 2
            w[p + "self_attn.k_norm.weight"] = norm(hd) * 2
        if is_moe(m, i):
            add_experts(m, i, w, rng)
            continue
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, d ** -0.5, (f, d))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, d ** -0.5, (f, d))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, f ** -0.5, (d, f))
    return w, hd


def is_moe(m, layer):
    return m["moe"] is not None and layer not in m["moe"]["dense"]


def add_experts(m, i, w, rng):
    """Layer i's router (zero, or with two equal rows, where the spec asks) and experts."""
    x, d, p = m["moe"], m["dim"], "model.layers.%d.mlp." % i
    router = rng.normal(0, 1.0, (x["experts"], d))
    if i in x["zero_router"]:
        router[:] = 0
    if i in x["dup_rows"]:
        a, b = x["dup_rows"][i]
        router[b] = router[a]
    w[p + "gate.weight"] = router
    for e in range(x["experts"]):
        w[p + "experts.%d.gate_proj.weight" % e] = rng.normal(0, d ** -0.5, (x["ffn"], d))
        w[p + "experts.%d.up_proj.weight" % e] = rng.normal(0, d ** -0.5, (x["ffn"], d))
        w[p + "experts.%d.down_proj.weight" % e] = rng.normal(0, x["ffn"] ** -0.5, (d, x["ffn"]))


def stored_values(w, dtype):
    """The weights as the file's dtype rounds them."""
    if dtype == "F32":
        return {k: a.astype(np.float32).astype(np.float64) for k, a in w.items()}
    return {k: from_bf16_bits(to_bf16_bits(a)).astype(np.float64) for k, a in w.items()}


def file_tensors(m, w):
    """Tensors as the family's files name them: Phi-3 fuses q/k/v and gate/up; a
    multimodal wrapper keeps the text model under language_model. beside vision tensors."""
    if m["wrapper"]:
        out = {"language_model." + k: a for k, a in w.items()}
        out["vision_tower.vision_model.embeddings.patch_embedding.weight"] = np.ones((4, 3))
        out["multi_modal_projector.mm_input_projection_weight"] = np.ones((3, m["dim"]))
        return out
    if not m["fused"]:
        return w
    out = {}
    for k, a in w.items():
        if ".self_attn.q_proj." in k:
            p = k.split("self_attn.")[0]
            out[p + "self_attn.qkv_proj.weight"] = np.concatenate(
                [a, w[p + "self_attn.k_proj.weight"], w[p + "self_attn.v_proj.weight"]])
        elif ".mlp.gate_proj." in k:
            p = k.split("mlp.")[0]
            out[p + "mlp.gate_up_proj.weight"] = np.concatenate([a, w[p + "mlp.up_proj.weight"]])
        elif not any(x in k for x in (".self_attn.k_proj.", ".self_attn.v_proj.", ".mlp.up_proj.")):
            out[k] = a
    return out


def rms_norm(x, weight, m=None):
    scale = 1 + weight if m and m["gemma"] else weight
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * scale


def inv_freq(m, hd, local=False):
    """[hd/2] RoPE frequencies and the cos/sin factor; Gemma 3's local layers: their own base, unscaled."""
    if local and m["local_theta"]:
        return 1.0 / m["local_theta"] ** (np.arange(0, hd, 2) / hd), 1.0
    inv = 1.0 / m["theta"] ** (np.arange(0, hd, 2) / hd)
    s = m["scaling"]
    if s is None:
        return inv, 1.0
    kind = s.get("rope_type", s.get("type"))
    if kind == "linear":
        return inv / s["factor"], 1.0
    if kind == "longrope":
        # Phi-3: the long factors when the context (the test's cache) exceeds the original;
        # cos/sin scaled by sqrt(1 + ln(factor) / ln(original)), factor = max positions / original.
        orig = m["extra"]["original_max_position_embeddings"]
        ext = np.array(s["long_factor"] if m["ctx"] > orig else s["short_factor"])
        factor = MAX_POSITIONS / orig
        return inv / ext, np.sqrt(1 + np.log(factor) / np.log(orig))
    # llama3: long wavelengths divided by factor, short kept, a smooth blend between.
    orig, factor = s["original_max_position_embeddings"], s["factor"]
    low_wavelen, high_wavelen = orig / s["low_freq_factor"], orig / s["high_freq_factor"]
    out = []
    for f in inv:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            out.append(f)
        elif wavelen > low_wavelen:
            out.append(f / factor)
        else:
            smooth = (orig / wavelen - s["low_freq_factor"]) / (s["high_freq_factor"] - s["low_freq_factor"])
            out.append((1 - smooth) * f / factor + smooth * f)
    return np.array(out), 1.0


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, freqs, positions=None, factor=1.0):
    """x: [T, heads, hd]; row t rotates by angle positions[t] * freqs (default positions 0..T-1)."""
    if positions is None:
        positions = np.arange(x.shape[0])
    angles = np.asarray(positions)[:, None] * freqs[None, :]   # [T, hd/2]
    emb = np.concatenate([angles, angles], axis=-1)[:, None, :]  # [T, 1, hd]
    return x * np.cos(emb) * factor + rotate_half(x) * np.sin(emb) * factor


def softcap(x, cap):
    return cap * np.tanh(x / cap) if cap else x


def gated_mlp(m, h, gate_w, up_w, down_w):
    gate, up = h @ gate_w.T, h @ up_w.T
    if m["act"] == "gelu_tanh":
        act = 0.5 * gate * (1 + np.tanh(np.sqrt(2 / np.pi) * (gate + 0.044715 * gate ** 3)))
    else:
        act = gate / (1 + np.exp(-gate))
    return (act * up) @ down_w.T


def moe_mlp(m, w, p, h, routes, flip_ties):
    """Qwen3-MoE's sparse MLP: per token the `used` experts with the largest router
    logits (equal logits: the lower index first, the higher with flip_ties),
    weighted by their softmax probabilities (renormalised over the chosen with norm).
    Router logits are summed elementwise (not by BLAS), so equal router rows give
    exactly equal logits. Appends (logits, chosen) per token to `routes`."""
    x = m["moe"]
    logits = (h[:, None, :] * w[p + "gate.weight"][None, :, :]).sum(axis=-1)  # [T, experts]
    out = np.zeros_like(h)
    for t in range(h.shape[0]):
        sign = -1 if flip_ties else 1
        chosen = sorted(range(x["experts"]), key=lambda e: (-logits[t, e], sign * e))[:x["used"]]
        probs = np.exp(logits[t] - logits[t].max())
        probs /= probs.sum()
        weights = probs[chosen] / (probs[chosen].sum() if x["norm"] else 1.0)
        for e, wt in zip(chosen, weights):
            q = p + "experts.%d." % e
            out[t] += wt * gated_mlp(m, h[t:t + 1], w[q + "gate_proj.weight"], w[q + "up_proj.weight"],
                                     w[q + "down_proj.weight"])[0]
        routes.append((logits[t], chosen))
    return out


def forward(m, w, hd, tokens, hidden=None, routes=None, flip_ties_layer=None):
    """Logits for every position; appends to `hidden` (when given) the embedding
    output and then each decoder layer's output, each [T, dim]; MoE layers append
    each token's router logits and chosen experts to `routes`. Layer
    flip_ties_layer breaks router ties the other way (to show the tests see it)."""
    routes = [] if routes is None else routes
    T, H, KV = len(tokens), m["heads"], m["kv_heads"]
    x = w["model.embed_tokens.weight"][tokens]
    if m["gemma"]:
        x = x * float(np.float32(np.sqrt(m["dim"])))
    if hidden is not None:
        hidden.append(x)
    i_idx, j_idx = np.arange(T)[:, None], np.arange(T)[None, :]
    causal = np.where(j_idx <= i_idx, 0.0, -np.inf)
    windowed = np.where((j_idx <= i_idx) & (i_idx - j_idx < max(m["window"], 1)), 0.0, -np.inf)
    scale = (m["attn_scalar"] or hd) ** -0.5
    for i in range(m["layers"]):
        p = "model.layers.%d." % i
        local = bool(m["sliding"] and m["sliding"][i])
        freqs, factor = inv_freq(m, hd, local)
        mask = windowed if local else causal
        h = rms_norm(x, w[p + "input_layernorm.weight"], m)
        q = h @ w[p + "self_attn.q_proj.weight"].T
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T
        if m["bias"]:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
        if m["qk_norm"]:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], m)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], m)
        q, k = apply_rope(q, freqs, factor=factor), apply_rope(k, freqs, factor=factor)
        out = np.zeros((T, H, hd))
        for head in range(H):
            kv = head // (H // KV)
            scores = softcap(q[:, head] @ k[:, kv].T * scale, m["attn_softcap"]) + mask
            probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
            out[:, head] = probs @ v[:, kv]
        a = out.reshape(T, H * hd) @ w[p + "self_attn.o_proj.weight"].T
        if m["post_norms"]:
            a = rms_norm(a, w[p + "post_attention_layernorm.weight"], m)
            h = rms_norm(x + a, w[p + "pre_feedforward_layernorm.weight"], m)
        else:
            h = rms_norm(x + a, w[p + "post_attention_layernorm.weight"], m)
        x = x + a
        if is_moe(m, i):
            mlp = moe_mlp(m, w, p + "mlp.", h, routes, i == flip_ties_layer)
        else:
            mlp = gated_mlp(m, h, w[p + "mlp.gate_proj.weight"], w[p + "mlp.up_proj.weight"],
                            w[p + "mlp.down_proj.weight"])
        if m["post_norms"]:
            mlp = rms_norm(mlp, w[p + "post_feedforward_layernorm.weight"], m)
        x = x + mlp
        if hidden is not None:
            hidden.append(x)
    x = rms_norm(x, w["model.norm.weight"], m)
    head = w["model.embed_tokens.weight"] if m["tied"] else w["lm_head.weight"]
    return softcap(x @ head.T, m["final_softcap"])


def write_config(d, m):
    """config.json of model `m` in directory `d`."""
    config = {
        "architectures": [m["arch"]], "model_type": m["model_type"], "vocab_size": m["vocab"],
        "hidden_size": m["dim"], "num_hidden_layers": m["layers"], "num_attention_heads": m["heads"],
        "num_key_value_heads": m["kv_heads"], "intermediate_size": m["ffn"], "max_position_embeddings": MAX_POSITIONS,
        "rms_norm_eps": EPS, "rope_theta": m["theta"], "tie_word_embeddings": m["tied"],
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32" if m["dtype"] == "F32" else "bfloat16",
    }
    if m["head_dim"]:
        config["head_dim"] = m["head_dim"]
    if m["scaling"]:
        config["rope_scaling"] = m["scaling"]
    if m["window"]:
        config["sliding_window"] = m["window"]
    if m["gemma"]:
        config.update(hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=m["attn_scalar"],
                      attn_logit_softcapping=m["attn_softcap"], final_logit_softcapping=m["final_softcap"])
        if m["local_theta"]:
            config["rope_local_base_freq"] = m["local_theta"]
    else:
        config["hidden_act"] = "silu"
    if m["moe"]:
        x = m["moe"]
        config.update(num_experts=x["experts"], num_experts_per_tok=x["used"], moe_intermediate_size=x["ffn"],
                      norm_topk_prob=x["norm"], decoder_sparse_step=1, mlp_only_layers=x["dense"])
    config.update(m["extra"])
    if m["wrapper"]:
        # Only what Gemma3TextConfig's defaults do not give; eos and architectures at the top.
        keep = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                "intermediate_size", "max_position_embeddings", "head_dim", "sliding_window")
        text = {k: config[k] for k in keep}
        text["model_type"] = "gemma3_text"
        config = {"architectures": [m["arch"]], "model_type": m["model_type"], "eos_token_id": [2, 1],
                  "text_config": text, "vision_config": {"model_type": "siglip_vision_model", "hidden_size": 4},
                  "torch_dtype": config["torch_dtype"]}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def main():
    out_dir = sys.argv[1]
    for name, m in sorted(MODELS.items()):
        # A model's weights do not depend on the other models (the seed: its own, or its name's hash).
        rng = np.random.default_rng(m["seed"] if m["seed"] is not None else zlib.crc32(name.encode()))
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        weights, hd = make_weights(m, rng)
        stored = stored_values(weights, m["dtype"])
        write_safetensors(os.path.join(d, "model.safetensors"), file_tensors(m, stored), m["dtype"])
        write_config(d, m)
        if m["gguf"]:
            reference_gguf.write(os.path.join(d, "model.gguf"), m, stored, hd, inv_freq(m, hd)[0], MAX_POSITIONS, EPS)
        tokens = rng.integers(0, m["vocab"], TOKENS_LEN)
        routes = []
        logits = forward(m, stored, hd, tokens, routes=routes)
        if m["moe"]:
            check_routes(m, routes, require_straddle=bool(m["moe"]["dup_rows"]))
        for layer in (m["moe"]["zero_router"] + list(m["moe"]["dup_rows"])) if m["moe"] else []:
            alt = forward(m, stored, hd, tokens, flip_ties_layer=layer)[CHECK_POSITIONS]
            want = logits[CHECK_POSITIONS]
            assert np.abs(alt - want).max() > 1e-2 * max(1.0, np.abs(want).max()), "layer %d's tie rule is not tested" % layer
        with open(os.path.join(d, "reference.txt"), "w") as f:
            f.write(" ".join(str(t) for t in tokens) + "\n")
            f.write(" ".join(str(p) for p in CHECK_POSITIONS) + "\n")
            for p in CHECK_POSITIONS:
                f.write(" ".join(repr(float(v)) for v in logits[p]) + "\n")
        with open(os.path.join(d, "greedy.txt"), "w") as f:
            f.write(" ".join(str(t) for t in greedy(m, stored, hd, list(tokens[:5]), GREEDY_LEN)) + "\n")


def check_routes(m, routes, require_straddle=False):
    """Every token's last chosen expert must beat the first unchosen one by a margin
    float32 cannot flip, or tie it exactly (equal router rows: the tie rule decides)."""
    used, straddles = m["moe"]["used"], 0
    for logits, chosen in routes:
        ranked = np.sort(logits)[::-1]
        gap = ranked[used - 1] - ranked[used]
        assert gap == 0 or gap > 1e-4 * max(1.0, abs(ranked[0])), "near tie in the router"
        straddles += gap == 0 and logits.any()
    assert straddles or not require_straddle, "no tie of equal router rows straddles the top-k boundary"


def greedy(m, w, hd, prompt, n):
    """n greedy tokens after prompt; each argmax must win by a margin float32 cannot flip."""
    seq = list(prompt)
    for _ in range(n):
        routes = []
        last = forward(m, w, hd, seq, routes=routes)[-1]
        if m["moe"]:
            check_routes(m, routes)
        top2 = np.sort(last)[-2:]
        assert top2[1] - top2[0] > 1e-4 * max(1.0, abs(top2[1])), "near tie in the greedy reference"
        seq.append(int(np.argmax(last)))
    return seq[len(prompt):]


if __name__ == "__main__":
    main()
