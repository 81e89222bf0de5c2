#!/usr/bin/env bash
# The one-call GPU check (issue 21), run on a lent GPU machine from the repo root
# with the bundle that tests/gpu/make_device_bundle.sh built here:
#   device tool: run(command="bash tests/gpu/device_check.sh", carry=[".device"], timeout_s=540)
# Steps, each under its own time limit, each PASS or FAIL with its log kept:
#   gpu-tests     every gpu-labelled test (kernels against the CPU backend, the
#                 stories260K reference text, greedy speculation == plain up to near-ties)
#   memcheck      compute-sanitizer memcheck over the kernel tests
#   cli-greedy    `specbatch run --device cuda` greedy from BOS == the published text
#   cli-spec      greedy with --draft ngram == greedy plain through `run` (count of equal records)
#   ceilings      bench_cuda: device copy bandwidth and a large BF16 GEMM's FLOP/s
#   bench         `specbatch bench --device cuda` on a Qwen3-4B-shaped random BF16
#                 model at concurrency 1/8/64/256
# Writes $OUT/summary.txt (and each step's log) and prints the summary last; the
# exit status is the number of failed steps (0: all passed).
set -u

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${OUT:-$root/.device/out}"
sb=/tmp/specbatch-device
mkdir -p "$out" "$sb"
summary="$out/summary.txt"
: > "$summary"
failed=0

step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2 start rc
  shift 2
  echo "== $name (limit ${limit}s)"
  start=$(date +%s)
  timeout "$limit" bash -c '"$@"' "$name" "$@" > "$out/$name.log" 2>&1
  rc=$?
  local secs=$(( $(date +%s) - start ))
  if [ $rc -eq 0 ]; then
    echo "PASS $name (${secs}s)" | tee -a "$summary"
  else
    failed=$((failed + 1))
    { echo "FAIL $name (${secs}s, exit $rc$([ $rc -eq 124 ] && echo ', timed out')): last lines of $name.log:"
      tail -n 15 "$out/$name.log" | sed 's/^/    /'; } | tee -a "$summary"
  fi
}

unpack() {
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
    "$root/.device/bundle.tar.xz" "$sb" &&
  nvidia-smi -L
}

cli_greedy() {
  local model="$sb/shared/models/stories260K.gguf"
  echo '{"id":"bos","prompt":"","max_tokens":256,"temperature":0}' |
    "$sb/bin/specbatch" run -m "$model" --device cuda -q > "$out/cli_greedy.jsonl" || return 1
  python3 - "$out/cli_greedy.jsonl" "$sb/shared/models/stories260K.greedy.txt" <<'PY'
import json, sys
text = json.loads(open(sys.argv[1]).readline())["text"]
ref = open(sys.argv[2]).read()
print("generated:", repr(text[:120]))
sys.exit(0 if text.strip() == ref.strip() else 1)
PY
}

cli_spec() {
  local model="$sb/shared/models/stories260K.gguf"
  local args=(run -m "$model" --device cuda --temperature 0 --max-tokens 96 -q "$root/examples/prompts.jsonl")
  "$sb/bin/specbatch" "${args[@]}" > "$out/plain.jsonl" || return 1
  "$sb/bin/specbatch" "${args[@]}" --draft ngram --spec-policy fixed > "$out/spec.jsonl" || return 1
  python3 - "$out/plain.jsonl" "$out/spec.jsonl" <<'PY'
import json, sys
plain = [json.loads(l) for l in open(sys.argv[1])]
spec = [json.loads(l) for l in open(sys.argv[2])]
same = sum(a.get("text") == b.get("text") for a, b in zip(plain, spec))
print(f"{same} of {len(plain)} records identical with --draft ngram (differences can only come from near-ties)")
sys.exit(0 if same == len(plain) == len(spec) else 1)
PY
}

bench() {
  local model=/tmp/qwen3-4b-random.gguf
  rm -f "$model"
  "$sb/bin/specbatch" bench -m "$model" --random-model qwen3-4b --device cuda --batch 1,8,64,256 \
    --prompt-len 128 --gen-len 64
}

export root out sb
export -f unpack cli_greedy cli_spec bench
export LD_LIBRARY_PATH="$sb/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SPECBATCH_SHARED_DIR="$sb/shared"
sanitizer="$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)"

# Limits add up to 525 s: the call (timeout_s 540) ends inside the device tool's 10 minutes.
step unpack 30 unpack
step gpu-tests 90 "$sb/bin/test_gpu"
step memcheck 120 "$sanitizer" --tool memcheck --error-exitcode 1 "$sb/bin/test_gpu" -sf='*test_cuda_kernels*'
step cli-greedy 30 cli_greedy
step cli-spec 45 cli_spec
step ceilings 30 "$sb/bin/bench_cuda"
step bench 180 bench

echo
echo "== summary ($failed failed)"
cat "$summary"
for f in ceilings bench; do
  [ -f "$out/$f.log" ] && { echo "-- $f"; tail -n 20 "$out/$f.log"; }
done
exit "$failed"
