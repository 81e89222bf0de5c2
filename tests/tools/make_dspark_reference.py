#!/usr/bin/python3
"""Writes a small random Qwen3 target, a random DSpark block-drafter checkpoint
for it, and reference drafter outputs from a deliberately simple float64 numpy
forward written from DESIGN.md section 8 (nothing shared with the C++ side; the
target forward and its helpers come from make_reference_model.py).

Usage: make_dspark_reference.py OUT_DIR
Creates
  OUT_DIR/target/     Hugging Face Qwen3 directory (F32)
  OUT_DIR/dspark/     DSpark checkpoint (BF16; some tensor names carry "model.", some not;
                      embed_tokens / lm_head are the target's, rounded to BF16)
  OUT_DIR/reference.txt, whitespace-separated numbers, one record per line:
    line 1: the token sequence T
    line 2: gamma (block_size) and the number of cases
    then per case:
      p                              context = T[0..p-1], block start token T[p] at position p
      gamma draft tokens             x_1..x_gamma, greedy (argmax of the corrected logits)
      gamma lines of n_vocab floats  corrected logits_k = U_k + markov_w2 . markov_w1[x_{k-1}], x_0 = T[p]
      gamma confidences              c_k = sigmoid(proj([h_k ; markov_w1[x_{k-1}]]) + bias)
  OUT_DIR/tensors.txt, one line per DSpark tensor as stored:
    name-as-written rows cols sum weighted-sum   (weight of flat element i: i % 7 + 1;
                                                  vectors have rows 1)
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_reference_model as ref  # noqa: E402

TARGET = ref.spec(arch="Qwen3ForCausalLM", model_type="qwen3", vocab=117, dim=56, layers=4, heads=4, kv_heads=2,
                  head_dim=16, ffn=88, qk_norm=True, theta=1000000.0)
# The drafter: 2 Qwen3 layers, GQA 4:1, its own RoPE base.
DRAFT = ref.spec(layers=2, heads=4, kv_heads=1, head_dim=12, ffn=64, theta=10000.0)
GAMMA = 5
TARGET_LAYER_IDS = [-1, 1, 2]
MARKOV_RANK = 6
MASK_TOKEN_ID = 115
TOKENS_LEN = 18
CASES = [3, 7, 12]


def layer_name(i, rest):
    # Layer 0 is written with the "model." prefix, layer 1 without: loaders must accept both.
    return ("model." if i == 0 else "") + "layers.%d.%s" % (i, rest)


def draft_weights(target_w, rng):
    d, v, r = TARGET["dim"], TARGET["vocab"], MARKOV_RANK
    hd, f = DRAFT["head_dim"], DRAFT["ffn"]
    qd, kd = DRAFT["heads"] * hd, DRAFT["kv_heads"] * hd
    w = {
        "embed_tokens.weight": target_w["model.embed_tokens.weight"],
        "lm_head.weight": target_w["lm_head.weight"],
        "model.norm.weight": 1 + 0.1 * rng.normal(size=d),
        "model.fc.weight": rng.normal(0, (len(TARGET_LAYER_IDS) * d) ** -0.5, (d, len(TARGET_LAYER_IDS) * d)),
        "hidden_norm.weight": 1 + 0.1 * rng.normal(size=d),
        "markov_head.markov_w1.weight": rng.normal(0, 1.0, (v, r)),
        "model.markov_head.markov_w2.weight": rng.normal(0, 0.5, (v, r)),
        "confidence_head.proj.weight": rng.normal(0, (d + r) ** -0.5, (1, d + r)),
        "confidence_head.proj.bias": rng.normal(0, 0.5, (1,)),
    }
    for i in range(DRAFT["layers"]):
        w[layer_name(i, "input_layernorm.weight")] = 1 + 0.1 * rng.normal(size=d)
        w[layer_name(i, "post_attention_layernorm.weight")] = 1 + 0.1 * rng.normal(size=d)
        w[layer_name(i, "self_attn.q_proj.weight")] = rng.normal(0, d ** -0.5, (qd, d))
        w[layer_name(i, "self_attn.k_proj.weight")] = rng.normal(0, d ** -0.5, (kd, d))
        w[layer_name(i, "self_attn.v_proj.weight")] = rng.normal(0, d ** -0.5, (kd, d))
        w[layer_name(i, "self_attn.o_proj.weight")] = rng.normal(0, qd ** -0.5, (d, qd))
        w[layer_name(i, "self_attn.q_norm.weight")] = 1 + 0.2 * rng.normal(size=hd)
        w[layer_name(i, "self_attn.k_norm.weight")] = 1 + 0.2 * rng.normal(size=hd)
        w[layer_name(i, "mlp.gate_proj.weight")] = rng.normal(0, d ** -0.5, (f, d))
        w[layer_name(i, "mlp.up_proj.weight")] = rng.normal(0, d ** -0.5, (f, d))
        w[layer_name(i, "mlp.down_proj.weight")] = rng.normal(0, f ** -0.5, (d, f))
    return w


def write_draft_config(d):
    config = {
        "architectures": ["Qwen3DSparkModel"], "model_type": "qwen3", "hidden_act": "silu",
        "vocab_size": TARGET["vocab"], "hidden_size": TARGET["dim"], "num_hidden_layers": DRAFT["layers"],
        "num_attention_heads": DRAFT["heads"], "num_key_value_heads": DRAFT["kv_heads"],
        "head_dim": DRAFT["head_dim"], "intermediate_size": DRAFT["ffn"], "max_position_embeddings": 128,
        "rms_norm_eps": ref.EPS, "rope_theta": DRAFT["theta"], "attention_bias": False,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "block_size": GAMMA, "target_layer_ids": TARGET_LAYER_IDS, "num_target_layers": TARGET["layers"],
        "mask_token_id": MASK_TOKEN_ID, "markov_rank": MARKOV_RANK, "markov_head_type": "vanilla",
        "enable_confidence_head": True, "confidence_head_with_markov": True,
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=1)


def attend(q, k, v):
    """q: [Tq, H, hd]; k, v: [Tk, KV, hd]; every query sees every key (no mask)."""
    H, KV, hd = q.shape[1], k.shape[1], q.shape[2]
    out = np.zeros(q.shape)
    for head in range(H):
        kv = head // (H // KV)
        scores = q[:, head] @ k[:, kv].T / np.sqrt(hd)
        probs = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs /= probs.sum(axis=-1, keepdims=True)
        out[:, head] = probs @ v[:, kv]
    return out


def draft_block(w, context_hidden, start_token, p):
    """The drafter forward of DESIGN.md section 8 for one block starting at position p.
    context_hidden: [p, len(TARGET_LAYER_IDS) * dim] captured target features.
    Returns (draft tokens [GAMMA], corrected logits [GAMMA, vocab], confidences [GAMMA])."""
    hd, H, KV = DRAFT["head_dim"], DRAFT["heads"], DRAFT["kv_heads"]
    freqs, _ = ref.inv_freq(DRAFT, hd)
    u = ref.rms_norm(context_hidden @ w["model.fc.weight"].T, w["hidden_norm.weight"])
    ctx_pos = np.arange(p)
    blk_pos = np.arange(p, p + GAMMA)
    x = w["embed_tokens.weight"][[start_token] + [MASK_TOKEN_ID] * (GAMMA - 1)]
    for i in range(DRAFT["layers"]):
        n = lambda rest: w[layer_name(i, rest)]  # noqa: E731
        h = ref.rms_norm(x, n("input_layernorm.weight"))
        q = ref.rms_norm((h @ n("self_attn.q_proj.weight").T).reshape(GAMMA, H, hd), n("self_attn.q_norm.weight"))
        k_blk = ref.rms_norm((h @ n("self_attn.k_proj.weight").T).reshape(GAMMA, KV, hd), n("self_attn.k_norm.weight"))
        v_blk = (h @ n("self_attn.v_proj.weight").T).reshape(GAMMA, KV, hd)
        k_ctx = ref.rms_norm((u @ n("self_attn.k_proj.weight").T).reshape(p, KV, hd), n("self_attn.k_norm.weight"))
        v_ctx = (u @ n("self_attn.v_proj.weight").T).reshape(p, KV, hd)
        q = ref.apply_rope(q, freqs, blk_pos)
        k = np.concatenate([ref.apply_rope(k_ctx, freqs, ctx_pos), ref.apply_rope(k_blk, freqs, blk_pos)])
        v = np.concatenate([v_ctx, v_blk])
        x = x + attend(q, k, v).reshape(GAMMA, H * hd) @ n("self_attn.o_proj.weight").T
        h = ref.rms_norm(x, n("post_attention_layernorm.weight"))
        gate = h @ n("mlp.gate_proj.weight").T
        up = h @ n("mlp.up_proj.weight").T
        x = x + (gate / (1 + np.exp(-gate)) * up) @ n("mlp.down_proj.weight").T
    h = ref.rms_norm(x, w["model.norm.weight"])  # h_1..h_gamma
    base = h @ w["lm_head.weight"].T              # U_k
    w1, w2 = w["markov_head.markov_w1.weight"], w["model.markov_head.markov_w2.weight"]
    tokens, logits, conf = [], [], []
    prev = start_token
    for k in range(GAMMA):
        row = base[k] + w2 @ w1[prev]
        feat = np.concatenate([h[k], w1[prev]])
        z = float(w["confidence_head.proj.weight"][0] @ feat + w["confidence_head.proj.bias"][0])
        conf.append(1 / (1 + np.exp(-z)))
        logits.append(row)
        prev = int(np.argmax(row))
        tokens.append(prev)
    return tokens, np.array(logits), conf


def main():
    out_dir = sys.argv[1]
    rng = np.random.default_rng(4321)
    target_dir, draft_dir = os.path.join(out_dir, "target"), os.path.join(out_dir, "dspark")
    os.makedirs(target_dir, exist_ok=True)
    os.makedirs(draft_dir, exist_ok=True)
    target_w, target_hd = ref.make_weights(TARGET, rng)
    target_stored = ref.write_safetensors(os.path.join(target_dir, "model.safetensors"), target_w, "F32")
    ref.write_config(target_dir, TARGET)
    draft_stored = ref.write_safetensors(os.path.join(draft_dir, "model.safetensors"),
                                         draft_weights(target_stored, rng), "BF16")
    write_draft_config(draft_dir)

    tokens = [int(t) for t in rng.integers(0, TARGET["vocab"] - 2, TOKENS_LEN)]
    hidden = []  # hidden[0]: embedding output; hidden[i + 1]: output of target layer i
    ref.forward(TARGET, target_stored, target_hd, tokens, hidden)
    assert len(hidden) == TARGET["layers"] + 1
    features = np.concatenate([hidden[i + 1] for i in TARGET_LAYER_IDS], axis=1)  # [T, L * dim]
    with open(os.path.join(out_dir, "reference.txt"), "w") as f:
        f.write(" ".join(str(t) for t in tokens) + "\n")
        f.write("%d %d\n" % (GAMMA, len(CASES)))
        for p in CASES:
            assert 0 < p < TOKENS_LEN
            # Causal target: the features of positions < p equal those of a run over T[0..p-1].
            draft, logits, conf = draft_block(draft_stored, features[:p], tokens[p], p)
            assert logits.shape == (GAMMA, TARGET["vocab"]) and len(draft) == GAMMA
            # Greedy tokens must not hinge on rounding: a clear gap between the best two logits.
            top2 = np.sort(logits, axis=1)[:, -2:]
            assert (top2[:, 1] - top2[:, 0] > 1e-3).all(), "near-tie in the greedy draft; change the seed"
            f.write("%d\n" % p)
            f.write(" ".join(str(t) for t in draft) + "\n")
            for row in logits:
                f.write(" ".join(repr(float(v)) for v in row) + "\n")
            f.write(" ".join(repr(float(c)) for c in conf) + "\n")
    with open(os.path.join(out_dir, "tensors.txt"), "w") as f:
        for name, a in sorted(draft_stored.items()):
            flat = a.reshape(-1)
            weights = np.arange(flat.size) % 7 + 1
            rows, cols = (1, a.shape[0]) if a.ndim == 1 else a.shape
            f.write("%s %d %d %r %r\n" % (name, rows, cols, float(flat.sum()), float(flat @ weights)))


if __name__ == "__main__":
    main()
