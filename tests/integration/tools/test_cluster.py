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
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pylib"))
import debian  # noqa: E402

SKIP_STATUS = 77  # meson: the test was skipped
TOOLS_CLUSTER = ECHOD = ECHOBENCH = None
DURATION_S = 6
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
    r = subprocess.run(["nsenter", f"--net=/run/netns/{probe}", "--", ip, "link", "add", "name", "probe0",
                        "type", "veth", "peer", "name", "probe1"],
                       capture_output=True, text=True, timeout=30)
    subprocess.run([ip, "netns", "delete", probe], capture_output=True, timeout=30)
    if r.returncode != 0:
        return f"no veth pairs in a network namespace here: {r.stderr.strip()}"
    return None


def namespaces():
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def processes_of(binaries, out):
    """(PID, command line) of what a run may have left: echod or echobench
    of this build given a cluster address, or a program whose command line
    names the run's output folder (HAProxy's and Prometheus's configs)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        ours = argv[0] in binaries and any(arg.startswith("198.18.0.") for arg in argv)
        if ours or any(out in arg for arg in argv):
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
            self.assertEqual(processes_of([ECHOD, ECHOBENCH], out), [])

    def test_refuses_to_start_over_an_earlier_run_and_clean_removes_it(self):
        leftover = PREFIX + "switch"
        subprocess.run(["ip", "netns", "add", leftover], check=True, timeout=30)
        self.addCleanup(subprocess.run, ["ip", "netns", "delete", leftover], capture_output=True, timeout=30)
        # A process left running in it, as an interrupted run could leave one.
        sleeper = subprocess.Popen(["nsenter", f"--net=/run/netns/{leftover}", "--", "sleep", "60"],
                                   stdin=subprocess.DEVNULL)
        self.addCleanup(sleeper.wait, 30)
        self.addCleanup(lambda: sleeper.poll() is None and sleeper.kill())
        r = subprocess.run([sys.executable, TOOLS_CLUSTER, "--build", os.path.dirname(ECHOD)],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn(f"namespaces of an earlier run are still there ({leftover})", r.stderr)
        self.assertIn("tools/cluster --clean", r.stderr)
        r = subprocess.run([sys.executable, TOOLS_CLUSTER, "--clean"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"removed 1 namespace(s): {leftover}", r.stderr)
        self.assertNotIn(leftover, namespaces())
        self.assertEqual(sleeper.wait(10), -9)  # killed by its PID, from ip netns pids

    def test_interrupted_it_still_removes_everything(self):
        with tempfile.TemporaryDirectory() as out:
            p = subprocess.Popen([sys.executable, TOOLS_CLUSTER, "--out", out, "--build", os.path.dirname(ECHOD)],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                # SIGTERM once the echod hosts run, in the middle of the set-up.
                seen = ""
                while "echod3: echod" not in seen:
                    line = p.stderr.readline()
                    self.assertTrue(line, f"tools/cluster ended early:\n{seen}")
                    seen += line
                p.send_signal(signal.SIGTERM)
                out_text, err = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(p.returncode, 1, seen + err)
            summary = json.loads(out_text.strip().splitlines()[-1])
            self.assertFalse(summary["ok"])
            self.assertEqual(summary["error"], "Interrupted: SIGTERM")
            self.assertEqual([ns for ns in namespaces() if ns.startswith(PREFIX)], [])
            self.assertEqual(processes_of([ECHOD, ECHOBENCH], out), [])
            self.assertEqual(sorted(s for s in summary["stopped"] if s.startswith("echod")),
                             ["echod1-1", "echod2-1", "echod3-1"])

    def test_bad_options_are_usage_errors(self):
        for args, text in ((["--duration", "1"], "--duration: from 5 to 3600 seconds"),
                           (["--duration", "x"], "invalid float value"),
                           (["--connections", "0"], "--connections: from 1 to 2000"),
                           (["--connections", "99999999"], "--connections: from 1 to 2000"),
                           (["--frobnicate"], "unrecognized arguments")):
            r = subprocess.run([sys.executable, TOOLS_CLUSTER] + args, stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, (args, r.stderr))
            self.assertIn(text, r.stderr, args)
            self.assertEqual(r.stdout, "", args)


if __name__ == "__main__":
    TOOLS_CLUSTER, ECHOD, ECHOBENCH = (os.path.abspath(a) for a in sys.argv[1:4])
    del sys.argv[1:4]
    reason = why_no_namespaces()
    if reason:
        print(f"*** SKIPPED: {reason}", flush=True)
        sys.exit(SKIP_STATUS)
    unittest.main(verbosity=2)
