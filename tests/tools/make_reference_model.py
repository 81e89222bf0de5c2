#!/usr/bin/python3
"""Writes small randomly initialised Hugging Face model directories (config.json
+ model.safetensors, written by hand from numpy) and reference logits computed by
a deliberately simple float64 numpy forward written from the architectures'
definitions (rotate_half RoPE and its scalings, grouped-query attention with
causal and sliding-window masks, SwiGLU / GELU-tanh MLPs, RMSNorm, Gemma's
(1 + w) norms, post-norms, embedding scale and soft-caps).

Usage: make_reference_model.py OUT_DIR
Creates OUT_DIR/NAME/ for each model in MODELS (Llama, Llama 3.2, Mistral, Qwen2,
Qwen3, Phi-3, Gemma 2, Gemma 3) with config.json, model.safetensors (model.gguf too
for Llama 3.2, as llama.cpp converts it) and reference.txt:
  line 1: the token ids fed from position 0
  line 2: the positions whose logits follow
  then one line of logits per listed position;
and greedy.txt: the 12 greedy tokens after the first 5 reference tokens.
"""
import json
import os
import struct
import sys

import numpy as np

import gguf_file


def spec(**kw):
    """A model of the Llama family unless kw says otherwise."""
    m = dict(model_type="llama", head_dim=None, bias=False, qk_norm=False, tied=False, dtype="F32",
             theta=10000.0, scaling=None, window=0, sliding=None, act="silu", gemma=False, post_norms=False,
             attn_scalar=None, attn_softcap=None, final_softcap=None, local_theta=None, fused=False,
             gguf=False, extra={})
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
                    gguf=True,
                    theta=500000.0, scaling=dict(rope_type="llama3", factor=32.0, low_freq_factor=1.0,
                                                 high_freq_factor=4.0, original_max_position_embeddings=32)),
    # Mistral: sliding-window attention on every layer (window 4 < 13 tokens), GQA, explicit head_dim.
    "mistral": spec(arch="MistralForCausalLM", model_type="mistral", vocab=91, dim=40, layers=2, heads=4,
                    kv_heads=2, head_dim=12, ffn=64, window=4, sliding=[True, True], theta=1000000.0),
    # Phi-3: fused qkv and gate_up, longrope (long factors: the 32-token cache exceeds the original 16),
    # sliding window 6 on every layer.
    "phi3": spec(arch="Phi3ForCausalLM", model_type="phi3", vocab=95, dim=48, layers=2, heads=4, kv_heads=2,
                 ffn=64, fused=True, window=6, sliding=[True, True], ctx=32,
                 scaling=dict(type="longrope", short_factor=[1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                              long_factor=[1.0, 1.5, 2.5, 4.0, 6.0, 9.0]),
                 extra=dict(original_max_position_embeddings=16)),
    # Gemma 2: (1 + w) norms, pre+post norms, GELU-tanh, embedding scale, query_pre_attn_scalar,
    # attention and final soft-caps, alternating local (window 5) / global layers, tied.
    "gemma2": spec(arch="Gemma2ForCausalLM", model_type="gemma2", vocab=107, dim=32, layers=3, heads=4,
                   kv_heads=2, head_dim=16, ffn=48, tied=True, act="gelu_tanh", gemma=True, post_norms=True,
                   window=5, sliding=[True, False, True], attn_scalar=24.0, attn_softcap=5.0,
                   final_softcap=3.0),
    # Gemma 3: Gemma 2's layer plus q/k norms, no soft-caps, local layers' own RoPE base, global
    # layers' linear scaling, pattern 3 (layers 0, 1 local, 2 global), BF16.
    "gemma3": spec(arch="Gemma3ForCausalLM", model_type="gemma3_text", vocab=109, dim=32, layers=3, heads=2,
                   kv_heads=1, head_dim=16, ffn=48, tied=True, act="gelu_tanh", gemma=True, post_norms=True,
                   qk_norm=True, window=4, sliding=[True, True, False], attn_scalar=16.0, dtype="BF16",
                   theta=1000000.0, local_theta=10000.0, scaling=dict(rope_type="linear", factor=2.0),
                   extra=dict(sliding_window_pattern=3)),
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
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, d ** -0.5, (f, d))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, d ** -0.5, (f, d))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, f ** -0.5, (d, f))
    return w, hd


