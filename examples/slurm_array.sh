#!/usr/bin/env bash
# A sharded specbatch run as a Slurm job array, safe to requeue or resubmit:
#   sbatch examples/slurm_array.sh                 # 8 shards
#   sbatch --dependency=afterok:JOBID examples/slurm_array.sh merge   # then merge
# Each task runs shard SLURM_ARRAY_TASK_ID of N (--shard auto) into its own file.
# --signal=B:TERM@120 makes Slurm send SIGTERM to this batch shell 120 s before the
# time limit; the shell forwards it to specbatch, which stops admitting records at
# once (those not started are left for the requeued task), finishes those running
# for up to --grace-seconds, flushes, and exits 143 (or 0 when every record finished
# anyway: then the shard is complete and not requeued). A requeued (or resubmitted)
# task resumes where it stopped: --resume cuts a torn tail, checks the manifest (same
# inputs, model, settings, shard) and skips done records. Another task writing the
# same shard file is refused at once (the output's lock).
#SBATCH --job-name=specbatch
#SBATCH --array=0-7
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --signal=B:TERM@120
#SBATCH --requeue
#SBATCH --output=logs/specbatch-%A_%a.log
set -euo pipefail

MODEL=${MODEL:-models/stories260K.gguf}
INPUT=${INPUT:-prompts.jsonl.zst}
OUTDIR=${OUTDIR:-out}
mkdir -p "$OUTDIR" logs

if [ "${1:-}" = merge ]; then
  # Exit 0: complete. Exit 3: indices missing (listed); rerun those tasks, merge again.
  exec specbatch merge "$OUTDIR"/shard-*.jsonl.zst -o "$OUTDIR/all.jsonl.zst" --overwrite
fi

shard_out="$OUTDIR/shard-${SLURM_ARRAY_TASK_ID}.jsonl.zst"
# Run in the background and wait, so this shell can forward Slurm's SIGTERM.
specbatch run -m "$MODEL" "$INPUT" -o "$shard_out" --shard auto --resume \
  --temperature 0 --max-tokens 256 --grace-seconds 90 --progress log &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
set +e
wait "$child"; status=$?
# `wait` returns early when the trap fires; wait again for specbatch's own exit.
if [ "$status" -gt 128 ] && kill -0 "$child" 2>/dev/null; then wait "$child"; status=$?; fi
set -e
if [ "$status" = 143 ]; then
  echo "specbatch: stopped by SIGTERM; requeueing to resume" >&2
  scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" || true
fi
exit "$status"
