#!/usr/bin/python3
"""Writes small randomly initialised Hugging Face model directories (config.json
+ model.safetensors, written by hand from numpy) and reference logits computed by
a deliberately simple float64 numpy forward written from the architectures'
definitions (rotate_half RoPE, grouped-query attention, SwiGLU, RMSNorm).

Usage: make_reference_model.py OUT_DIR
Creates OUT_DIR/{qwen2,qwen3,llama}/ each with config.json, model.safetensors
and reference.txt:
  line 1: the token ids fed from position 0
  line 2: the positions whose logits follow
  then one line of logits per listed position.
"""
import json
import os
import struct
import sys

import numpy as np

MODELS = {
    # Qwen2: q/k/v biases, GQA 4:2, tied embeddings, F32.
    "qwen2": dict(arch="Qwen2ForCausalLM", model_type="qwen2", vocab=101, dim=64, layers=2, heads=4,
                  kv_heads=2, head_dim=None, ffn=96, bias=True, qk_norm=False, tied=True, dtype="F32",
                  theta=1000000.0, scaling=None),
    # Qwen3: per-head q/k RMSNorm, explicit head_dim != dim / heads, GQA 4:1, untied, BF16.
    "qwen3": dict(arch="Qwen3ForCausalLM", model_type="qwen3", vocab=103, dim=48, layers=2, heads=4,
                  kv_heads=1, head_dim=20, ffn=80, bias=False, qk_norm=True, tied=False, dtype="BF16",
                  theta=1000000.0, scaling=None),
    # Llama: no biases, MHA, untied, llama3 RoPE scaling, F32.
    "llama": dict(arch="LlamaForCausalLM", model_type="llama", vocab=89, dim=40, layers=2, heads=5,
                  kv_heads=5, head_dim=None, ffn=72, bias=False, qk_norm=False, tied=False, dtype="F32",
                  theta=10000.0, scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                              high_freq_factor=4.0, original_max_position_embeddings=64)),
}
EPS = 1e-6
TOKENS_LEN = 13
CHECK_POSITIONS = [0, 1, 6, 12]


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
    hd = m["head_dim"] or m["dim"] // m["heads"]
    d, f, v = m["dim"], m["ffn"], m["vocab"]
    qd, kd = m["heads"] * hd, m["kv_heads"] * hd
    w = {"model.embed_tokens.weight": rng.normal(0, 1.0, (v, d)),
         "model.norm.weight": 1 + 0.1 * rng.normal(size=d)}
    if not m["tied"]:
        w["lm_head.weight"] = rng.normal(0, 0.2, (v, d))
    for i in range(m["layers"]):
        p = "model.layers.%d." % i
        w[p + "input_layernorm.weight"] = 1 + 0.1 * rng.normal(size=d)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.normal(size=d)
        w[p + "self_attn.q_proj.weight"] = rng.normal(0, d ** -0.5, (qd, d))
        w[p + "self_attn.k_proj.weight"] = rng.normal(0, d ** -0.5, (kd, d))
        w[p + "self_attn.v_proj.weight"] = rng.normal(0, d ** -0.5, (kd, d))
        w[p + "self_attn.o_proj.weight"] = rng.normal(0, qd ** -0.5, (d, qd))
        if m["bias"]:
            w[p + "self_attn.q_proj.bias"] = rng.normal(0, 0.5, qd)
            w[p + "self_attn.k_proj.bias"] = rng.normal(0, 0.5, kd)
            w[p + "self_attn.v_proj.bias"] = rng.normal(0, 0.5, kd)
        if m["qk_norm"]:
            w[p + "self_attn.q_norm.weight"] = 1 + 0.2 * rng.normal(size=hd)
            w[p + "self_attn.k_norm.weight"] = 1 + 0.2 * rng.normal(size=hd)
        w[p + "mlp.gate_proj.weight"] = rng.normal(0, d ** -0.5, (f, d))
        w[p + "mlp.up_proj.weight"] = rng.normal(0, d ** -0.5, (f, d))
        w[p + "mlp.down_proj.weight"] = rng.normal(0, f ** -0.5, (d, f))
    return w, hd


def rms_norm(x, weight):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS) * weight


