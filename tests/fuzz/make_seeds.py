#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/NAME (small inputs that reach deep
into each parser: valid files of every shape the parser reads, and near misses).
Run once when a target or a format changes; the files are committed. Crash inputs
found by fuzzing go to tests/fuzz/regressions/NAME instead (never rewritten here).
Needs the zstd tool. Usage: tests/fuzz/make_seeds.py"""
import json
import os
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def zstd(data, level=3):
    """One zstd frame with a content checksum, as the zstd tool writes by default."""
    return subprocess.run(["zstd", "-q", "-c", f"-{level}", "--check"], input=data, capture_output=True,
                          check=True).stdout


def jsonl(*objs):
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objs)


# ---- record lines -----------------------------------------------------------
def record_lines():
    put("record_line", "prompt", json.dumps({"id": "a", "prompt": "Once upon a time", "max_tokens": 64,
                                             "temperature": 0.7, "top_p": 0.9, "top_k": 40, "min_p": 0.05,
                                             "seed": 18446744073709551615, "stop": ["\n", "The end"],
                                             "ignore_eos": False, "n": 3, "logprobs": 5,
                                             "return_token_ids": True, "stop_token_ids": [2, 13]}))
    put("record_line", "chat", json.dumps({"id": 17, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi \u00e9\u65e5"}]},
        {"role": "assistant", "content": None, "tool_calls": [{"type": "function", "function": {
            "name": "f", "arguments": "{\"x\": 1}"}}]},
        {"role": "tool", "content": "1"}], "tools": [{"type": "function", "function": {"name": "f"}}],
        "logprobs": True, "top_logprobs": 3}))
    put("record_line", "openai_completion", json.dumps({"custom_id": "req-1", "method": "POST",
                                                        "url": "/v1/completions",
                                                        "body": {"model": "m", "prompt": "Hi", "max_tokens": 3,
                                                                 "stop": "x"}}))
    put("record_line", "openai_chat", json.dumps({"custom_id": "req-2", "method": "POST",
                                                  "url": "/v1/chat/completions",
                                                  "body": {"messages": [{"role": "user", "content": "Hi"}],
                                                           "max_completion_tokens": 8, "seed": 1}}))
    put("record_line", "escapes", '{"prompt":"\\u00e9\\ud83d\\ude00\\n\\"q\\"","max_tokens":null,"id":null}')
    put("record_line", "bad_param", '{"prompt":"x","temperature":-1,"top_k":1.5,"n":999}')
    put("record_line", "not_json", '{"prompt": "x",')
    put("record_line", "bad_utf8", b'{"prompt":"\xff\xfe"}')


# ---- GGUF -------------------------------------------------------------------
T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STR, T_ARR, T_U64, T_I64, T_F64 = range(13)


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gval(t, v):
    fmt = {T_U8: "<B", T_I8: "<b", T_U16: "<H", T_I16: "<h", T_U32: "<I", T_I32: "<i", T_F32: "<f",
           T_BOOL: "<B", T_U64: "<Q", T_I64: "<q", T_F64: "<d"}
    if t == T_STR:
        return gstr(v)
    if t == T_ARR:
        et, items = v
        return struct.pack("<IQ", et, len(items)) + b"".join(gval(et, x) for x in items)
    return struct.pack(fmt[t], v)


def gguf(kvs, tensors, alignment=32):
    """kvs: [(key, type, value)]; tensors: [(name, ne, data bytes)] as F32."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for k, t, v in kvs:
        out += gstr(k) + struct.pack("<I", t) + gval(t, v)
    offset = 0
    for name, ne, data in tensors:
        out += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        out += struct.pack("<IQ", 0, offset)
        offset += (len(data) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    for _, _, data in tensors:
        out += data + b"\0" * (-len(data) % alignment)
    return out


def f32s(n, scale=0.01):
    return struct.pack(f"<{n}f", *[((i * 7919) % 101 - 50) * scale for i in range(n)])


def spm_vocab():
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in (0x0A, 0x20, 0x41, 0xC3, 0xA9)] + \
             ["\u2581", "\u2581a", "\u2581the", "a", "b", "t", "h", "e", "he", "the"]
    types = [2, 3, 3] + [6] * 5 + [1] * (len(tokens) - 8)
    scores = [0.0] * 8 + [-float(i) for i in range(len(tokens) - 8)]
    return tokens, types, scores


