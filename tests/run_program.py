#!/usr/bin/env python3
"""Program-test runner: runs one .gva program and checks the annotations in it.

Usage: run_program.py GILVM FILE.gva

Runs `GILVM run FILE.gva` with standard input closed and a 60 second timeout,
then checks the file's annotations (comments the VM ignores):

  ; expect: TEXT          the next line of standard output is TEXT. TEXT is
                          everything after "expect: " to the end of the line
                          (so `; expect:` alone expects an empty line, and
                          `; expect:   x` expects "  x"). Standard output must
                          be exactly these lines, in order: no more, no fewer.
  ; expect-exit: N        the exit status is N (default 0).
  ; expect-stderr: TEXT   standard error contains TEXT somewhere (each such
                          annotation is checked on its own; order not checked).
  ; expect-stderr-line: TEXT
                          some line of standard error equals TEXT exactly.
                          These are matched in order: each one must be found
                          after the line the previous one matched. Use it for
                          the order of traceback lines.
  ; expect-no-stderr      standard error is empty.
  ; gilvm-args: ARGS      options for `gilvm run` before the file
                          (e.g. `--schedule=7:5`), split on blanks.
  ; program-args: ARGS    arguments after the file: what argv() returns.
  ; repeat: N             run N times; every run must match (reproducibility).

An annotation is a comment: it starts at the first `;` of the line that is
not inside a string constant, so it may follow an instruction on the same
line (`CALL 1 ; expect: 3`). A `;` inside "..." is never an annotation.

Exits 0 if everything matches; otherwise prints what differs (expected vs
got, with FILE:LINE of the annotation that failed) and exits 1.
Python 3 standard library only.
"""

import re
import subprocess
import sys

TIMEOUT_SECONDS = 60

ANNOTATION = re.compile(
    r";\s*(expect(?:-exit|-stderr-line|-stderr|-no-stderr)?|gilvm-args|program-args|repeat)(:|\s*$)(.*)$")


def comment_of(line):
    """Returns the text of LINE from its first `;` outside a string, or None."""
    in_string = False
    i = 0
    while i < len(line):
        c = line[i]
        if in_string:
            if c == "\\":
                i += 1  # skip the escaped character
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == ";":
            return line[i:]
        i += 1
    return None


class Expectations:
    def __init__(self):
        self.stdout = []         # (lineno, text)
        self.exit = None         # (lineno, status)
        self.stderr = []         # (lineno, text)
        self.stderr_lines = []   # (lineno, text)
        self.no_stderr = None    # lineno
        self.errors = []         # malformed annotations
        self.gilvm_args = []     # options before the file
        self.program_args = []   # arguments after it
        self.repeat = 1


def parse(path):
    exp = Expectations()
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r")
        comment = comment_of(line)
        if comment is None:
            continue
        m = ANNOTATION.match(comment)
        if not m:
            continue
        kind, colon, rest = m.group(1), m.group(2), m.group(3)
        if kind == "expect-no-stderr":
            if rest.strip():
                exp.errors.append((lineno, "expect-no-stderr takes no text"))
            exp.no_stderr = lineno
            continue
        if colon != ":":
            exp.errors.append((lineno, "annotation '%s' needs a ':'" % kind))
            continue
        # The text is everything after "KIND: " (one space dropped, if present).
        text = rest[1:] if rest.startswith(" ") else rest
        if kind == "expect":
            exp.stdout.append((lineno, text))
        elif kind == "expect-exit":
            try:
                status = int(text.strip())
            except ValueError:
                exp.errors.append((lineno, "expect-exit needs an integer, got %r" % text))
                continue
            if exp.exit is not None:
                exp.errors.append((lineno, "second expect-exit (first at line %d)" % exp.exit[0]))
                continue
            exp.exit = (lineno, status)
        elif kind == "expect-stderr":
            exp.stderr.append((lineno, text))
        elif kind == "expect-stderr-line":
            exp.stderr_lines.append((lineno, text))
        elif kind == "gilvm-args":
            exp.gilvm_args += text.split()
        elif kind == "program-args":
            exp.program_args += text.split()
        elif kind == "repeat":
            try:
                exp.repeat = max(1, int(text.strip()))
            except ValueError:
                exp.errors.append((lineno, "repeat needs an integer, got %r" % text))
    return exp


