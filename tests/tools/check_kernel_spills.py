#!/usr/bin/env python3
"""Spills in the CPU kernels' hot loops, from the disassembly of the per-path
objects (objdump -d): for every tile function, its main loop (the innermost
loop doing the most FMA / int8 dot instructions) and the vector loads and
stores to the stack inside it. A tile whose accumulators do not fit the
register file shows them there. Usage:
  check_kernel_spills.py build/kernels/CMakeFiles/sb_kernels_cpu.dir/cpu/isa_avx2.cpp.o ...
Exits 1 if any main loop touches the stack. (A reading aid for tile shapes,
not a test: another compiler may allocate registers differently.)"""
import re
import subprocess
import sys


def functions(obj):
    out = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", obj], capture_output=True, text=True,
                         check=True).stdout
    funcs, name = {}, None
    for line in out.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            name = m.group(1)
            funcs[name] = []
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(.*)$", line)
        if m and name:
            funcs[name].append((int(m.group(1), 16), m.group(2)))
    return funcs


def main_loop(ins):
    loops = []
    for addr, text in ins:
        m = re.match(r"j\w+\s+([0-9a-f]+)", text)
        if m and int(m.group(1), 16) <= addr:
            loops.append((int(m.group(1), 16), addr))
    inner = [l for l in loops if not any(o != l and l[0] <= o[0] and o[1] <= l[1] for o in loops)]
    best = None
    for lo, hi in inner:
        body = [t for a, t in ins if lo <= a <= hi]
        if any(t.startswith("call") for t in body):  # the zero-padded tail's memcpy, not a hot loop
            continue
        work = sum(1 for t in body if re.match(r"v(fmadd|pdpbusd|pmaddubsw)", t))
        stack = sum(1 for t in body if re.search(r"%[xyz]mm", t) and re.search(r"\(%r[sb]p", t))
        if work and (best is None or work > best[0]):
            best = (work, stack)
    return best


bad = 0
for obj in sys.argv[1:]:
    rows = []
    for name, ins in functions(obj).items():
        if "_tile<" not in name:
            continue
        loop = main_loop(ins)
        if loop:
            short = re.sub(r"sb::cpu::|\(anonymous namespace\)::|tiles::|\(.*", "", name)
            rows.append((loop[1], loop[0], short))
    spilled = [r for r in rows if r[0]]
    bad |= bool(spilled)
    print(f"{obj}: {len(rows)} tile functions, {len(spilled)} with stack accesses in the main loop")
    for stack, work, short in spilled:
        print(f"  {short}: {work} FMA/dot, {stack} stack accesses")
sys.exit(1 if bad else 0)
