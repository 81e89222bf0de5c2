#!/usr/bin/env bash
# A nightly specbatch run from cron that survives reboots and overlapping starts:
#   15 1 * * *  /opt/specbatch/examples/cron.sh >> /var/log/specbatch-cron.log 2>&1
# flock keeps a second start from running while the first is still busy; --resume
# continues a run that a reboot or kill interrupted (and starts a new one otherwise).
# The output name carries the date, so each night is its own run.
set -euo pipefail

MODEL=${MODEL:-/data/models/stories260K.gguf}
INPUT=${INPUT:-/data/prompts/nightly.jsonl.zst}
OUTDIR=${OUTDIR:-/data/outputs}
day=$(date +%F)

exec flock -n "$OUTDIR/.specbatch.lock" \
  specbatch run -m "$MODEL" "$INPUT" -o "$OUTDIR/nightly-$day.jsonl.zst" --resume \
    --temperature 0 --progress log --stats-json "$OUTDIR/nightly-$day.stats.json"
