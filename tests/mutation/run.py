#!/usr/bin/env python3
"""Mutation runner: how many plausible thread-core bugs does the suite catch?

Usage (from anywhere; a whole run takes about 25 minutes on 2 cores):

    tests/mutation/run.py                     # every mutant, default suites
    tests/mutation/run.py --jobs 1            # one test process at a time
    tests/mutation/run.py --only gil-classic-drop-no-signal,api-count-running-twice
    tests/mutation/run.py --suites unit,programs
    tests/mutation/run.py --check             # only: which mutants still apply?
    tests/mutation/run.py --work /tmp/mut     # keep (and reuse) the scratch build

Each mutant in tests/mutation/mutants.txt (format at the top of that file) is
a one-line bug: a file, an exact snippet of it and its replacement. The runner

  1. copies the source tree (the files git knows about, as they are in the
     working tree, edits included) into a scratch directory, WORK/src; the
     real tree is never written to;
  2. configures one build there, once (WORK/build, -Dtests=true
     -Dwerror=false: a mutant that only causes a warning still builds), and
     runs the chosen suites on the unchanged copy: the baseline. A test that
     fails there cannot kill anything and is left out of the verdicts (it is
     listed);
  3. for each mutant: puts the bug in (the snippet must occur exactly once in
     the file, else the mutant is "stale": the code changed, update the
     mutant), rebuilds incrementally, and runs the suites one after another,
     stopping at the first failing test. The verdict:
        killed       some test failed (or timed out, or the whole run went
                     past --timeout: a hang counts as killed)
        survived     every test passed
        stale        the snippet is not in the file exactly once
        build-error  the mutant does not compile
     and then restores the file;
  4. prints a table (mutant, verdict, seconds, the test that killed it) and
     the kill rate: killed / (killed + survived).

Options:
  --suites LIST   comma-separated meson suites, run in this order (default:
                  unit,programs,stress,schedule; those the build lacks are
                  skipped with a note)
  --jobs N        meson test --num-processes and ninja -j (default 2)
  --timeout S     time limit for one mutant's test run, in seconds (default
                  900); past it the tests are stopped and the mutant counts as
                  killed ("hang")
  --only IDS      comma-separated mutant ids
  --mutants FILE  another mutants file
  --work DIR      scratch directory (default: a new temporary one, removed at
                  the end); an existing one is reused, its build too
  --setup ARGS    more options for `meson setup` of the scratch build, as one
                  string: "-Db_sanitize=thread -Db_lundef=false" runs the
                  mutants under ThreadSanitizer, which also sees the races a
                  wrong lock makes (much slower: raise --timeout); with
                  --work, a build already configured keeps its options
  --no-baseline   skip the baseline run (trust that the suites pass)
  --all-tests     run every chosen suite for a killed mutant too (slower; the
                  table then lists every test that failed)
  --check         report which mutants apply and which are stale; build and
                  run nothing
  --json FILE     also write the results as JSON

Exit status: 0 when the run completed (whatever the kill rate), 1 if the
baseline failed to build, 2 on bad usage. Python 3 standard library only.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SUITES = ["unit", "programs", "stress", "schedule"]
FAILED = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}


class Mutant:
    def __init__(self, mid, line):
        self.id = mid
        self.line = line
        self.file = None
        self.why = ""
        self.original = None
        self.replacement = None


def parse_mutants(path):
    """Reads the mutants file; exits with a message on a malformed entry."""
    mutants, cur, section, buf = [], None, None, []
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for n, line in enumerate(lines, 1):
        if section is not None:
            # Inside a snippet every line is text, "#" ones too (C directives).
            if line in ("--- replacement", "--- end"):
                setattr(cur, section, "\n".join(buf))
                section, buf = ("replacement" if line == "--- replacement" else None), []
                if line == "--- replacement" and cur.original is None:
                    sys.exit("%s:%d: --- replacement before --- original" % (path, n))
            else:
                buf.append(line)
        elif line.startswith("== "):
            cur = Mutant(line[3:].strip(), n)
            mutants.append(cur)
        elif line.startswith("#") or not line.strip():
            continue
        elif cur is not None and line == "--- original":
            section = "original"
        elif cur is not None and line.startswith("file:"):
            cur.file = line[5:].strip()
        elif cur is not None and line.startswith("why:"):
            cur.why = line[4:].strip()
        else:
            sys.exit("%s:%d: unexpected line: %s" % (path, n, line))
    if section is not None:
        sys.exit("%s: %s ends inside a snippet (no --- end)" % (path, cur.id))
    seen = set()
    for m in mutants:
        where = "%s:%d (%s)" % (path, m.line, m.id)
        if not m.file or m.original is None or m.replacement is None:
            sys.exit("%s: needs file:, --- original, --- replacement and --- end" % where)
        if not m.original.strip():
            sys.exit("%s: empty original snippet" % where)
        if m.id in seen:
            sys.exit("%s: duplicate id" % where)
        seen.add(m.id)
    return mutants


def apply_mutant(text, m):
    """Returns (mutated text, None) or (None, why it is stale)."""
    n = text.count(m.original)
    if n != 1:
        return None, ("snippet not found" if n == 0 else "snippet found %d times" % n)
    if m.replacement == "":
        # Deleting whole lines: take the line break after the snippet too.
        target = m.original + "\n" if m.original + "\n" in text else m.original
        return text.replace(target, "", 1), None
    return text.replace(m.original, m.replacement, 1), None


def source_files(root):
    """The files to copy, relative to root: git's (tracked and untracked but
    not ignored) when root is a git checkout, else everything but build dirs."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             check=True, capture_output=True).stdout
        files = [f for f in out.decode().split("\0") if f]
        return [f for f in files if os.path.isfile(os.path.join(root, f))]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, dirs, fs in os.walk(root):
            dirs[:] = [x for x in dirs if x != ".git" and not x.startswith("build")]
            files += [os.path.relpath(os.path.join(d, f), root) for f in fs]
        return files


