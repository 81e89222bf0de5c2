#!/usr/bin/env bash
# specbatch in a shell pipeline: prompts in (JSONL, plain or zstd-compressed),
# generated text out as "index<TAB>text" lines.
#   examples/pipeline.sh [PROMPTS.jsonl[.zst]]      # default: examples/prompts.jsonl
# Output lines go to stdout (input order); progress and the summary go to stderr,
# so they do not mix with the data. Error records carry "error" instead of "text"
# and are left out here; the exit status is then 3 (pipefail passes it on).
# SPECBATCH and MODEL override the binary (default: specbatch on PATH, else
# build/specbatch) and the model (default: stories260K.gguf from ../shared or
# from build/models, where examples/demo.sh puts it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
SPECBATCH=${SPECBATCH:-$(command -v specbatch || echo "$root/build/specbatch")}
if [ -z "${MODEL:-}" ]; then
  for m in "$root/../shared/models/stories260K.gguf" "$root/build/models/stories260K.gguf"; do
    if [ -f "$m" ]; then MODEL=$m; break; fi
  done
fi
: "${MODEL:?no model found: set MODEL=FILE.gguf (examples/demo.sh fetches stories260K.gguf)}"

zstd -dcf "${1:-$here/prompts.jsonl}" \
  | "$SPECBATCH" run -m "$MODEL" --temperature 0 --max-tokens 64 -q \
  | jq -r 'select(.error == null) | [.index, .text] | @tsv'
