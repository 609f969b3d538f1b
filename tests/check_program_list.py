#!/usr/bin/env python3
"""Fails if a .gva program exists but is not registered as a program test.

Usage: check_program_list.py SOURCE_ROOT

Every .gva file under examples/ and tests/programs/ (any depth) must be named
in one of the lists in tests/programs/meson.build:
  example_programs  examples/NAME.gva
  programs          tests/programs/NAME.gva
  exc_programs      tests/programs/exc/NAME.gva
  thread_programs   tests/programs/threads/NAME.gva
  service_programs  tests/programs/services/NAME.gva
  schedule_programs tests/programs/schedule/NAME.gva
  gen_programs      tests/programs/gen/NAME.gva
  interp_programs   tests/programs/interp/NAME.gva
A listed name whose file does not exist is an error too. Exit 0 if the lists
and the files agree, else print what differs and exit 1.
Python 3 standard library only.
"""

import os
import re
import sys

LISTS = {
    "example_programs": "examples",
    "programs": os.path.join("tests", "programs"),
    "exc_programs": os.path.join("tests", "programs", "exc"),
    "thread_programs": os.path.join("tests", "programs", "threads"),
    "service_programs": os.path.join("tests", "programs", "services"),
    "schedule_programs": os.path.join("tests", "programs", "schedule"),
    "gen_programs": os.path.join("tests", "programs", "gen"),
    "interp_programs": os.path.join("tests", "programs", "interp"),
}


def read_lists(meson_build):
    with open(meson_build, encoding="utf-8") as f:
        text = f.read()
    # Drop comments so a name mentioned in one is not taken as listed.
    text = "\n".join(re.sub(r"#.*", "", line) for line in text.split("\n"))
    listed = set()
    for var, folder in LISTS.items():
        m = re.search(r"^\s*%s\s*=\s*\[(.*?)\]" % re.escape(var), text, re.S | re.M)
        if not m:
            sys.exit("%s: no list `%s = [...]`" % (meson_build, var))
        for name in re.findall(r"'([^']*)'", m.group(1)):
            listed.add(os.path.normpath(os.path.join(folder, name + ".gva")))
    return listed


def find_programs(root):
    found = set()
    for top in ("examples", os.path.join("tests", "programs")):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in files:
                if f.endswith(".gva"):
                    found.add(os.path.normpath(os.path.relpath(os.path.join(dirpath, f), root)))
    return found


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: check_program_list.py SOURCE_ROOT\n")
        return 2
    root = argv[1]
    meson_build = os.path.join(root, "tests", "programs", "meson.build")
    listed = read_lists(meson_build)
    found = find_programs(root)
    ok = True
    for path in sorted(found - listed):
        print("not listed in tests/programs/meson.build: %s" % path)
        ok = False
    for path in sorted(listed - found):
        print("listed in tests/programs/meson.build but missing: %s" % path)
        ok = False
    if ok:
        print("all %d programs are listed" % len(found))
        return 0
    print("(add each program to example_programs, programs, exc_programs, thread_programs, service_programs or schedule_programs;"
          " files in other folders under tests/programs/ need a list of their own)")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