def copy_tree(root, dest):
    """Copies the source into dest, leaving files whose content is unchanged
    alone (their times too, so a reused build stays incremental). A changed
    file gets the current time, not the source's: a scratch copy left
    mutated by an interrupted run is older than its object, and copying the
    source's old time back would leave that object unrebuilt."""
    for rel in source_files(root):
        src, dst = os.path.join(root, rel), os.path.join(dest, rel)
        with open(src, "rb") as f:
            data = f.read()
        if os.path.exists(dst):
            with open(dst, "rb") as f:
                if f.read() == data:
                    continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)


def descendants(pid):
    """Every process below pid (Linux /proc); meson runs each test in a
    session of its own, so killing meson's process group is not enough."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def kill_tree(proc):
    for pid in descendants(proc.pid) + [proc.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def run(cmd, timeout=None, log=None):
    """Runs cmd; returns (exit status or None on timeout, seconds, output)."""
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        kill_tree(proc)
        out, rc = proc.stdout.read() if proc.stdout else b"", None
    text = out.decode(errors="replace")
    if log:
        with open(log, "a", encoding="utf-8") as f:
            f.write("$ %s\n%s\n" % (" ".join(cmd), text))
    return rc, time.monotonic() - t0, text


def available_suites(build):
    rc, _, out = run(["meson", "introspect", "--tests", build])
    if rc != 0:
        return set()
    suites = set()
    for t in json.loads(out):
        for s in t.get("suite", []):
            suites.add(s.split(":", 1)[-1])
    return suites


def run_suite(build, suite, jobs, timeout, stop_at_first, logname):
    """Runs one meson suite. Returns (failed tests, None) or (None, 'hang')
    when it ran past timeout."""
    cmd = ["meson", "test", "-C", build, "--suite", suite, "--no-rebuild", "--num-processes", str(jobs),
           "--logbase", logname]
    if stop_at_first:
        cmd += ["--maxfail", "1"]
    logjson = os.path.join(build, "meson-logs", logname + ".json")
    if os.path.exists(logjson):
        os.remove(logjson)
    rc, _, out = run(cmd, timeout=timeout)
    if rc is None:
        # Meson prints a line per finished test ("3/41 gilvm:unit / test_x OK").
        done = [l.split(None, 1)[1] for l in out.split("\n") if l[:1].isdigit() and "/" in l.split(" ")[0]]
        return None, ("last: " + " ".join(done[-1].split())) if done else "before any test finished"
    failed = []
    if os.path.exists(logjson):
        with open(logjson, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line)
                if r.get("result") in FAILED:
                    failed.append("%s (%s)" % (r.get("name"), r.get("result").lower()))
    if rc != 0 and not failed:
        failed.append("meson test exited %d" % rc)
    return failed, None


def run_suites(build, suites, jobs, timeout, stop_at_first, ignore):
    """Runs the suites in order. Returns (verdict, failing tests)."""
    deadline = time.monotonic() + timeout
    all_failed = []
    for suite in suites:
        left = deadline - time.monotonic()
        if left <= 0:
            return "killed", all_failed + ["(time limit: hang)"]
        failed, hang = run_suite(build, suite, jobs, left, stop_at_first, "mutation-" + suite)
        if hang:
            return "killed", all_failed + ["%s suite ran past the time limit (hang; %s)" % (suite, hang)]
        failed = [f for f in failed if f.split(" (")[0] not in ignore]
        all_failed += failed
        if failed and stop_at_first:
            break
    return ("killed" if all_failed else "survived"), all_failed


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", default=DEFAULT_ROOT, help=argparse.SUPPRESS)
    ap.add_argument("--mutants", default=os.path.join(HERE, "mutants.txt"))
    ap.add_argument("--suites", default=",".join(DEFAULT_SUITES))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--only", default="")
    ap.add_argument("--work", default="")
    ap.add_argument("--setup", default="")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--all-tests", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args(argv[1:])

    root = os.path.abspath(args.source)
    mutants = parse_mutants(args.mutants)
    if args.only:
        want = [x.strip() for x in args.only.split(",") if x.strip()]
        unknown = [w for w in want if w not in {m.id for m in mutants}]
        if unknown:
            sys.stderr.write("unknown mutant ids: %s\n" % ", ".join(unknown))
            return 2
        mutants = [m for m in mutants if m.id in want]

    # Which mutants still apply, read from the real tree (never written).
    stale = {}
    for m in mutants:
        path = os.path.join(root, m.file)
        if not os.path.exists(path):
            stale[m.id] = "no file %s" % m.file
            continue
        with open(path, encoding="utf-8") as f:
            _, why = apply_mutant(f.read(), m)
        if why:
            stale[m.id] = why
    if args.check:
        for m in mutants:
            print("%-45s %-18s %s" % (m.id, m.file, "STALE: " + stale[m.id] if m.id in stale else "applies"))
        print("%d of %d mutants apply" % (len(mutants) - len(stale), len(mutants)))
        return 0

    work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="gilvm-mutation-")
    src, build = os.path.join(work, "src"), os.path.join(work, "build")
    log = os.path.join(work, "build.log")
    os.makedirs(src, exist_ok=True)
    print("source %s -> scratch %s" % (root, work), flush=True)
    copy_tree(root, src)

    if not os.path.exists(os.path.join(build, "build.ninja")):
        rc, secs, out = run(["meson", "setup", build, src, "-Dtests=true", "-Dwerror=false"] + args.setup.split(),
                            log=log)
        if rc != 0:
            sys.stderr.write(out + "\nmeson setup failed (log: %s)\n" % log)
            return 1
    rc, secs, out = run(["ninja", "-C", build, "-j", str(args.jobs)], log=log)
    if rc != 0:
        sys.stderr.write(out[-3000:] + "\nthe unchanged source does not build (log: %s)\n" % log)
        return 1

    have = available_suites(build)
    suites = []
    for s in [x.strip() for x in args.suites.split(",") if x.strip()]:
        if s in have:
            suites.append(s)
        else:
            print("note: no suite '%s' in this build: skipped" % s, flush=True)
    if not suites:
        sys.stderr.write("no suite to run (the build has: %s)\n" % ", ".join(sorted(have)))
        return 2

    ignore = set()
    if not args.no_baseline:
        t0 = time.monotonic()
        verdict, failed = run_suites(build, suites, args.jobs, args.timeout * 2, False, set())
        print("baseline (%s): %s in %.0f s" % (",".join(suites), "all pass" if verdict == "survived"
                                               else "%d failing" % len(failed), time.monotonic() - t0), flush=True)
        for f in failed:
            print("  failing before any mutation, left out of the verdicts: %s" % f, flush=True)
            ignore.add(f.split(" (")[0])

    results = []
    for i, m in enumerate(mutants, 1):
        t0 = time.monotonic()
        res = {"id": m.id, "file": m.file, "why": m.why, "verdict": None, "by": [], "seconds": 0.0, "note": ""}
        path = os.path.join(src, m.file)
        if m.id in stale:
            res.update(verdict="stale", note=stale[m.id])
        else:
            with open(path, encoding="utf-8") as f:
                original = f.read()
            mutated, why = apply_mutant(original, m)
            if why:  # the scratch copy differs from what was checked: should not happen
                res.update(verdict="stale", note=why)
            else:
                try:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(mutated)
                    rc, _, out = run(["ninja", "-C", build, "-j", str(args.jobs)], log=log)
                    if rc != 0:
                        first = next((l for l in out.split("\n") if "error" in l), "see " + log)
                        res.update(verdict="build-error", note=first.strip())
                    else:
                        verdict, failed = run_suites(build, suites, args.jobs, args.timeout,
                                                     not args.all_tests, ignore)
                        res.update(verdict=verdict, by=failed)
                finally:
                    with open(path, "w", encoding="utf-8") as f:
                        f.write(original)
        res["seconds"] = time.monotonic() - t0
        results.append(res)
        detail = ", ".join(res["by"]) if res["by"] else res["note"]
        print("[%d/%d] %-45s %-11s %5.0f s  %s" % (i, len(mutants), m.id, res["verdict"], res["seconds"], detail),
              flush=True)

    # Leave the scratch build matching the unchanged source.
    run(["ninja", "-C", build, "-j", str(args.jobs)], log=log)

    print()
    print("%-45s %-18s %-11s %6s  %s" % ("mutant", "file", "verdict", "secs", "killed by / note"))
    for r in results:
        detail = r["by"][0] if r["by"] else r["note"]
        if len(r["by"]) > 1:
            detail += " (+%d more)" % (len(r["by"]) - 1)
        print("%-45s %-18s %-11s %6.0f  %s" % (r["id"], r["file"], r["verdict"], r["seconds"], detail))
    counts = {v: sum(1 for r in results if r["verdict"] == v) for v in ("killed", "survived", "stale", "build-error")}
    judged = counts["killed"] + counts["survived"]
    print()
    print("killed %d, survived %d, stale %d, build-error %d" % (counts["killed"], counts["survived"], counts["stale"],
                                                                 counts["build-error"]))
    if judged:
        print("kill rate: %d/%d = %.0f%%" % (counts["killed"], judged, 100.0 * counts["killed"] / judged))
    survivors = [r["id"] for r in results if r["verdict"] == "survived"]
    if survivors:
        print("survivors: %s" % ", ".join(survivors))
    if counts["stale"]:
        print("stale (update or drop them in %s): %s" % (args.mutants, ", ".join(
            r["id"] for r in results if r["verdict"] == "stale")))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"suites": suites, "baseline_failing": sorted(ignore), "results": results}, f, indent=1)
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print("scratch build kept in %s" % work)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