def gguf_seeds():
    tokens, types, scores = spm_vocab()
    n_vocab, dim, ffn, heads, kv = len(tokens), 8, 16, 2, 1
    hd = dim // heads
    kvs = [("general.architecture", T_STR, "llama"), ("llama.embedding_length", T_U32, dim),
           ("llama.block_count", T_U32, 1), ("llama.feed_forward_length", T_U32, ffn),
           ("llama.context_length", T_U32, 32), ("llama.attention.head_count", T_U32, heads),
           ("llama.attention.head_count_kv", T_U32, kv), ("llama.rope.freq_base", T_F32, 10000.0),
           ("llama.attention.layer_norm_rms_epsilon", T_F32, 1e-5),
           ("tokenizer.ggml.model", T_STR, "llama"), ("tokenizer.ggml.tokens", T_ARR, (T_STR, tokens)),
           ("tokenizer.ggml.scores", T_ARR, (T_F32, scores)), ("tokenizer.ggml.token_type", T_ARR, (T_I32, types)),
           ("tokenizer.ggml.bos_token_id", T_U32, 1), ("tokenizer.ggml.eos_token_id", T_U32, 2),
           ("tokenizer.chat_template", T_STR, "{% for m in messages %}{{ m['content'] }}{% endfor %}")]
    tensors = [("token_embd.weight", [dim, n_vocab], f32s(dim * n_vocab)), ("output_norm.weight", [dim], f32s(dim)),
               ("blk.0.attn_norm.weight", [dim], f32s(dim)), ("blk.0.attn_q.weight", [dim, dim], f32s(dim * dim)),
               ("blk.0.attn_k.weight", [dim, kv * hd], f32s(dim * kv * hd)),
               ("blk.0.attn_v.weight", [dim, kv * hd], f32s(dim * kv * hd)),
               ("blk.0.attn_output.weight", [dim, dim], f32s(dim * dim)), ("blk.0.ffn_norm.weight", [dim], f32s(dim)),
               ("blk.0.ffn_gate.weight", [dim, ffn], f32s(dim * ffn)), ("blk.0.ffn_up.weight", [dim, ffn], f32s(dim * ffn)),
               ("blk.0.ffn_down.weight", [ffn, dim], f32s(dim * ffn))]
    put("gguf", "llama_tiny", gguf(kvs, tensors))
    qwen_tokens = ["a", "b", "c", "\u0120", "\u0120a", "ab", "abc", "\u010a", "<|im_start|>", "<|im_end|>", "<think>"]
    put("gguf", "qwen2_vocab", gguf([
        ("general.architecture", T_STR, "qwen2"), ("tokenizer.ggml.model", T_STR, "gpt2"),
        ("tokenizer.ggml.pre", T_STR, "qwen2"), ("tokenizer.ggml.tokens", T_ARR, (T_STR, qwen_tokens)),
        ("tokenizer.ggml.token_type", T_ARR, (T_I32, [1] * 8 + [3, 3, 4])),
        ("tokenizer.ggml.merges", T_ARR, (T_STR, ["a b", "\u0120 a", "ab c"])),
        ("tokenizer.ggml.eos_token_id", T_U32, 9), ("tokenizer.ggml.add_bos_token", T_BOOL, 0)], []))
    put("gguf", "all_types", gguf([
        ("u8", T_U8, 250), ("i8", T_I8, -100), ("u16", T_U16, 65000), ("i16", T_I16, -32000), ("u32", T_U32, 7),
        ("i32", T_I32, -7), ("f32", T_F32, 0.5), ("bool", T_BOOL, 1), ("u64", T_U64, 2**63 + 5), ("i64", T_I64, -2**63),
        ("f64", T_F64, 0.1), ("general.alignment", T_U32, 64),
        ("nested", T_ARR, (T_ARR, [(T_I32, [1, 2]), (T_STR, ["x"]), (T_BOOL, [1, 0])]))],
        [("t", [4], f32s(4))], alignment=64))


# ---- safetensors and configs --------------------------------------------------
def safetensors_file(header, data):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    put("safetensors", "two", safetensors_file({
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [4], "data_offsets": [16, 24]}}, bytes(range(24))))
    put("safetensors", "f16_3d", safetensors_file({
        "w": {"dtype": "F16", "shape": [1, 2, 2], "data_offsets": [0, 8]},
        "i": {"dtype": "I64", "shape": [1], "data_offsets": [8, 16]}}, bytes(16)))
    put("safetensors", "empty", safetensors_file({}, b""))


