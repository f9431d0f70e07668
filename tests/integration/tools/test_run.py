"""tools/run: says what it is doing before the build, and runs echod.

    python3 tests/integration/tools/test_run.py TOOLS_RUN BUILD_DIR

Uses the build directory it is given (ECHOD_BUILD_DIR), which is already
built, so it costs one ninja no-op; tools/setup installs nothing there.
"""
import os
import subprocess
import sys
import unittest

TOOLS_RUN = None
BUILD_DIR = None


class ToolsRun(unittest.TestCase):
    def test_says_it_builds_then_runs_echod(self):
        env = dict(os.environ, ECHOD_BUILD_DIR=BUILD_DIR)
        r = subprocess.run([TOOLS_RUN, "--version"], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("echod "), r.stdout)
        self.assertIn("tools/run: building echod in", r.stderr)
        self.assertIn("the first build takes about a minute", r.stderr)
        # The line comes before ninja's own output, not after it.
        self.assertTrue(r.stderr.startswith("tools/run: "), r.stderr)


if __name__ == "__main__":
    TOOLS_RUN, BUILD_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    del sys.argv[1:3]
    unittest.main(verbosity=2)
