#!/usr/bin/env python3
"""Schedule search: runs every threaded program under many deterministic schedules.

Usage: schedule_search.py --gilvm PATH [--seeds N] [--first-seed S]
                          [--slices N,N,...] [--program SUBSTRING]...
                          [--exclude SUBSTRING]... [--jobs J] [--timeout SEC]
                          [--root DIR]

Finds the programs that start threads (their text contains `thread_start`,
which covers `thread_start_daemon`) under tests/programs/ (recursively) and
examples/, and runs each with `gilvm run --schedule=SEED:N --schedule-digest`
for --seeds seeds from S (--first-seed, default 1) and every slice length N
(--slices), each seed twice. It checks that

  - the two runs of one seed print the same bytes: standard output, standard
    error (the schedule digest line included: the same interleaving) and exit
    status -- a seed must replay;
  - each run meets the program's own annotations (`; expect: ...`, checked by
    tests/run_program.py's check(), with the digest line taken out of
    standard error first). Programs whose annotations pin a schedule
    (`; gilvm-args: --schedule=...`) expect that seed's output only: for them
    only the replay is checked;
  - no run crashes (is killed by a signal) or outlasts --timeout.

The program's other gilvm-args (e.g. --gil=...) and its program-args are
kept; `; repeat:` is not used (every seed runs twice).

A failure prints the shell command that reproduces it and what differed
(the first differing lines of the two runs, or the annotation it broke),
for the first few failing schedules of a program; the rest are listed.
The summary counts the distinct interleavings covered: distinct (program,
schedule digest) pairs. Exits 1 if anything failed, 2 on a usage error.
Python 3 standard library only.
"""

import argparse
import collections
import concurrent.futures
import os
import re
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_program  # noqa: E402  (the annotation parser and checker)

DEFAULT_SLICES = "1,3,17,200"
DIGEST_LINE = re.compile(rb"^gilvm: schedule digest ([0-9a-f]+) \((\d+) handoffs\)\n", re.M)
REPORTS_PER_PROGRAM = 3   # failures shown in full per program; the rest are listed

# One schedule's outcome: its two runs' digests, the kinds of failure and
# their description (empty if it passed), and the seconds both runs took.
Result = collections.namedtuple("Result", "seed n cmd digests kinds problems seconds")


def find_programs(root, includes, excludes):
    found = []
    for top in ("tests/programs", "examples"):
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(".gva"):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root)
                if includes and not any(x in rel for x in includes):
                    continue
                if any(x in rel for x in excludes):
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    if "thread_start" in f.read():
                        found.append((rel, path))
    return found


class Program:
    def __init__(self, rel, path):
        self.rel, self.path = rel, path
        self.exp = run_program.parse(path)
        # A schedule the annotations pin is replaced by the search's own; the
        # output they expect then belongs to another schedule.
        self.gilvm_args = [a for a in self.exp.gilvm_args
                           if not a.startswith("--schedule=") and a != "--schedule-digest"]
        self.pinned = len(self.gilvm_args) != len(self.exp.gilvm_args)
        # What the search runs: the code without comments or blank lines, and
        # the arguments. A program pinned to one seed is often a copy of
        # another with that seed's expectations: the search runs it once.
        with open(path, encoding="utf-8", errors="replace") as f:
            code = []
            for line in f.read().split("\n"):
                comment = run_program.comment_of(line)
                line = (line[:-len(comment)] if comment else line).strip()
                if line:
                    code.append(" ".join(line.split()))
        self.key = (tuple(code), tuple(self.gilvm_args), tuple(self.exp.program_args))


def drop_copies(programs):
    """PROGRAMS without the pinned ones whose code and arguments equal
    another's (the unpinned one is kept: it checks the annotations too).
    Returns (kept, [(copy, kept program)])."""
    first = {}
    for p in sorted(programs, key=lambda p: p.pinned):
        first.setdefault(p.key, p)
    kept, copies = [], []
    for p in programs:
        (kept if first[p.key] is p else copies).append(p)
    return kept, [(c, first[c.key]) for c in copies]


class Run:
    def __init__(self, out, err, status, timed_out=False, error=None):
        self.out, self.err, self.status = out, err, status
        self.timed_out, self.error = timed_out, error
        m = None
        for m in DIGEST_LINE.finditer(err):
            pass
        self.digest = m.group(1).decode() if m else None
        self.handoffs = int(m.group(2)) if m else None
        # Standard error as the program printed it: without the digest line.
        self.program_err = err[:m.start()] + err[m.end():] if m else err


def run_once(cmd, timeout):
    start = time.monotonic()
    run = run_process(cmd, timeout)
    run.seconds = time.monotonic() - start
    return run


