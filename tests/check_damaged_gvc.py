#!/usr/bin/env python3
"""`gilvm run` on a damaged .gvc file: a load error that says so, exit 2.

Usage: check_damaged_gvc.py GILVM PROGRAM.gva

Assembles PROGRAM.gva to a .gvc in a temporary directory, checks that it runs,
then damages the magic number (one byte flipped; the file cut inside the
magic) and checks that `gilvm run` exits with status 2 and prints
`FILE: error: not a gilvm bytecode file (bad magic number); it looks like a
damaged .gvc`, whatever the file is named (the bytes say it is bytecode).
Exits 0 if everything matches, else prints what differs and exits 1.
Python 3 standard library only.
"""

import os
import subprocess
import sys
import tempfile

MESSAGE = "error: not a gilvm bytecode file (bad magic number); it looks like a damaged .gvc"


def run(gilvm, *args):
    return subprocess.run([gilvm, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, errors="replace", timeout=60)


def main():
    gilvm, source = sys.argv[1], sys.argv[2]
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        good = os.path.join(tmp, "good.gvc")
        r = run(gilvm, "asm", source, "-o", good)
        if r.returncode != 0:
            print(f"gilvm asm failed ({r.returncode}): {r.stderr}")
            return 1
        r = run(gilvm, "run", good)
        if r.returncode != 0:
            print(f"the intact {good} did not run ({r.returncode}): {r.stderr}")
            return 1
        image = open(good, "rb").read()

        cases = []
        for i in range(4):
            flipped = bytearray(image)
            flipped[i] ^= 0x04
            cases.append((f"flip{i}.gvc", bytes(flipped)))
        cases.append(("flip1.out", bytes(image[:1]) + bytes([image[1] ^ 0x40]) + image[2:]))
        cases.append(("cut3.gvc", image[:3]))
        cases.append(("cut2.bin", image[:2]))
        for name, data in cases:
            path = os.path.join(tmp, name)
            with open(path, "wb") as f:
                f.write(data)
            for command in ("run", "dis"):
                r = run(gilvm, command, path)
                want = f"{path}: {MESSAGE}"
                if r.returncode != 2 or r.stderr.strip() != want or r.stdout:
                    failures.append(f"gilvm {command} {name}: exit {r.returncode}, stderr {r.stderr.strip()!r}, "
                                    f"stdout {r.stdout[:80]!r}; expected exit 2 and {want!r}")
    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
