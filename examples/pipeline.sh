#!/usr/bin/env bash
# specbatch in a shell pipeline: compressed prompts in, generated text out.
# Output goes to stdout (plain JSONL, input order); progress and the summary go to
# stderr, so they do not mix with the data. Error records carry "error" instead of
# "text"; the exit status is 3 when some records failed.
set -euo pipefail
MODEL=${MODEL:-models/stories260K.gguf}
zstdcat "${1:-prompts.jsonl.zst}" \
  | specbatch run -m "$MODEL" --temperature 0 --max-tokens 64 -q \
  | jq -r 'select(.error == null) | [.index, .text] | @tsv'
