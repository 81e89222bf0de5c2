#!/usr/bin/env bash
# Checks that each per-path kernel object in the CPU kernel library (isa_*.o,
# compiled for AVX2 or AVX-512) defines one global symbol, its kernel table
# getter, and no weak or unique symbols: an inline function or template
# instance compiled for wider instructions could otherwise be picked by the
# linker for every caller and crash a CPU without them. DW.ref.__gxx_personality_v0
# (a weak pointer to the C++ exception personality routine that unwind tables of
# some builds, e.g. the sanitizer one, carry) is data, not code, and allowed.
# Usage: check_isa_symbols.sh libsb_kernels_cpu.a
set -euo pipefail
lib="$1"
members=$(ar t "$lib" | grep '^isa_' || true)
[ -n "$members" ] || { echo "no isa_* objects in $lib"; exit 1; }
fail=0
for m in $members; do
  # Defined symbols that are not local: T/D/B/R (global), W/V (weak), u (unique).
  syms=$(nm -C --defined-only "$lib" 2>/dev/null | awk -v m="$m:" '
    /:$/ { cur = $0; next }
    cur == m && NF >= 3 && $2 ~ /^[TDBRWVu]$/ { $1 = ""; print }')
  globals=$(printf '%s\n' "$syms" | grep -c '^ T sb::cpu::kernels_[a-z0-9_]*()$' || true)
  others=$(printf '%s\n' "$syms" | grep -v '^ T sb::cpu::kernels_[a-z0-9_]*()$' |
    grep -v '^ V DW\.ref\.__gxx_personality_v0$' | grep -v '^$' || true)
  if [ "$globals" != 1 ] || [ -n "$others" ]; then
    echo "$m: expected exactly one global symbol sb::cpu::kernels_*(), found:"
    printf '%s\n' "$syms"
    fail=1
  fi
done
[ "$fail" = 0 ] && echo "ok: $(echo "$members" | wc -w) per-path objects export only their kernel table"
exit "$fail"
