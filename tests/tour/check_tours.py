#!/usr/bin/env python3
"""Runs guided gdb tours (docs/tour/) and checks them against their pages.

A tour is docs/tour/NAME.md (the page) and docs/tour/NAME.gdb (the gdb command
file). The page is the expectation:
  - its command is the line, in a ```sh block, that starts with
    `gdb -batch -nx -x docs/tour/NAME.gdb --args build-debug/`; it is run from
    the source root with `build-debug/` replaced by the build directory;
  - its ```tour block lists, in order, the lines gdb must print: `TOUR-STOP n:
    place` at each stop, `TOUR-FIELD name = value` for each field printed there,
    and `TOUR-END exit = N` once the program has ended.
The tour passes when gdb prints exactly those lines (other output is ignored).
A stop that never comes, a stop out of order, a field that differs: each is a
failure, reported against the page.

Exit status: 0 all passed, 1 a failure, 77 (Meson's "skipped") when the build
is not a stepping build (optimization must be 0, with debug info).
Usage: check_tours.py --gdb GDB --build BUILDDIR [--root SRCROOT] [--print] NAME...
(--print shows what gdb printed, for writing a page.)
"""
import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time

SKIP = 77
PTRACE_SIGNS = (
    "ptrace: Operation not permitted",
    "Could not trace the inferior process",
    "Could not attach to process",
    "Couldn't get registers: No such process",
)


def stepping_build(build):
    """None if build is a stepping build, else the reason it is not."""
    path = os.path.join(build, "meson-info", "intro-buildoptions.json")
    try:
        with open(path) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError, KeyError) as e:
        raise SystemExit(f"FAIL: cannot read the build's options ({path}: {e}): not a Meson build directory?")
    if opts.get("optimization") != "0" or not opts.get("debug"):
        return (f"{build} is built with optimization={opts.get('optimization')}, "
                f"debug={opts.get('debug')}; the tours need a stepping build: "
                "meson setup build-debug --buildtype=debug -Dtests=true -Dc_args=-g3")
    return None


def read_page(root, name):
    """(command, expected lines) from docs/tour/NAME.md."""
    page = os.path.join(root, "docs", "tour", name + ".md")
    with open(page, encoding="utf-8") as f:
        text = f.read()
    prefix = f"gdb -batch -nx -x docs/tour/{name}.gdb --args build-debug/"
    commands = [line.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.S)
                for line in block.splitlines() if line.strip().startswith(prefix)]
    if len(commands) != 1:
        raise ValueError(f"{page}: expected one command starting with `{prefix}` in a ```sh block, "
                         f"found {len(commands)}")
    blocks = re.findall(r"```tour\n(.*?)```", text, re.S)
    if len(blocks) != 1:
        raise ValueError(f"{page}: expected one ```tour block, found {len(blocks)}")
    expected = [line.strip() for line in blocks[0].splitlines() if line.strip()]
    for line in expected:
        if not line.startswith(("TOUR-STOP ", "TOUR-FIELD ", "TOUR-END ")):
            raise ValueError(f"{page}: not a tour line in the ```tour block: {line!r}")
    return commands[0], expected


def stop_of(lines, i):
    """The TOUR-STOP line that line i belongs to (or 'the start')."""
    for j in range(i, -1, -1):
        if lines[j].startswith("TOUR-STOP "):
            return lines[j]
    return "the start"


def compare(expected, actual):
    """None if equal, else a message saying what differs, against the page."""
    if expected == actual:
        return None
    for i, want in enumerate(expected):
        got = actual[i] if i < len(actual) else None
        if got == want:
            continue
        where = f"at {stop_of(expected, i)!r}" if i else "at the start"
        if want.startswith("TOUR-STOP ") or want.startswith("TOUR-END "):
            if want in actual:
                return f"{where}: {want!r} came out of order (gdb printed {got!r} here)"
            return f"{want!r} was never reached (gdb printed {got!r} instead)" if got else \
                f"{want!r} was never reached (gdb printed nothing more)"
        if got is None:
            return f"{where}: the page expects {want!r}, gdb printed nothing more"
        return f"{where}: the page expects {want!r}, gdb printed {got!r}"
    return f"gdb printed more than the page lists, from {actual[len(expected)]!r}"


