#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/targets) for SECONDS each, one at a time
# unless JOBS says otherwise, and prints one line per target: executions, coverage
# (libFuzzer's cov: edges and ft: features) and corpus size.
#   tests/fuzz/run.sh [SECONDS=30] [TARGET...]
# Builds $SPECBATCH_FUZZ_BUILD_DIR (default build-fuzz) with clang and
# -DSPECBATCH_FUZZ=ON first. Each target starts from tests/fuzz/corpus/NAME, its
# regressions and (jinja) the chat template of ../shared's Qwen3 tokenizer; what it
# learns stays in BUILD/fuzz-corpus/NAME for the next run. A crash, leak, timeout or
# failed property leaves its input in BUILD/fuzz-crashes/NAME and makes the script
# exit 1: fix the defect, then copy the input to tests/fuzz/regressions/NAME, where
# test_fuzz_corpus runs it in the normal suite.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${SPECBATCH_FUZZ_BUILD_DIR:-$root/build-fuzz}"
seconds="${1:-30}"
shift || true
jobs="${JOBS:-1}"
shared="${SPECBATCH_SHARED_DIR:-$root/../shared}"

CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSPECBATCH_FUZZ=ON -DSPECBATCH_TESTS=OFF -DSPECBATCH_CUDA=OFF -DSPECBATCH_SHARED_DIR="$shared" >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzz_all

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in "$root"/tests/fuzz/targets/*.cpp; do targets+=("$(basename "$f" .cpp)"); done
fi

# Runs one target; its summary line goes to $build/fuzz-logs/NAME.summary.
run_target() {
  local name=$1 corpus="$build/fuzz-corpus/$1" crashes="$build/fuzz-crashes/$1" log="$build/fuzz-logs/$1.log"
  mkdir -p "$corpus" "$crashes" "$build/fuzz-logs"
  local seeds=("$root/tests/fuzz/corpus/$name")
  [ -d "$root/tests/fuzz/regressions/$name" ] && seeds+=("$root/tests/fuzz/regressions/$name")
  if [ "$name" = jinja ] && [ -f "$shared/tokenizers/qwen3/tokenizer_config.json" ]; then
    mkdir -p "$build/fuzz-seeds/jinja"
    python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["chat_template"], end="")' \
      "$shared/tokenizers/qwen3/tokenizer_config.json" >"$build/fuzz-seeds/jinja/qwen3"
    seeds+=("$build/fuzz-seeds/jinja")
  fi
  local max_len=4096
  [ "$name" = gguf ] && max_len=16384
  local status=0
  "$build/fuzz_$name" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len="$max_len" -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  local runs cov ft
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  # A target that failed before fuzzing has no stats: its summary still says so.
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2 || true)
  local verdict=ok
  [ "$status" -ne 0 ] && verdict="FAILED (exit $status; input in $crashes, log $log)"
  printf '%-20s %10s runs  cov %6s  ft %7s  corpus %5s  %s\n' "$name" "${runs:-?}" "${cov:-?}" "${ft:-?}" \
    "$(ls "$corpus" | wc -l)" "$verdict" >"$build/fuzz-logs/$name.summary"
  return "$status"
}

echo "== fuzzing ${#targets[@]} targets for $seconds s each ($jobs at a time)"
failed=0
running=0
for name in "${targets[@]}"; do
  run_target "$name" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
for name in "${targets[@]}"; do cat "$build/fuzz-logs/$name.summary"; done
exit $failed
