#!/usr/bin/env python3
"""Checks `gilvm run --timeline=FILE` (the GIL timeline, README "Seeing the GIL").

Runs programs (examples/*.gva and the thread and service programs under
tests/programs) in every GIL mode and under the deterministic schedule, each
with --timeline, and checks every file written:

  - it is valid JSON in the documented schema (traceEvents, otherData.schema
    gilvm-timeline-1, the event kinds and fields below);
  - per thread: the state slices are well formed (known names, dur >= 0) and
    do not overlap, and the thread's events' timestamps never decrease;
  - across threads: no two `running` slices overlap (one GIL, one holder);
  - every handoff flow starts at a `drop` and ends at a `take` (a later one,
    on the thread the take names as its successor), every request flow starts
    at a `drop request` and ends at a `drop`; no flow is left half open;
  - every `take` names the thread that dropped (`from`) and that thread has
    the matching `drop`.

Usage:
  check_timeline.py --gilvm build/gilvm [--root DIR] [--mode MODE]... [FILE.gva ...]
  check_timeline.py --check TIMELINE.json ...   (check files made elsewhere)
Python standard library only."""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
import time

SCHEMA = "gilvm-timeline-1"
STATES = {"running", "waiting for GIL", "outside VM"}
BLOCKED = re.compile(r"^blocked: [a-z]+$")
INSTANTS = {"drop request", "drop", "take", "async exception set", "async exception delivered",
            "pending call queued", "pending call run", "signal"}
REASONS = {"interval", "priority waiter", "schedule", "none"}
EPS = 1e-6  # timestamps are µs with 3 decimals; sums of two may be off by float rounding
MODES = ["classic", "priority", "spin", "schedule"]
TIMEOUT = 120
SELF_TESTED = set()


class Bad(Exception):
    pass


def need(cond, what, args=()):
    """what % args is formatted only on failure: the checks run per event."""
    if not cond:
        raise Bad(what % args if args else what)


def check_schema(doc):
    need(isinstance(doc, dict), "top level is not an object")
    need(isinstance(doc.get("traceEvents"), list), "no traceEvents list")
    other = doc.get("otherData")
    need(isinstance(other, dict) and other.get("schema") == SCHEMA, "otherData.schema is not " + SCHEMA)
    need(other.get("clock") == "monotonic", "otherData.clock is not monotonic")
    for key in ("futex_round_trip_us", "events_dropped", "events_per_thread"):
        need(isinstance(other.get(key), (int, float)), "otherData.%s missing", (key,))
    need(isinstance(other.get("gil_mode"), str) and other["gil_mode"] not in ("", "?"), "bad gil_mode")
    names = {}
    for e in doc["traceEvents"]:
        need(isinstance(e, dict), "an event is not an object")
        ph = e.get("ph")
        need(ph in ("M", "X", "i", "s", "f"), "unknown ph %r", (ph,))
        need(e.get("pid") == 1 and isinstance(e.get("tid"), int), "bad pid/tid in %r", (e,))
        need(isinstance(e.get("name"), str), "event without a name: %r", (e,))
        if ph == "M":
            need(e["name"] in ("process_name", "thread_name", "thread_sort_index"), "bad metadata %r", (e,))
            if e["name"] == "thread_name":
                n = e["args"]["name"]
                need(re.match(r"^T%d \S" % e["tid"], n), "thread name %r does not start with T%d", (n, e["tid"]))
                need(e["tid"] not in names, "thread %d named twice", (e["tid"],))
                names[e["tid"]] = n
            continue
        need(isinstance(e.get("ts"), (int, float)) and e["ts"] >= 0, "bad ts in %r", (e,))
        if ph == "X":
            need(e["name"] in STATES or BLOCKED.match(e["name"]), "unknown state %r", (e["name"],))
            need(isinstance(e.get("dur"), (int, float)) and e["dur"] >= 0, "bad dur in %r", (e,))
        elif ph == "i":
            need(e["name"] in INSTANTS, "unknown instant %r", (e["name"],))
            need(e.get("s") == "t", "instant not thread-scoped: %r", (e,))
            if e["name"] in ("drop request", "drop", "take"):
                need(e["args"].get("reason") in REASONS, "bad reason in %r", (e,))
        else:
            need(e.get("cat") in ("handoff", "request") and isinstance(e.get("id"), int), "bad flow %r", (e,))
    for e in doc["traceEvents"]:
        if e["ph"] != "M":
            need(e["tid"] in names, "thread %d has events but no name", (e["tid"],))
    return names