def ptrace_refused(gdb):
    """Why gdb cannot trace a process on this machine, or None. A machine
    that forbids ptrace (a container without SYS_PTRACE, yama scope 3) can
    check no tour: the suite reports SKIP there, saying so, rather than
    failing every tour or passing without looking. Anything else that goes
    wrong under gdb is a failure."""
    try:
        p = subprocess.run([gdb, "-batch", "-nx", "-ex", "run", "--args", "/bin/true"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60, text=True, errors="replace")
    except (OSError, subprocess.TimeoutExpired) as e:
        return None if isinstance(e, subprocess.TimeoutExpired) else f"gdb does not run: {e}"
    for sign in PTRACE_SIGNS:
        if sign in p.stdout:
            return (f"gdb cannot trace processes here ({sign!r}); the tours need ptrace (a container "
                    "needs --cap-add=SYS_PTRACE; /proc/sys/kernel/yama/ptrace_scope must allow a "
                    "parent to trace its child)")
    return None


def run_tour(args, name):
    command, expected = read_page(args.root, name)
    build = os.path.abspath(args.build) + "/"
    argv = shlex.split(command)
    argv[0] = args.gdb
    argv = [a.replace("build-debug/", build, 1) if a.startswith("build-debug/") else a for a in argv]
    env = dict(os.environ, GV_NO_WATCHDOG="1")
    # The page's command says which GIL mode it wants (--gil=...); a GILMODE
    # left in the environment must not change the default under the others.
    env.pop("GILMODE", None)
    start = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=args.root, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=args.timeout, text=True, errors="replace")
        out = p.stdout
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return False, f"gdb did not finish within {args.timeout} s", out
    took = time.monotonic() - start
    for sign in PTRACE_SIGNS:
        if sign in out:
            return False, (f"gdb cannot trace processes here ({sign!r}): ptrace is restricted. "
                           "Run the tours where ptrace works (a container needs "
                           "--cap-add=SYS_PTRACE; /proc/sys/kernel/yama/ptrace_scope must allow "
                           "a parent to trace its child)"), out
    actual = [line.strip() for line in out.splitlines() if line.startswith("TOUR-")]
    # gdb stops reading the command file at its first error (a function
    # renamed, a field gone): say which, it is the likely cause.
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if "Error in sourced command file" in line:
            detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
            before = [l.strip() for l in lines[max(0, i - 3):i] if l.strip() and not l.startswith("TOUR-")]
            return False, (f"docs/tour/{name}.gdb: gdb stopped at an error: {line.strip()} {detail}"
                           + (f" (after: {' / '.join(before)})" if before else "")), out
    if args.print:
        print("\n".join(actual))
    problem = compare(expected, actual)
    if problem:
        return False, f"docs/tour/{name}.md: {problem}", out
    return True, f"{len(expected)} lines as on the page, {took:.1f} s", out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gdb", default="gdb")
    ap.add_argument("--build", required=True, help="the stepping build directory")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--print", action="store_true", help="print the tour lines gdb printed")
    ap.add_argument("names", nargs="+")
    args = ap.parse_args()
    reason = stepping_build(args.build) or ptrace_refused(args.gdb)
    if reason:
        print(f"SKIP: {reason}")
        return SKIP
    failed = 0
    for name in args.names:
        try:
            ok, msg, out = run_tour(args, name)
        except (OSError, ValueError) as e:
            ok, msg, out = False, str(e), ""
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {msg}")
        if not ok:
            failed += 1
            print("---- gdb's output ----")
            print(out.rstrip())
            print("----")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
