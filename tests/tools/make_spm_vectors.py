#!/usr/bin/python3
"""Tokenizer vectors for Gemma's and Phi-3's SentencePiece variants, built on the
Llama-2 vocabulary (no Gemma or Phi-3 vocabulary is in ../shared): Google's
sentencepiece (Debian python3-sentencepiece, with python3-protobuf) encodes the
text between added tokens, and the added-token rules are written out here.

  gemma-spm: the normalizer's add_dummy_prefix off (Gemma's tokenizer.model;
             llama.cpp's tokenizer.ggml.add_space_prefix = false), and
             <start_of_turn> = 32000, <end_of_turn> = 32001 added as control tokens.
  phi3-spm:  Phi-3's eleven added tokens at 32000..32010; every one but
             <|endoftext|> swallows the whitespace after it (Phi-3's rstrip, which
             llama.cpp applies to GGUFs named Phi-3); the dummy prefix on, so each
             piece of text between added tokens starts with one (as llama.cpp's
             SentencePiece path does after a special token).

Added tokens are found leftmost first, the longest at a position; text pieces
left empty are skipped. Writes OUT_DIR/{gemma,phi3}-spm.{inp,out} in llama.cpp's
vector format (inputs separated by "\\n__ggml_vocab_test__\\n"; one line of ids
per input).

Usage: make_spm_vectors.py SHARED_DIR OUT_DIR
"""
import os
import sys

import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2

SEP = "\n__ggml_vocab_test__\n"
PHI3_ADDED = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>", "<|placeholder3|>",
              "<|placeholder4|>", "<|system|>", "<|end|>", "<|placeholder5|>", "<|placeholder6|>", "<|user|>"]
GEMMA_ADDED = ["<start_of_turn>", "<end_of_turn>"]
# Texts with added tokens, whitespace around them and chat turns as the templates write them.
EXTRA = {
    "gemma": ["<start_of_turn>user\nHello<end_of_turn>\n<start_of_turn>model\n",
              "  two leading spaces", "<end_of_turn>  after", "a<start_of_turn>b", "\n\nnewlines first"],
    "phi3": ["<|user|>\nHello<|end|>\n<|assistant|>\n",
             "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n"
             "   I am an assistant   <|end|>\n",
             "<|endoftext|>  kept", "text  <|end|>  \n\t next", "<|user|><|end|>", "<|placeholder6|>x"],
}


def processor(model_path, dummy_prefix):
    proto = sentencepiece_model_pb2.ModelProto()
    with open(model_path, "rb") as f:
        proto.ParseFromString(f.read())
    proto.normalizer_spec.add_dummy_prefix = dummy_prefix
    return spm.SentencePieceProcessor(model_proto=proto.SerializeToString())


def encode(sp, text, added, rstrip):
    """Ids of text: added tokens (ids 32000 + index) matched first, the rest by sentencepiece."""
    ids, start, i = [], 0, 0
    by_length = sorted(added, key=len, reverse=True)
    while i < len(text):
        hit = next((t for t in by_length if text.startswith(t, i)), None)
        if hit is None:
            i += 1
            continue
        if i > start:
            ids += sp.encode(text[start:i])
        ids.append(32000 + added.index(hit))
        i += len(hit)
        if hit in rstrip:
            while i < len(text) and text[i] in " \t\n\v\f\r":
                i += 1
        start = i
    if start < len(text):
        ids += sp.encode(text[start:])
    return ids


def main():
    shared, out_dir = sys.argv[1], sys.argv[2]
    with open(os.path.join(shared, "vectors/ggml-vocab-llama-spm.gguf.inp"), encoding="utf-8") as f:
        base = f.read().split(SEP)[:-1]
    model = os.path.join(shared, "tokenizers/llama2-tokenizer.model")
    variants = {
        "gemma": (processor(model, False), GEMMA_ADDED, set()),
        "phi3": (processor(model, True), PHI3_ADDED, set(PHI3_ADDED) - {"<|endoftext|>"}),
    }
    for name, (sp, added, rstrip) in variants.items():
        texts = base + EXTRA[name]
        with open(os.path.join(out_dir, name + "-spm.inp"), "w", encoding="utf-8") as f:
            f.write("".join(t + SEP for t in texts))
        with open(os.path.join(out_dir, name + "-spm.out"), "w", encoding="utf-8") as f:
            for t in texts:
                f.write("".join(" %d" % i for i in encode(sp, t, added, rstrip)) + "\n")


if __name__ == "__main__":
    main()
