// The fuzz targets: one entry per parser of untrusted bytes, plus the tokenizer
// round-trip property. Each returns 0 and aborts on a failed property (ASan and
// UBSan catch the rest). libFuzzer binaries (fuzz_main.cpp, SPECBATCH_FUZZ=ON) call
// one entry each; test_fuzz_corpus.cpp feeds every seed and regression input in
// tests/fuzz/corpus/NAME and tests/fuzz/regressions/NAME through the same entries.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sb::fuzz {

int record_line(const uint8_t* data, size_t size);          // JSONL records, OpenAI Batch lines, chat messages
int gguf(const uint8_t* data, size_t size);                 // GGUF header, tokenizer metadata, model config
int safetensors(const uint8_t* data, size_t size);          // safetensors header and tensor views
int hf_config(const uint8_t* data, size_t size);            // config.json, generation_config.json, DSpark config
int tokenizer_json(const uint8_t* data, size_t size);       // tokenizer.json, then encode and decode
int jinja(const uint8_t* data, size_t size);                // chat templates: parse and sandboxed render
int resume_scan(const uint8_t* data, size_t size);          // half-written outputs (plain and zstd)
int manifest(const uint8_t* data, size_t size);             // output manifests, round trip
int spec_profile(const uint8_t* data, size_t size);         // --spec-profile files, round trip
int jsonl_reader(const uint8_t* data, size_t size);         // JSONL and JSONL.zst inputs
int tokenizer_roundtrip(const uint8_t* data, size_t size);  // decode(encode(x)) == x (Qwen3 after NFC; Llama-2 SPM)

struct Target {
  const char* name;
  int (*run)(const uint8_t* data, size_t size);
};

inline constexpr Target kTargets[] = {
    {"record_line", record_line},     {"gguf", gguf},
    {"safetensors", safetensors},     {"hf_config", hf_config},
    {"tokenizer_json", tokenizer_json}, {"jinja", jinja},
    {"resume_scan", resume_scan},     {"manifest", manifest},
    {"spec_profile", spec_profile},   {"jsonl_reader", jsonl_reader},
    {"tokenizer_roundtrip", tokenizer_roundtrip},
};

}  // namespace sb::fuzz
