#!/usr/bin/python3
"""A byte-level BPE reference tokenizer written from the algorithm's definition
(llama.cpp's llm_tokenizer_bpe for a GGUF vocabulary): NFC, split by the
pre-tokenizer regex, bytes mapped to GPT-2's printable alphabet, pairs merged by
lowest rank. Writes one line of ids per llama.cpp vocab-test input.

Usage: make_bpe_vectors.py VOCAB.gguf INPUTS.inp PRE > OUT
PRE is a tokenizer.ggml.pre name below. Run with PRE=qwen2 on llama.cpp's
ggml-vocab-qwen2.gguf it reproduces llama.cpp's published .out file, which checks
this reference; PRE=qwen35 on tests/vectors/qwen35-marks.inp gives its .out, and
PRE=llama-bpe (Llama 3's split; a word found whole in the vocabulary is kept
whole, llama.cpp's ignore_merges) gives tests/vectors/llama3-split-qwen2-vocab.out.
Needs python3-regex (Unicode properties); the tests only read its output.
"""
import struct
import sys
import unicodedata

import regex

CONTRACTIONS = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
PRE = {
    # llama.cpp src/llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_LLAMA3, _QWEN2 and _QWEN35.
    "llama-bpe": CONTRACTIONS +
                 r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen2": CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    "qwen35": CONTRACTIONS +
              r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
}


def read_gguf_vocab(path):
    """tokenizer.ggml.tokens and .merges of a GGUF v3 file."""
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return vals[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8")
        pos += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(scalar[t])

    assert data[:4] == b"GGUF"
    pos = 4
    take("I")
    take("Q")
    n_kv = take("Q")
    kv = {}
    for _ in range(n_kv):
        key = string()
        kv[key] = value(take("I"))
    return kv["tokenizer.ggml.tokens"], kv["tokenizer.ggml.merges"]


def bytes_to_unicode():
    bs = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def bpe(word, ranks):
    symbols = list(word)
    while len(symbols) > 1:
        best = min(range(len(symbols) - 1), key=lambda i: ranks.get((symbols[i], symbols[i + 1]), 1 << 62))
        if (symbols[best], symbols[best + 1]) not in ranks:
            break
        symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
    return symbols


def main():
    tokens, merges = read_gguf_vocab(sys.argv[1])
    ids = {t: i for i, t in enumerate(tokens)}
    ranks = {tuple(m.split(" ", 1)): r for r, m in enumerate(merges)}
    byte_map = bytes_to_unicode()
    split = regex.compile(PRE[sys.argv[3]])
    text = open(sys.argv[2], encoding="utf-8").read()
    inputs = text.split("\n__ggml_vocab_test__\n")[:-1]
    for s in inputs:
        out = []
        for piece in split.findall(unicodedata.normalize("NFC", s)):
            word = "".join(byte_map[b] for b in piece.encode("utf-8"))
            if sys.argv[3] == "llama-bpe" and word in ids:
                out.append(ids[word])
            else:
                out.extend(ids[sym] for sym in bpe(word, ranks))
        print(" " + " ".join(str(i) for i in out) if out else "")


if __name__ == "__main__":
    main()
