#!/usr/bin/env python3
"""The shared library exports the public API and nothing else.

Every name include/gilvm.h declares GV_API must be a defined dynamic symbol
of libgilvm.so (a function with T, a variable with D/R/B), and every defined
dynamic symbol must be one of them: the runtime's and the VM's own functions
stay hidden (-fvisibility=hidden). Also: vm/main.c, the gilvm command, is a
client of the public API only (it includes gilvm.h and libc headers).

usage: check_symbols.py --lib LIBGILVM.so --header include/gilvm.h --main vm/main.c [--nm NM]
Exits 77 (skipped) if nm is not available."""
import argparse
import re
import shutil
import subprocess
import sys

SKIP = 77

# Symbols the toolchain adds to every shared object, not ours.
TOOLCHAIN = {"_init", "_fini", "__bss_start", "_edata", "_end"}


def declared(header_text):
    """Names the header declares GV_API: functions and extern variables."""
    names = set()
    # A declaration runs from GV_API to the next ';' (may span lines).
    for decl in re.findall(r"\bGV_API\b([^;]*);", header_text):
        if decl.strip().startswith("__attribute__"):
            continue  # the macro's own definition
        m = re.search(r"\b([A-Za-z_]\w*)\s*\(", decl)
        if m and "extern" not in decl.split("(")[0]:
            names.add(m.group(1))
            continue
        m = re.search(r"\b([A-Za-z_]\w*)\s*$", decl.strip())
        if m:
            names.add(m.group(1))
    return names


def exported(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True, capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            syms[parts[2].split("@")[0]] = parts[1]
    return syms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--header", required=True)
    ap.add_argument("--main", required=True)
    ap.add_argument("--nm", default="nm")
    args = ap.parse_args()

    problems = []
    with open(args.main) as f:
        for line in f:
            m = re.match(r'\s*#\s*include\s*([<"])([^>"]+)[>"]', line)
            if m and m.group(1) == '"' and m.group(2) != "gilvm.h":
                problems.append(f"vm/main.c includes \"{m.group(2)}\": the gilvm command may use only gilvm.h")

    with open(args.header) as f:
        want = declared(f.read())
    if len(want) < 50:
        problems.append(f"found only {len(want)} GV_API declarations in {args.header}: the parser is broken")

    nm = shutil.which(args.nm)
    if not nm:
        for p in problems:
            print(p)
        print("nm not found: symbol check skipped")
        return 1 if problems else SKIP
    have = exported(nm, args.lib)
    missing = sorted(want - set(have))
    # AddressSanitizer exports an ODR indicator beside each exported variable.
    extra = sorted(n for n in set(have) - want - TOOLCHAIN
                   if not (n.startswith("__odr_asan.") and n[len("__odr_asan."):] in want))
    for name in missing:
        problems.append(f"{name}: declared GV_API in gilvm.h but not exported by {args.lib}")
    for name in extra:
        problems.append(f"{name}: exported by {args.lib} ({have[name]}) but not declared GV_API in gilvm.h")
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"{len(want)} public names, all exported; nothing else exported")
    return 0


if __name__ == "__main__":
    sys.exit(main())
