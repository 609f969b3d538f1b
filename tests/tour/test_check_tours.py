#!/usr/bin/env python3
"""The tour checker's own test: it must fail a tour whose stop never comes,
comes out of order or prints a field that differs, and must not pass when gdb
cannot trace. Runs a fake gdb (this file, with --fake-gdb), so it needs neither
gdb nor a stepping build."""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_tours  # noqa: E402

PAGE = """# Tour: t

```sh
gdb -batch -nx -x docs/tour/t.gdb --args build-debug/prog run x
```

```tour
TOUR-STOP 1: a
TOUR-FIELD x = 1
TOUR-STOP 2: b
TOUR-END exit = 0
```
"""


def fake_gdb():
    """Prints what the environment variable FAKE_OUT says, as gdb would."""
    sys.stdout.write(os.environ["FAKE_OUT"].replace("\\n", "\n"))
    return 0


class Compare(unittest.TestCase):
    want = ["TOUR-STOP 1: a", "TOUR-FIELD x = 1", "TOUR-STOP 2: b", "TOUR-END exit = 0"]

    def test_equal_passes(self):
        self.assertIsNone(check_tours.compare(self.want, list(self.want)))

    def test_field_differs(self):
        got = ["TOUR-STOP 1: a", "TOUR-FIELD x = 2", "TOUR-STOP 2: b", "TOUR-END exit = 0"]
        msg = check_tours.compare(self.want, got)
        self.assertIn("'TOUR-FIELD x = 1'", msg)
        self.assertIn("'TOUR-FIELD x = 2'", msg)
        self.assertIn("at 'TOUR-STOP 1: a'", msg)

    def test_stop_never_reached(self):
        msg = check_tours.compare(self.want, self.want[:2])
        self.assertIn("'TOUR-STOP 2: b' was never reached", msg)

    def test_stop_out_of_order(self):
        got = ["TOUR-STOP 2: b", "TOUR-STOP 1: a", "TOUR-FIELD x = 1", "TOUR-END exit = 0"]
        self.assertIn("came out of order", check_tours.compare(self.want, got))

    def test_extra_lines_fail(self):
        msg = check_tours.compare(self.want, self.want + ["TOUR-STOP 3: c"])
        self.assertIn("more than the page lists", msg)


class RunTour(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp()
        os.makedirs(os.path.join(self.root, "docs", "tour"))
        with open(os.path.join(self.root, "docs", "tour", "t.md"), "w") as f:
            f.write(PAGE)
        self.gdb = os.path.join(self.root, "gdb")
        with open(self.gdb, "w") as f:
            f.write(f"#!/bin/sh\nexec {sys.executable} {os.path.abspath(__file__)} --fake-gdb\n")
        os.chmod(self.gdb, 0o755)

    def run_tour(self, out):
        args = type("A", (), {"root": self.root, "build": self.root, "gdb": self.gdb,
                              "timeout": 30, "print": False})
        os.environ["FAKE_OUT"] = out
        return check_tours.run_tour(args, "t")

    def test_page_lines_pass(self):
        ok, msg, _ = self.run_tour("noise\\nTOUR-STOP 1: a\\nTOUR-FIELD x = 1\\nTOUR-STOP 2: b\\n"
                                   "[Inferior 1 exited]\\nTOUR-END exit = 0\\n")
        self.assertTrue(ok, msg)

    def test_ptrace_refused_fails_and_says_so(self):
        ok, msg, _ = self.run_tour("warning: Could not trace the inferior process.\\n"
                                   "warning: ptrace: Operation not permitted\\n")
        self.assertFalse(ok)
        self.assertIn("ptrace", msg)

    def test_gdb_error_is_named(self):
        ok, msg, _ = self.run_tour("TOUR-STOP 1: a\\nFunction \"gone\" not defined.\\n"
                                   "docs/tour/t.gdb:9: Error in sourced command file:\\n"
                                   "No symbol \"x\" in current context.\\n")
        self.assertFalse(ok)
        self.assertIn("No symbol", msg)


class SteppingBuild(unittest.TestCase):
    def test_optimised_build_is_not_a_stepping_build(self):
        d = tempfile.mkdtemp()
        os.makedirs(os.path.join(d, "meson-info"))
        for opt, expect_ok in (("2", False), ("0", True)):
            with open(os.path.join(d, "meson-info", "intro-buildoptions.json"), "w") as f:
                f.write('[{"name": "optimization", "value": "%s"}, {"name": "debug", "value": true}]' % opt)
            reason = check_tours.stepping_build(d)
            self.assertEqual(reason is None, expect_ok, reason)


if __name__ == "__main__":
    if sys.argv[1:] == ["--fake-gdb"]:
        sys.exit(fake_gdb())
    unittest.main()