def check_threads(doc):
    by_tid = {}
    for e in doc["traceEvents"]:
        if e["ph"] != "M":
            by_tid.setdefault(e["tid"], []).append(e)
    for tid, evs in by_tid.items():
        last = -1.0
        for e in evs:  # in file order
            need(e["ts"] + EPS >= last, "T%d: timestamp %.3f after %.3f", (tid, e["ts"], last))
            last = e["ts"]
        slices = [e for e in evs if e["ph"] == "X"]
        for a, b in zip(slices, slices[1:]):
            need(a["ts"] + a["dur"] <= b["ts"] + EPS,
                 "T%d: slice %r at %.3f overlaps %r at %.3f" % (tid, a["name"], a["ts"], b["name"], b["ts"]))
    running = sorted((e for e in doc["traceEvents"] if e["ph"] == "X" and e["name"] == "running"),
                     key=lambda e: e["ts"])
    for a, b in zip(running, running[1:]):
        need(a["ts"] + a["dur"] <= b["ts"] + EPS,
             "running slices overlap: T%d at %.3f+%.3f and T%d at %.3f" %
             (a["tid"], a["ts"], a["dur"], b["tid"], b["ts"]))
    return by_tid


def check_flows(doc):
    instants = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "i":
            instants.setdefault((e["tid"], e["ts"], e["name"]), []).append(e)
    flows = {}
    for e in doc["traceEvents"]:
        if e["ph"] in ("s", "f"):
            flows.setdefault((e["cat"], e["id"]), []).append(e)
    ends = {"handoff": ("drop", "take"), "request": ("drop request", "drop")}
    for (cat, fid), evs in flows.items():
        need(sorted(e["ph"] for e in evs) == ["f", "s"], "%s flow %d is not one start and one end", (cat, fid))
        s, f = sorted(evs, key=lambda e: e["ph"], reverse=True)
        need(f["ts"] + EPS >= s["ts"], "%s flow %d ends before it starts", (cat, fid))
        first, last = ends[cat]
        at_first = instants.get((s["tid"], s["ts"], first), [])
        at_last = instants.get((f["tid"], f["ts"], last), [])
        if cat == "handoff":
            need(any(a["args"]["flow"] == fid for a in at_first), "handoff flow %d does not start at its drop", (fid,))
            need(any(a["args"]["flow"] == fid for a in at_last), "handoff flow %d does not end at its take", (fid,))
        else:
            need(any(a["args"]["flow"] == fid for a in at_first), "request flow %d does not start at a request", (fid,))
            need(at_last, "request flow %d does not end at a drop", (fid,))
    drops = {}
    for e in doc["traceEvents"]:
        if e["ph"] == "i" and e["name"] == "drop" and e["args"]["flow"]:
            need(e["args"]["flow"] not in drops, "two drops with flow %d", (e["args"]["flow"],))
            drops[e["args"]["flow"]] = e
    takes = 0
    lossy = doc["otherData"]["events_dropped"] > 0
    for e in doc["traceEvents"]:
        if e["ph"] == "i" and e["name"] == "take":
            takes += 1
            if lossy and e["args"]["flow"] == 0:
                continue  # its drop was in a full buffer
            d = drops.get(e["args"]["flow"])
            need(d is not None, "take at %.3f on T%d has no drop", (e["ts"], e["tid"]))
            need(d["tid"] == e["args"]["from"], "take on T%d names T%d, the drop was on T%d",
                 (e["tid"], e["args"]["from"], d["tid"]))
            need(d["ts"] <= e["ts"] + EPS, "take before its drop (T%d at %.3f)", (e["tid"], e["ts"]))
            need(("handoff", e["args"]["flow"]) in flows, "take at %.3f without its flow", (e["ts"],))
            for k in ("request_to_drop_us", "drop_to_wake_us", "wake_to_running_us"):
                need(e["args"][k] >= 0, "negative %s", (k,))
    return takes


def check_doc(doc):
    names = check_schema(doc)
    check_threads(doc)
    takes = check_flows(doc)
    need(any(n.endswith(" main") for n in names.values()), "no main thread")
    return len(names), takes


def mutants(doc):
    """Broken copies of a good timeline, one per invariant: the checks must
    reject each (so that they can fail)."""
    evs = doc["traceEvents"]

    def copy():
        return json.loads(json.dumps(doc))

    def index(pred):
        return next(i for i, e in enumerate(evs) if pred(e))

    running = [i for i, e in enumerate(evs) if e["ph"] == "X" and e["name"] == "running"]
    a = running[0]
    b = next(i for i in running if evs[i]["tid"] != evs[a]["tid"])
    m = copy()  # a running slice of another thread moved inside this one
    m["traceEvents"][b]["ts"] = evs[a]["ts"] + evs[a]["dur"] / 2
    yield "running slices overlap", m
    m = copy()
    m["traceEvents"][a]["dur"] = evs[a]["dur"] + 1e9  # runs into the thread's next slice
    yield "a slice overlaps the next", m
    m = copy()
    m["traceEvents"][a]["name"] = "sleeping"
    yield "unknown state", m
    m = copy()
    del m["traceEvents"][index(lambda e: e["ph"] == "f" and e["cat"] == "handoff")]
    yield "half-open flow", m
    m = copy()
    m["traceEvents"][index(lambda e: e["ph"] == "s" and e["cat"] == "handoff")]["ts"] += 0.5
    yield "flow not starting at a drop", m
    m = copy()
    i = index(lambda e: e["ph"] == "i" and e["name"] == "take")
    m["traceEvents"][i]["args"]["from"] = 999999
    yield "take naming the wrong thread", m
    m = copy()
    del m["otherData"]["schema"]
    yield "no schema", m


