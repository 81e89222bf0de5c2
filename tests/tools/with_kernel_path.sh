#!/usr/bin/env bash
# Runs a command with SPECBATCH_CPU=PATH (portable, avx2 or avx512), or exits
# 77 (ctest: skipped) when this CPU lacks the path's instructions.
# Usage: with_kernel_path.sh PATH COMMAND [ARGS...]
set -euo pipefail
path="$1"
shift
case "$path" in
  portable) need="" ;;
  avx2) need="avx2 fma f16c" ;;
  avx512) need="avx2 fma f16c avx512f avx512bw avx512dq avx512vl" ;;
  *) echo "with_kernel_path.sh: unknown path '$path'" >&2; exit 2 ;;
esac
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
for f in $need; do
  case "$flags" in
    *" $f "*) ;;
    *) echo "skipped: this CPU lacks $f for the $path kernels"; exit 77 ;;
  esac
done
SPECBATCH_CPU="$path" exec "$@"