def run_process(cmd, timeout):
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        return Run(e.stdout or b"", e.stderr or b"", None, timed_out=True)
    except OSError as e:
        return Run(b"", b"", None, error=str(e))
    return Run(proc.stdout, proc.stderr, proc.returncode)


def describe_status(status):
    if status is None:
        return "none (did not finish)"
    if status < 0:
        return "%d (killed by signal %d)" % (status, -status)
    return str(status)


def first_difference(name, a, b, context=3):
    """Where A and B (bytes) first differ: up to CONTEXT lines of each from
    the first line that differs, as text for a report."""
    la, lb = a.split(b"\n"), b.split(b"\n")

    def lines(ls, i):
        shown = [repr(v.decode("utf-8", "replace")) for v in ls[i:i + context]]
        if i + context < len(ls):
            shown.append("...")
        return "\n             ".join(shown) if shown else "(ended)"

    for i in range(max(len(la), len(lb))):
        if (la[i] if i < len(la) else None) != (lb[i] if i < len(lb) else None):
            return ("  %s differs from line %d on\n    run 1:   %s\n    run 2:   %s"
                    % (name, i + 1, lines(la, i), lines(lb, i)))
    return "  %s differs" % name


def check_seed(prog, gilvm, seed, n, timeout):
    """Runs PROG twice with SEED:N. Returns a Result."""
    cmd = ([gilvm, "run"] + prog.gilvm_args + ["--schedule=%d:%d" % (seed, n), "--schedule-digest",
           prog.path] + prog.exp.program_args)
    runs = [run_once(cmd, timeout), run_once(cmd, timeout)]
    problems, kinds = [], set()
    for i, r in enumerate(runs, start=1):
        if r.error:
            problems.append("  run %d: cannot run %s: %s" % (i, gilvm, r.error))
            return Result(seed, n, cmd, [], {"error"}, problems, 0)
        if r.timed_out:
            kinds.add("timeout")
            problems.append("  run %d: TIMED OUT after %g s (a hang?)" % (i, timeout))
        elif r.status < 0:
            kinds.add("crash")
            problems.append("  run %d: CRASHED: killed by signal %d" % (i, -r.status))
    a, b = runs
    if (a.out, a.program_err, a.status) != (b.out, b.program_err, b.status):
        kinds.add("output")
        problems.append("  NONDETERMINISTIC OUTPUT: the same seed printed something else")
        if a.out != b.out:
            problems.append(first_difference("stdout", a.out, b.out))
        if a.program_err != b.program_err:
            problems.append(first_difference("stderr", a.program_err, b.program_err))
        if a.status != b.status:
            problems.append("  exit status differs\n    run 1: %s\n    run 2: %s"
                            % (describe_status(a.status), describe_status(b.status)))
    if a.digest != b.digest or a.handoffs != b.handoffs:
        kinds.add("interleaving")
        problems.append("  NONDETERMINISTIC INTERLEAVING: the schedule digest differs\n"
                        "    run 1: %s (%s handoffs)\n    run 2: %s (%s handoffs)"
                        % (a.digest, a.handoffs, b.digest, b.handoffs))
    if not prog.pinned:
        seen = set()
        for i, r in enumerate(runs, start=1):
            if r.timed_out:
                continue
            got = run_program.check(prog.rel, prog.exp, r.out.decode("utf-8", "replace"),
                                    r.program_err.decode("utf-8", "replace"),
                                    r.status if r.status is not None else -1)
            text = "\n".join(got)
            if got and text not in seen:
                seen.add(text)
                kinds.add("annotations")
                problems.append("  WRONG OUTPUT (run %d) against the annotations:\n%s"
                                % (i, indent(text, "    ")))
    digests = [r.digest for r in runs if r.digest]
    if not problems and len(digests) < 2:
        kinds.add("no digest")
        problems.append("  no schedule digest line on stderr (is %s too old for --schedule-digest?)" % gilvm)
    return Result(seed, n, cmd, digests, kinds, problems, runs[0].seconds + runs[1].seconds)


def indent(text, prefix):
    return "\n".join(prefix + line for line in text.split("\n"))


def parse_slices(text):
    try:
        slices = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        slices = []
    if not slices or any(n < 1 or n > 100000000 for n in slices):
        raise argparse.ArgumentTypeError("slice lengths are integers from 1 to 100000000, "
                                         "comma-separated (got %r)" % text)
    return slices


