"""tools/cluster, short: three echod hosts behind Debian's HAProxy, watched
by Debian's Prometheus, loaded from two machines, each a network namespace;
a clean round, a failure round (one host SIGKILLed), a round with it down
and one with it back. Checks the JSON summary, then that no namespace and no
process of the run is left behind.

    python3 tests/integration/tools/test_cluster.py TOOLS_CLUSTER ECHOD ECHOBENCH

Needs root and network namespaces: without them it prints "*** SKIPPED: ..."
and exits 77 (meson: skipped), which tools/test allows and names in its
summary line. haproxy, prometheus and curl are installed with apt-get when
missing (tools/setup --cluster); when that fails, it fails: with root, the
cluster must run.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pylib"))
import debian  # noqa: E402

SKIP_STATUS = 77  # meson: the test was skipped
TOOLS_CLUSTER = ECHOD = ECHOBENCH = None
DURATION_S = 5
PREFIX = "echod-cluster-"


def why_no_namespaces():
    """None when this process can make a network namespace, else why not."""
    if os.geteuid() != 0:
        return "not root: tools/cluster makes network namespaces"
    ip, reason = debian.ensure_program("ip", "iproute2")
    if ip is None:
        return reason
    probe = f"echod-probe-{os.getpid()}"
    r = subprocess.run([ip, "netns", "add", probe], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return f"ip netns add is impossible here: {r.stderr.strip()}"
    r = subprocess.run([ip, "-n", probe, "link", "add", "name", "probe0", "type", "veth", "peer", "name", "probe1"],
                       capture_output=True, text=True, timeout=30)
    subprocess.run([ip, "netns", "delete", probe], capture_output=True, timeout=30)
    if r.returncode != 0:
        return f"no veth pairs in a network namespace here: {r.stderr.strip()}"
    return None


def namespaces():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def processes_of(paths):
    """PIDs whose command line mentions any of paths (the run's binaries and
    its output folder, where HAProxy's and Prometheus's configs are)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(p in arg for arg in argv for p in paths):
            found.append((int(pid), " ".join(argv)))
    return found


class Cluster(unittest.TestCase):
    def test_a_short_cluster_run_accounts_for_every_byte_and_connection(self):
        for program, package in (("haproxy", None), ("prometheus", None), ("curl", None)):
            path, reason = debian.ensure_program(program, package)
            self.assertIsNotNone(path, reason)
        self.assertEqual([ns for ns in namespaces() if ns.startswith(PREFIX)], [],
                         "namespaces of an earlier run are there: tools/cluster --clean")
        with tempfile.TemporaryDirectory() as out:
            r = subprocess.run([sys.executable, TOOLS_CLUSTER, "--duration", str(DURATION_S), "--out", out,
                                "--build", os.path.dirname(ECHOD)],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
            log = f"stderr:\n{r.stderr[-6000:]}"
            lines = r.stdout.strip().splitlines()
            self.assertTrue(lines, f"no summary on stdout (exit {r.returncode})\n{log}")
            summary = json.loads(lines[-1])
            failed = [c for c in summary["checks"] if not c["ok"]]
            self.assertEqual(failed, [], log)
            self.assertIsNone(summary["error"], log)
            self.assertTrue(summary["ok"], log)
            self.assertEqual(r.returncode, 0, log)

            # The summary's own fields say the same as its checks.
            roles = sorted(h["role"] for h in summary["hosts"])
            self.assertEqual(roles, ["balancer", "echod", "echod", "echod", "load", "load", "prometheus"])
            merged = summary["merged"]
            self.assertEqual(merged["runs"], 2)
            self.assertEqual(merged["errors"], {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0})
            self.assertGreater(merged["messages"], 0)
            self.assertEqual(summary["sent_bytes"], merged["sent_bytes"])
            self.assertEqual(sorted(summary["server_bytes"]), ["echod1", "echod2", "echod3"])
            self.assertEqual(sum(summary["server_bytes"].values()), summary["sent_bytes"])
            failure = summary["failure"]
            self.assertEqual(failure["killed"], "echod1")
            self.assertGreater(failure["held_connections"], 0)
            self.assertEqual(failure["broken"], failure["held_connections"])
            self.assertEqual(failure["mismatch"], 0)
            self.assertEqual(failure["timeout"], 0)
            self.assertIsNotNone(failure["marked_down_after_s"])
            self.assertEqual(summary["down"]["new_sessions"]["echod1"], 0)
            self.assertGreater(summary["restored"]["new_sessions"]["echod1"], 0)
            self.assertTrue(summary["report"].endswith(".html"))
            with open(summary["report"]) as f:
                page = f.read()
            self.assertTrue(page.startswith("<!DOCTYPE html>"), page[:100])
            self.assertIn("runs merged", page)
            self.assertIn("198.18.0.10:7007", page)

            # Nothing left behind: no namespace, no process of the run.
            self.assertEqual([ns for ns in namespaces() if ns.startswith(PREFIX)], [])
            self.assertEqual(processes_of([ECHOD, ECHOBENCH, out]), [])


if __name__ == "__main__":
    TOOLS_CLUSTER, ECHOD, ECHOBENCH = (os.path.abspath(a) for a in sys.argv[1:4])
    del sys.argv[1:4]
    reason = why_no_namespaces()
    if reason:
        print(f"*** SKIPPED: {reason}", flush=True)
        sys.exit(SKIP_STATUS)
    unittest.main(verbosity=2)