def inv_freq(m, hd):
    inv = 1.0 / m["theta"] ** (np.arange(0, hd, 2) / hd)
    s = m["scaling"]
    if s is None:
        return inv
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
    return np.array(out)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rope(x, freqs, positions=None):
    """x: [T, heads, hd]; row t rotates by angle positions[t] * freqs (default positions 0..T-1)."""
    if positions is None:
        positions = np.arange(x.shape[0])
    angles = np.asarray(positions)[:, None] * freqs[None, :]   # [T, hd/2]
    emb = np.concatenate([angles, angles], axis=-1)[:, None, :]  # [T, 1, hd]
    return x * np.cos(emb) + rotate_half(x) * np.sin(emb)


def forward(m, w, hd, tokens, hidden=None):
    """Logits for every position; appends to `hidden` (when given) the embedding
    output and then each decoder layer's output, each [T, dim]."""
    T, H, KV = len(tokens), m["heads"], m["kv_heads"]
    freqs = inv_freq(m, hd)
    x = w["model.embed_tokens.weight"][tokens]
    if hidden is not None:
        hidden.append(x)
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    for i in range(m["layers"]):
        p = "model.layers.%d." % i
        h = rms_norm(x, w[p + "input_layernorm.weight"])
        q = h @ w[p + "self_attn.q_proj.weight"].T
        k = h @ w[p + "self_attn.k_proj.weight"].T
        v = h @ w[p + "self_attn.v_proj.weight"].T
        if m["bias"]:
            q = q + w[p + "self_attn.q_proj.bias"]
            k = k + w[p + "self_attn.k_proj.bias"]
            v = v + w[p + "self_attn.v_proj.bias"]
        q, k, v = q.reshape(T, H, hd), k.reshape(T, KV, hd), v.reshape(T, KV, hd)
        if m["qk_norm"]:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"])
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"])
        q, k = apply_rope(q, freqs), apply_rope(k, freqs)
        out = np.zeros((T, H, hd))
        for head in range(H):
            kv = head // (H // KV)
            scores = q[:, head] @ k[:, kv].T / np.sqrt(hd) + mask
            probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
            probs /= probs.sum(axis=-1, keepdims=True)
            out[:, head] = probs @ v[:, kv]
        x = x + out.reshape(T, H * hd) @ w[p + "self_attn.o_proj.weight"].T
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"])
        gate = h @ w[p + "mlp.gate_proj.weight"].T
        up = h @ w[p + "mlp.up_proj.weight"].T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ w[p + "mlp.down_proj.weight"].T
        if hidden is not None:
            hidden.append(x)
    x = rms_norm(x, w["model.norm.weight"])
    head = w["model.embed_tokens.weight"] if m["tied"] else w["lm_head.weight"]
    return x @ head.T


def write_config(d, m):
    """config.json of model `m` in directory `d`."""
    config = {
        "architectures": [m["arch"]], "model_type": m["model_type"], "vocab_size": m["vocab"],
        "hidden_size": m["dim"], "num_hidden_layers": m["layers"], "num_attention_heads": m["heads"],
        "num_key_value_heads": m["kv_heads"], "intermediate_size": m["ffn"], "max_position_embeddings": 128,
        "rms_norm_eps": EPS, "rope_theta": m["theta"], "tie_word_embeddings": m["tied"],
        "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32" if m["dtype"] == "F32" else "bfloat16",
    }
    if m["head_dim"]:
        config["head_dim"] = m["head_dim"]
    if m["scaling"]:
        config["rope_scaling"] = m["scaling"]
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def main():
    out_dir = sys.argv[1]
    for seed, (name, m) in enumerate(sorted(MODELS.items())):
        rng = np.random.default_rng(1234 + seed)
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        weights, hd = make_weights(m, rng)
        stored = write_safetensors(os.path.join(d, "model.safetensors"), weights, m["dtype"])
        write_config(d, m)
        tokens = rng.integers(0, m["vocab"], TOKENS_LEN)
        logits = forward(m, stored, hd, tokens)
        with open(os.path.join(d, "reference.txt"), "w") as f:
            f.write(" ".join(str(t) for t in tokens) + "\n")
            f.write(" ".join(str(p) for p in CHECK_POSITIONS) + "\n")
            for p in CHECK_POSITIONS:
                f.write(" ".join(repr(float(v)) for v in logits[p]) + "\n")


if __name__ == "__main__":
    main()