def config_seeds():
    put("hf_config", "llama", json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
        "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 512,
        "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": True,
        "bos_token_id": 1, "eos_token_id": [2, 3],
        "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192}}))
    put("hf_config", "qwen3_dspark", json.dumps({
        "architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 32, "intermediate_size": 64,
        "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
        "vocab_size": 100, "max_position_embeddings": 128, "rms_norm_eps": 1e-6, "attention_bias": False,
        "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}, "block_size": 7,
        "target_layer_ids": [-1, 0], "mask_token_id": 99, "markov_rank": 4, "markov_head_type": "vanilla",
        "enable_confidence_head": True, "confidence_head_with_markov": True, "eos_token_id": 5}))
    put("hf_config", "qwen2", json.dumps({
        "architectures": ["Qwen2ForCausalLM"], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "vocab_size": 100, "rope_scaling": {"type": "yarn", "factor": 4.0,
                                                                       "original_max_position_embeddings": 32},
        "torch_dtype": "bfloat16", "use_sliding_window": False}))
    put("hf_config", "generation", json.dumps({"bos_token_id": 1, "eos_token_id": [2, 7], "do_sample": True}))
    gemma = {"architectures": ["Gemma2ForCausalLM"], "hidden_size": 32, "intermediate_size": 64,
             "num_hidden_layers": 2, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16,
             "vocab_size": 100, "max_position_embeddings": 128, "rms_norm_eps": 1e-6,
             "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": 16, "sliding_window": 64,
             "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0, "tie_word_embeddings": True}
    put("hf_config", "gemma2", json.dumps(gemma))
    put("hf_config", "gemma3", json.dumps(dict(gemma, architectures=["Gemma3ForCausalLM"], sliding_window_pattern=2,
                                               rope_local_base_freq=10000.0,
                                               layer_types=["sliding_attention", "full_attention"],
                                               rope_scaling={"rope_type": "linear", "factor": 8.0})))
    put("hf_config", "phi3_longrope", json.dumps({
        "architectures": ["Phi3ForCausalLM"], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 2, "vocab_size": 100, "max_position_embeddings": 4096,
        "original_max_position_embeddings": 1024, "partial_rotary_factor": 1.0, "hidden_act": "silu",
        "rope_scaling": {"type": "longrope", "short_factor": [1.0] * 8, "long_factor": [2.0] * 8},
        "sliding_window": 2047, "model_max_length": 1000000000000000019884624838656}))


# ---- tokenizer.json -----------------------------------------------------------
def tokenizer_json_seeds():
    byte_level = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 7, "content": "<|im_start|>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True},
                         {"id": 8, "content": "<think>", "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": False}],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "(?i:'s|'t)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+"},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}]},
        "post_processor": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {"a": 0, "b": 1, "\u0120": 2, "\u0120a": 3, "ab": 4, "\u010a": 5, "c": 6},
                  "merges": ["\u0120 a", "a b"]}}
    put("tokenizer_json", "byte_level", json.dumps(byte_level))
    config = {"add_bos_token": False, "bos_token": None, "eos_token": "<|im_start|>",
              "model_max_length": 1000000000000000019884624838656,
              "chat_template": "{{ messages[0]['content'] }}"}
    put("tokenizer_json", "byte_level_config", json.dumps(config) + "\n----\n" + json.dumps(byte_level))
    spm = {"version": "1.0", "added_tokens": [{"id": 0, "content": "<unk>", "special": True},
                                              {"id": 1, "content": "<s>", "special": True},
                                              {"id": 2, "content": "</s>", "special": True}],
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                              {"type": "Replace", "pattern": {"String": " "},
                                                               "content": "\u2581"}]},
           "pre_tokenizer": None,
           "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                                                       {"Sequence": {"id": "A", "type_id": 0}}],
                              "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
           "decoder": {"type": "Sequence", "decoders": [
               {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"},
               {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": True, "fuse_unk": True,
                     "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0x41>": 4, "\u2581": 5, "a": 6,
                               "\u2581a": 7, "b": 8, "ab": 9},
                     "merges": [["\u2581", "a"], ["a", "b"]]}}
    put("tokenizer_json", "sentencepiece", json.dumps(spm))


# ---- chat templates ------------------------------------------------------------
def jinja_seeds():
    put("jinja", "chatml", "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
                           "message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
                           "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
    put("jinja", "inst", "{{ bos_token }}{% for message in messages %}"
                         "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
                         "{{ raise_exception('Conversation roles must alternate') }}{% endif %}"
                         "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] | trim + ' [/INST]' }}"
                         "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] | trim + eos_token }}"
                         "{% endif %}{% endfor %}")
    put("jinja", "tools_macros", "{%- macro render(t, indent=0) -%}{{ t | tojson(indent=indent) }}{%- endmacro -%}"
                                 "{%- set ns = namespace(last=-1, system='') -%}"
                                 "{%- for m in messages[::-1] %}{% set i = messages | length - 1 - loop.index0 %}"
                                 "{%- if ns.last < 0 and m.role == 'user' %}{% set ns.last = i %}{% endif %}"
                                 "{%- endfor %}{%- if tools %}{% for t in tools %}{{ render(t, 2) }}{% endfor %}"
                                 "{% endif %}{%- for m in messages -%}"
                                 "{%- if m.content is string %}{{ m.content.split('</think>')[-1].lstrip('\\n') }}"
                                 "{%- elif m.content is iterable %}{{ m.content | map(attribute='text') | join }}"
                                 "{%- endif %}{%- for c in m.tool_calls | default([]) %}"
                                 "{{ c.function.name }}({{ c.function.arguments | tojson }})"
                                 "{% endfor %}{% if loop.last and ns.last >= 0 %}!{% endif %}{%- endfor -%}")
    put("jinja", "filters", "{{ 'abc' | upper | replace('B', 'x') | center(9) }}{{ [3, 1, 2] | sort | reverse | list }}"
                            "{{ {'b': 1, 'a': 2} | dictsort }}{{ range(10)[2:8:3] }}{{ 7 // 2 }}{{ -7 % 3 }}"
                            "{{ 2 ** 10 }}{{ 'x' ~ 1.5 }}{{ none is none }}{{ 10 is divisibleby 5 }}"
                            "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% else %}empty{% endfor %}"
                            "{{ messages | selectattr('role', 'equalto', 'user') | list | length }}"
                            "{{ '%s-%d' | format('a', 3) }}{{ 'a b'.title() }}{{ [1, 2] | first }}{{ 'x' | wordcount }}")


# ---- resume scans, JSONL inputs, manifests, profiles ---------------------------
def out_line(i, error=False):
    if error:
        return {"index": i, "id": None, "error": {"code": "invalid_json", "message": "m"}}
    return {"index": i, "id": f"r{i}", "text": "t" * (i % 5), "finish_reason": "length",
            "usage": {"prompt_tokens": 3, "completion_tokens": i % 5}}


def scan_seeds():
    lines = jsonl(*[out_line(i, i == 2) for i in range(6)])
    put("resume_scan", "plain_torn", b"\x00" + lines.encode() + b'{"index":6,"id":"r')
    frames = zstd(jsonl(out_line(0), out_line(1)).encode()) + zstd(jsonl(out_line(2)).encode())
    put("resume_scan", "zstd_frames", b"\x01" + frames + frames[:7])
    shard = jsonl(*[out_line(i) for i in range(1, 12, 3)])  # shard 1/3
    put("resume_scan", "plain_shard", bytes([0 | (2 << 1) | (1 << 3)]) + shard.encode())
    put("resume_scan", "plain_unordered", b"\x00" + jsonl(out_line(3), out_line(0), out_line(1)).encode())


def jsonl_reader_seeds():
    text = '\ufeff{"prompt":"a"}\r\n\n  \t\n{"prompt":"b"}\n' + jsonl(*[{"prompt": f"line {i}"} for i in range(20)]) + \
           '{"prompt":"last, no newline"}'
    put("jsonl_reader", "plain", bytes([5]) + text.encode())
    body = jsonl(*[{"prompt": f"record {i}"} for i in range(40)]).encode()
    put("jsonl_reader", "zstd_two_frames", bytes([13]) + zstd(body[:301]) + zstd(body[301:], 19))
    put("jsonl_reader", "long_line", bytes([0x41]) + b'{"prompt":"' + b"x" * 700 + b'"}\nnext\n')


def manifest_seeds():
    put("manifest", "run", json.dumps({"specbatch_manifest": 1, "fingerprint": {
        "specbatch_version": "0.1.0", "input.count": "1", "input.0.size": "3576", "input.0.hash": "6673f64109081b78",
        "model.size": "1185376", "model.hash": "f40604c8255c96ba", "max_tokens": "256", "temperature": "0.7",
        "stop": "[\"\\n\"]", "shard": "0/1"}, "info": {"input.0.path": "in.jsonl", "complete": "true",
                                                        "input_records": "60"}}, separators=(",", ":")) + "\n")


def profile_seeds():
    put("spec_profile", "profile", json.dumps({
        "specbatch_spec_profile": 2, "model_size": 1185376, "model_hash": "f40604c8255c96ba",
        "model_shape": "llama dim=64 layers=5", "backend": "cpu", "threads": 4, "max_batch_tokens": 512,
        "kv_block_size": 16, "draft": "self:q4_0", "step_seconds": [[1, 0.0012], [2, 0.0013], [64, 0.01]],
        "draft_pass_seconds": [[1, 0.0002], [8, 0.0004]]}))


def roundtrip_seeds():
    for name, text in [("ascii", "Hello world. The end"), ("spaces", "  two leading,  double  and trailing "),
                       ("unicode", "caf\u00e9 \u65e5\u672c\u8a9e \U0001F600 na\u0131ve"),
                       ("combining", "e\u0301 A\u030a \u1100\u1161"), ("control", "\n\n\ta\r\n\x00b"),
                       ("special", "<|im_start|>user\n<think>x</think><s></s><unk>")]:
        put("tokenizer_roundtrip", name, text)


if __name__ == "__main__":
    record_lines()
    gguf_seeds()
    safetensors_seeds()
    config_seeds()
    tokenizer_json_seeds()
    jinja_seeds()
    scan_seeds()
    jsonl_reader_seeds()
    manifest_seeds()
    profile_seeds()
    roundtrip_seeds()