def stored_values(w, dtype):
    """The weights as the file's dtype rounds them."""
    if dtype == "F32":
        return {k: a.astype(np.float32).astype(np.float64) for k, a in w.items()}
    return {k: from_bf16_bits(to_bf16_bits(a)).astype(np.float64) for k, a in w.items()}


def file_tensors(m, w):
    """Tensors as the family's files name them: Phi-3 fuses q/k/v and gate/up."""
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


def forward(m, w, hd, tokens, hidden=None):
    """Logits for every position; appends to `hidden` (when given) the embedding
    output and then each decoder layer's output, each [T, dim]."""
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
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        if m["act"] == "gelu_tanh":
            act = 0.5 * gate * (1 + np.tanh(np.sqrt(2 / np.pi) * (gate + 0.044715 * gate ** 3)))
        else:
            act = gate / (1 + np.exp(-gate))
        mlp = (act * up) @ w[p + "mlp.down_proj.weight"].T
        if m["post_norms"]:
            mlp = rms_norm(mlp, w[p + "post_feedforward_layernorm.weight"], m)
        x = x + mlp
        if hidden is not None:
            hidden.append(x)
    x = rms_norm(x, w["model.norm.weight"], m)
    head = w["model.embed_tokens.weight"] if m["tied"] else w["lm_head.weight"]
    return softcap(x @ head.T, m["final_softcap"])


def llama_cpp_permute(w, n_head):
    """llama.cpp's conversion of q/k rows for its interleaved ("norm") RoPE."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_llama_gguf(path, m, w, hd):
    """The model as llama.cpp converts a Llama 3.x checkpoint: permuted q/k, llama3 scaling as
    the rope_freqs tensor (per-pair divisors), no output.weight when tied."""
    s = m["scaling"]
    base = 1.0 / m["theta"] ** (np.arange(0, hd, 2) / hd)
    scaled, _ = inv_freq(m, hd)
    meta = {"general.architecture": "llama", "llama.embedding_length": m["dim"], "llama.block_count": m["layers"],
            "llama.feed_forward_length": m["ffn"], "llama.context_length": MAX_POSITIONS,
            "llama.attention.head_count": m["heads"], "llama.attention.head_count_kv": m["kv_heads"],
            "llama.attention.layer_norm_rms_epsilon": EPS, "llama.rope.freq_base": m["theta"]}
    t = {"token_embd.weight": w["model.embed_tokens.weight"], "output_norm.weight": w["model.norm.weight"]}
    if s:
        t["rope_freqs.weight"] = base / scaled
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
    config.update(m["extra"])
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def main():
    out_dir = sys.argv[1]
    for seed, (name, m) in enumerate(sorted(MODELS.items())):
        rng = np.random.default_rng(1234 + seed)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        weights, hd = make_weights(m, rng)
        stored = stored_values(weights, m["dtype"])
        write_safetensors(os.path.join(d, "model.safetensors"), file_tensors(m, stored), m["dtype"])
        write_config(d, m)
        if m["gguf"]:
            write_llama_gguf(os.path.join(d, "model.gguf"), m, stored, hd)
        tokens = rng.integers(0, m["vocab"], TOKENS_LEN)
        logits = forward(m, stored, hd, tokens)
        with open(os.path.join(d, "reference.txt"), "w") as f:
            f.write(" ".join(str(t) for t in tokens) + "\n")
            f.write(" ".join(str(p) for p in CHECK_POSITIONS) + "\n")
            for p in CHECK_POSITIONS:
                f.write(" ".join(repr(float(v)) for v in logits[p]) + "\n")
        with open(os.path.join(d, "greedy.txt"), "w") as f:
            f.write(" ".join(str(t) for t in greedy(m, stored, hd, list(tokens[:5]), GREEDY_LEN)) + "\n")


def greedy(m, w, hd, prompt, n):
    """n greedy tokens after prompt; each argmax must win by a margin float32 cannot flip."""
    seq = list(prompt)
    for _ in range(n):
        last = forward(m, w, hd, seq)[-1]
        top2 = np.sort(last)[-2:]
        assert top2[1] - top2[0] > 1e-4 * max(1.0, abs(top2[1])), "near tie in the greedy reference"
        seq.append(int(np.argmax(last)))
    return seq[len(prompt):]


if __name__ == "__main__":
    main()