def self_test(doc):
    """The names of the mutants the checks let through (none, we hope)."""
    missed = []
    for what, m in mutants(doc):
        try:
            check_doc(m)
            missed.append(what)
        except (Bad, KeyError, TypeError, ValueError):
            pass
    return missed


def annotations(path):
    gilvm_args, program_args = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*;\s*(gilvm-args|program-args):(.*)$", line)
            if m:
                (gilvm_args if m.group(1) == "gilvm-args" else program_args).extend(m.group(2).split())
    return gilvm_args, program_args


def run_one(gilvm, path, mode, tmpdir):
    gilvm_args, program_args = annotations(path)
    if any(a.startswith("--schedule") for a in gilvm_args):
        if mode != "schedule":
            return None  # the program picks its own schedule: run once, under it
        mode_args = []
    elif mode == "schedule":
        mode_args = ["--schedule=7:200"]
    else:
        mode_args = ["--gil=" + mode]
    out = os.path.join(tmpdir, "t.json")
    if os.path.exists(out):
        os.remove(out)
    cmd = [gilvm, "run", "--timeline=" + out] + mode_args + gilvm_args + [path] + program_args
    proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=TIMEOUT)
    if proc.returncode not in (0, 1, 3):  # 3: exit_status.gva's own status
        raise Bad("exit status %d: %s" % (proc.returncode, proc.stderr.decode(errors="replace")[-300:]))
    need(os.path.exists(out), "no timeline written")
    with open(out, encoding="utf-8") as f:
        doc = json.load(f)
    want = "schedule" if mode == "schedule" else mode
    need(doc["otherData"]["gil_mode"] == want, "gil_mode %r, ran %r", (doc["otherData"]["gil_mode"], want))
    threads, takes = check_doc(doc)
    if threads >= 2 and takes >= 2 and mode not in SELF_TESTED:  # once per mode: the copies cost time
        SELF_TESTED.add(mode)
        missed = self_test(doc)
        need(not missed, "the checks missed broken copies: " + ", ".join(missed))
    return threads, takes


def default_programs(root):
    progs = sorted(glob.glob(os.path.join(root, "examples", "*.gva")))
    for sub in ("threads", "services", "schedule"):
        progs += sorted(glob.glob(os.path.join(root, "tests", "programs", sub, "*.gva")))
    return progs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gilvm")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    ap.add_argument("--mode", action="append",
                    help="GIL mode(s) to run in: a --gil= mode, or schedule (default: %s)" % ", ".join(MODES))
    ap.add_argument("--exclude", action="append", default=[], help="skip programs whose path contains this")
    ap.add_argument("--check", action="store_true", help="the files are timelines to check, not programs")
    ap.add_argument("files", nargs="*")
    args = ap.parse_args()
    failures = 0
    if args.check:
        for path in args.files:
            try:
                with open(path, encoding="utf-8") as f:
                    n, takes = check_doc(json.load(f))
                print("ok   %s (%d threads, %d takes)" % (path, n, takes))
            except (Bad, ValueError, KeyError, TypeError) as e:
                print("FAIL %s: %s" % (path, e))
                failures += 1
        return 1 if failures else 0
    if not args.gilvm:
        ap.error("--gilvm is needed (or --check)")
    programs = args.files or default_programs(args.root)
    programs = [p for p in programs if not any(x in p for x in args.exclude)]
    runs = 0
    with tempfile.TemporaryDirectory() as tmpdir:
        for mode in args.mode or MODES:
            for path in programs:
                name = os.path.relpath(path, args.root)
                t0 = time.monotonic()
                try:
                    r = run_one(args.gilvm, path, mode, tmpdir)
                except (Bad, ValueError, KeyError, TypeError, subprocess.TimeoutExpired) as e:
                    print("FAIL %s [%s]: %s" % (name, mode, e))
                    failures += 1
                    continue
                if r is None:
                    continue
                runs += 1
                print("ok   %s [%s] (%d threads, %d takes; %.1f s)" % (name, mode, r[0], r[1], time.monotonic() - t0))
    print("%d runs, %d failed" % (runs + failures, failures))
    return 1 if failures or not runs else 0


if __name__ == "__main__":
    sys.exit(main())