def show(text, limit=4000):
    if len(text) > limit:
        return text[:limit] + "\n... (%d more characters)" % (len(text) - limit)
    return text


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: run_program.py GILVM FILE.gva\n")
        return 2
    gilvm, path = argv[1], argv[2]
    try:
        exp = parse(path)
    except OSError as e:
        print("%s: cannot read: %s" % (path, e))
        return 1
    failures = []
    for lineno, msg in exp.errors:
        failures.append("%s:%d: bad annotation: %s" % (path, lineno, msg))

    cmd = [gilvm, "run"] + exp.gilvm_args + [path] + exp.program_args
    for run in range(exp.repeat):
        status = run_once(cmd, path, exp, failures, run, exp.repeat)
        if status != 0:
            return status
    return 0


def run_once(cmd, path, exp, failures, run, runs):
    if run:
        failures = []
    label = "" if runs == 1 else " (run %d of %d)" % (run + 1, runs)
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as e:
        print("%s: FAIL: timed out after %d s: %s" % (path, TIMEOUT_SECONDS, " ".join(cmd)))
        out = (e.stdout or b"").decode("utf-8", "replace")
        err = (e.stderr or b"").decode("utf-8", "replace")
        print("--- stdout so far ---\n" + show(out))
        print("--- stderr so far ---\n" + show(err))
        return 1
    except OSError as e:
        print("%s: FAIL: cannot run %s: %s" % (path, cmd[0], e))
        return 1

    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    check(path, exp, out, err, proc.returncode, failures)
    if failures:
        print("%s: FAIL%s (%s)" % (path, label, " ".join(cmd)))
        for f in failures:
            print(f)
        return 1
    if run + 1 == runs:
        print("%s: ok%s" % (path, "" if runs == 1 else " (%d runs)" % runs))
    return 0


def check(path, exp, out, err, status, failures=None):
    """Checks one run's standard output, standard error (decoded text) and
    exit status against EXP (from parse(PATH)). Appends what differs to
    FAILURES (a new list if none) and returns it: empty if all matched."""
    if failures is None:
        failures = []
    # Standard output: exactly the expected lines.
    want = "".join(text + "\n" for _, text in exp.stdout)
    if out != want:
        got_lines = out.split("\n")
        missing_newline = not out.endswith("\n") and out != ""
        if out.endswith("\n"):
            got_lines = got_lines[:-1]
        elif out == "":
            got_lines = []
        for i in range(max(len(exp.stdout), len(got_lines))):
            if i < len(exp.stdout) and i < len(got_lines):
                lineno, text = exp.stdout[i]
                if text != got_lines[i]:
                    failures.append("%s:%d: stdout line %d differs\n  expected: %r\n  got:      %r"
                                    % (path, lineno, i + 1, text, got_lines[i]))
                    break
            elif i < len(exp.stdout):
                lineno, text = exp.stdout[i]
                failures.append("%s:%d: stdout line %d missing (output ended)\n  expected: %r"
                                % (path, lineno, i + 1, text))
                break
            else:
                failures.append("%s: stdout has more lines than expected; first extra, line %d:\n"
                                "  got:      %r" % (path, i + 1, got_lines[i]))
                break
        else:
            if missing_newline:
                failures.append("%s: stdout does not end with a newline" % path)
        failures.append("--- expected stdout ---\n%s--- got stdout ---\n%s"
                        % (show(want) or "(nothing)\n", show(out) or "(nothing)\n"))

    # Exit status.
    want_status = exp.exit[1] if exp.exit else 0
    if status != want_status:
        where = "%s:%d" % (path, exp.exit[0]) if exp.exit else "%s (default expect-exit: 0)" % path
        desc = str(status) if status >= 0 else "%d (killed by signal %d)" % (status, -status)
        failures.append("%s: exit status differs\n  expected: %d\n  got:      %s"
                        % (where, want_status, desc))

    # Standard error.
    stderr_failed = False
    for lineno, text in exp.stderr:
        if text not in err:
            failures.append("%s:%d: stderr does not contain %r" % (path, lineno, text))
            stderr_failed = True
    err_lines = err.split("\n")
    pos = 0
    for lineno, text in exp.stderr_lines:
        for j in range(pos, len(err_lines)):
            if err_lines[j].rstrip("\r") == text:
                pos = j + 1
                break
        else:
            before = " after stderr line %d" % pos if pos else ""
            failures.append("%s:%d: no stderr line%s equals %r" % (path, lineno, before, text))
            stderr_failed = True
            break
    if exp.no_stderr is not None and err != "":
        failures.append("%s:%d: stderr should be empty" % (path, exp.no_stderr))
        stderr_failed = True
    if stderr_failed or (failures and err):
        failures.append("--- got stderr ---\n%s" % (show(err) or "(nothing)"))
    return failures


if __name__ == "__main__":
    sys.exit(main(sys.argv))
