#!/usr/bin/env python3
"""Runs a program and checks that it exits 0 with exactly the expected stdout.

usage: check_output.py PROGRAM EXPECTED_FILE [ARG...]"""
import difflib
import subprocess
import sys


def main():
    prog, expected_path, *args = sys.argv[1:]
    with open(expected_path) as f:
        expected = f.read()
    r = subprocess.run([prog, *args], capture_output=True, text=True, timeout=60)
    ok = True
    if r.returncode != 0:
        print(f"{prog} exited with {r.returncode}; stderr:\n{r.stderr}")
        ok = False
    if r.stdout != expected:
        print("stdout differs from", expected_path)
        sys.stdout.writelines(difflib.unified_diff(expected.splitlines(True), r.stdout.splitlines(True),
                                                   "expected", "got"))
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