def positive(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError("needs a positive integer, got %r" % text)
    return v


def main(argv):
    ap = argparse.ArgumentParser(description="Runs every threaded program under many "
                                 "deterministic schedules (gilvm run --schedule=SEED:N).")
    ap.add_argument("--gilvm", required=True, help="the gilvm executable")
    ap.add_argument("--seeds", type=positive, default=30, help="seeds per slice length (default 30)")
    ap.add_argument("--first-seed", type=int, default=1, help="the first seed (default 1)")
    ap.add_argument("--slices", type=parse_slices, default=parse_slices(DEFAULT_SLICES),
                    help="slice lengths in instructions, comma-separated (default %s)" % DEFAULT_SLICES)
    ap.add_argument("--program", action="append", default=[], metavar="SUBSTRING",
                    help="only programs whose path contains SUBSTRING (repeatable: any of them)")
    ap.add_argument("--exclude", action="append", default=[], metavar="SUBSTRING",
                    help="leave out programs whose path contains SUBSTRING (repeatable)")
    ap.add_argument("--jobs", type=positive, default=2, help="programs run at once (default 2)")
    ap.add_argument("--timeout", type=float, default=30, help="seconds per run (default 30)")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="the source tree (default: the one this script is in)")
    args = ap.parse_args(argv[1:])
    if args.first_seed < 0:
        ap.error("--first-seed must be 0 or more")
    if not os.access(args.gilvm, os.X_OK):
        ap.error("--gilvm %s: not an executable file" % args.gilvm)
    args.gilvm = os.path.abspath(args.gilvm)  # the commands printed work from anywhere

    programs = [Program(rel, path) for rel, path in find_programs(args.root, args.program, args.exclude)]
    if not programs:
        print("schedule_search: no program that starts threads%s under %s"
              % (" matches %s" % " or ".join(map(repr, args.program)) if args.program else "", args.root))
        return 1
    programs, copies = drop_copies(programs)
    for copy, of in copies:
        print("%s: the same code and arguments as %s: searched once, there" % (copy.rel, of.rel))
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    start = time.monotonic()
    failed = []          # (program, failing schedules, kinds of failure)
    interleavings = set()
    runs = 0
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs)
    try:
        # Everything is queued at once (so the jobs stay busy across
        # programs); the results are reported program by program, in order.
        futures = {p.rel: [pool.submit(check_seed, p, args.gilvm, seed, n, args.timeout)
                           for n in args.slices for seed in seeds] for p in programs}
        for p in programs:
            results = [fut.result() for fut in futures[p.rel]]
            runs += 2 * len(results)
            digests = {d for r in results for d in r.digests}
            interleavings.update((p.rel, d) for d in digests)
            bad = report(p, results, len(digests))
            if bad:
                failed.append((p.rel,) + bad)
            sys.stdout.flush()
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        print("schedule_search: interrupted")
        return 130
    pool.shutdown()

    elapsed = time.monotonic() - start
    print("\nschedule search: %d programs (and %d copies), seeds %d..%d (%d), slice lengths %s: %d runs, "
          "%d distinct interleavings, %.1f s"
          % (len(programs), len(copies), seeds[0], seeds[-1], len(seeds), ",".join(map(str, args.slices)),
             runs, len(interleavings), elapsed))
    if failed:
        print("FAILED: %d of %d programs:" % (len(failed), len(programs)))
        for rel, count, kinds in failed:
            print("  %s: %d schedules: %s" % (rel, count, ", ".join(sorted(kinds))))
        return 1
    print("all programs replay and meet their annotations under every schedule")
    return 0


def report(prog, results, ninterleavings):
    """Prints PROG's line and its failures. RESULTS: a Result per schedule.
    Returns None if it passed, else (failing schedules, kinds of failure)."""
    what = "%d interleavings, %.1f s of runs%s" % (
        ninterleavings, sum(r.seconds for r in results),
        ", replay only: the annotations pin a schedule" if prog.pinned else "")
    bad = [r for r in results if r.problems]
    kinds = set().union(*(r.kinds for r in bad))
    if prog.exp.errors:
        kinds.add("bad annotation")
    if not bad and not prog.exp.errors:
        print("%s: ok (%s)" % (prog.rel, what))
        return None
    print("%s: FAIL in %d of %d schedules: %s (%s)"
          % (prog.rel, len(bad), len(results), ", ".join(sorted(kinds)), what))
    for lineno, msg in prog.exp.errors:
        print("  %s:%d: bad annotation: %s" % (prog.rel, lineno, msg))
    for r in bad[:REPORTS_PER_PROGRAM]:
        print("  --schedule=%d:%d, reproduce with:\n    %s" % (r.seed, r.n, shlex.join(r.cmd)))
        print("\n".join(r.problems))
    if len(bad) > REPORTS_PER_PROGRAM:
        print("  also failing: %s" % ", ".join("%d:%d" % (r.seed, r.n) for r in bad[REPORTS_PER_PROGRAM:]))
    return len(bad), kinds


if __name__ == "__main__":
    sys.exit(main(sys.argv))
