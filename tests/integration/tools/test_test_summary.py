#!/usr/bin/env python3
"""tools/test-summary, which every CI step's verdict goes through: it says
'NAME: N passed, N failed', and fails on a failure, a timeout, a skip no
--may-skip allows, a log in which nothing passed, and a log it cannot read
whole (missing, or half-written by a meson test still running) with one
line, never a traceback.

    python3 test_test_summary.py TOOLS/TEST-SUMMARY
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

SUMMARY = None


def record(name, result, stdout=""):
    return json.dumps({"name": f"echod:integration / {name}", "result": result, "stdout": stdout}) + "\n"


class TestSummary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="echod-test-summary-")
        self.log = os.path.join(self.tmp.name, "testlog.json")

    def tearDown(self):
        self.tmp.cleanup()

    def run_summary(self, text, *args):
        with open(self.log, "w") as f:
            f.write(text)
        r = subprocess.run([sys.executable, SUMMARY, self.log, "T", *args], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stdout, r.stderr

    def test_all_passed(self):
        status, out, err = self.run_summary(record("a", "OK") + record("b", "EXPECTEDFAIL"))
        self.assertEqual((status, out, err), (0, "T: 2 passed, 0 failed\n", ""))

    def test_a_failure_and_a_timeout_fail(self):
        status, out, err = self.run_summary(record("a", "OK") + record("b", "FAIL") + record("c", "TIMEOUT"))
        self.assertEqual(status, 1)
        self.assertEqual(out, "T: 1 passed, 2 failed\n")
        self.assertIn("T: echod:integration / b: FAIL", err)
        self.assertIn("T: echod:integration / c: TIMEOUT", err)

    def test_a_skip_fails_unless_allowed_and_is_said(self):
        log = record("a", "OK") + record("b", "SKIP", "*** SKIPPED: no chromium\n")
        self.assertEqual(self.run_summary(log)[0], 1)
        status, out, _ = self.run_summary(log, "--may-skip", "b")
        self.assertEqual(status, 0)
        self.assertEqual(out, "T: 1 passed, 0 failed, 1 skipped (allowed): b: *** SKIPPED: no chromium\n")

    def test_nothing_passed_fails(self):
        status, _, err = self.run_summary("")
        self.assertEqual(status, 1)
        self.assertIn("T: no test ran", err)

    def test_a_half_written_log_is_one_line(self):
        status, out, err = self.run_summary(record("a", "OK") + '{"name": "echod:integration / b", "res')
        self.assertEqual(status, 1)
        self.assertEqual(out, "")
        self.assertRegex(err, r"^T: .*testlog\.json, line 2: not a whole JSON record \(.*\); "
                              r"was another meson test writing it\?\n$")

    def test_a_missing_log_is_one_line(self):
        r = subprocess.run([sys.executable, SUMMARY, os.path.join(self.tmp.name, "none.json"), "T"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"^T: cannot read .*none\.json: No such file or directory\n$")


if __name__ == "__main__":
    SUMMARY = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
