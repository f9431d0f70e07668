"""Bind failures and restarts: a port in use is one line naming the address
and the reason, exit 1; a restart on the same port over a TIME_WAIT works
with SO_REUSEADDR (the default) and fails without it.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_bind.py /path/to/echod
"""
import os
import signal
import subprocess
import time

import harness
from harness import EchodTestCase, recv_until_eof, run_echod, tcp_sockets, wait_until


class Bind(EchodTestCase):
    def assert_bind_failure(self, args, address, reason):
        try:
            r = run_echod(self.binary, *args, timeout=10)
        except subprocess.TimeoutExpired:
            self.fail(f"echod {args} started although {address} is taken")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(address, lines[0])
        self.assertIn(reason, lines[0].lower())
        self.assertNotIn("listening on", lines[0])

    def test_port_in_use_ipv4(self):
        first = self.start()
        for extra in ([], ["--no-reuseaddr"], ["--reuseaddr"]):
            with self.subTest(extra=extra):
                self.assert_bind_failure(["--port", str(first.port), *extra],
                                         f"127.0.0.1:{first.port}", "address already in use")
        # The first one is unharmed.
        self.assert_echoes(first)
        self.assert_clean_stop(first)

    def test_port_in_use_ipv6(self):
        first = self.start("--listen", "::1")
        self.assert_bind_failure(["--listen", "::1", "--port", str(first.port)],
                                 f"[::1]:{first.port}", "address already in use")
        self.assert_echoes(first)
        self.assert_clean_stop(first)

    def test_ipv4_and_ipv6_loopback_share_a_port(self):
        port = harness.free_port()
        v4 = self.start("--port", str(port))
        v6 = self.start("--port", str(port), "--listen", "::1")
        self.assertEqual((v4.port, v6.port), (port, port))
        self.assert_echoes(v4, b"four")
        self.assert_echoes(v6, b"six")
        self.assert_clean_stop(v4)
        self.assert_clean_stop(v6)

    def test_privileged_port(self):
        if os.geteuid() == 0:
            self.skipTest("running as root: every port may be bound")
        try:
            with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as f:
                if int(f.read()) <= 1:
                    self.skipTest("ip_unprivileged_port_start allows port 1")
        except OSError:
            pass
        self.assert_bind_failure(["--port", "1"], "127.0.0.1:1", "permission denied")

    def make_time_wait(self, port):
        """Runs echod on port, stops it while a client is connected: echod
        sends its FIN first, so its end goes to TIME_WAIT once we close."""
        d = self.start("--port", str(port))
        with d.connect() as s:
            s.sendall(b"x")
            self.assertEqual(s.recv(1), b"x")
            d.signal(signal.SIGTERM)
            self.assertEqual(recv_until_eof(s, time.monotonic() + 10), b"")
        self.assertEqual(d.wait(10), 0, d.stderr_text())
        wait_until(lambda: self.time_wait_on(port), 5, f"a TIME_WAIT socket on local port {port}")

    @staticmethod
    def time_wait_on(port):
        return [r for r in tcp_sockets(port) if r["local_port"] == port and r["state"] == "TIME_WAIT"]

    def test_restart_over_time_wait(self):
        port = harness.free_port()
        self.make_time_wait(port)
        # Without SO_REUSEADDR the TIME_WAIT blocks the bind...
        self.assertTrue(self.time_wait_on(port))
        self.assert_bind_failure(["--port", str(port), "--no-reuseaddr"],
                                 f"127.0.0.1:{port}", "address already in use")
        # ...with it (the default) the restart works and serves.
        self.assertTrue(self.time_wait_on(port), "TIME_WAIT ended too early for the test to mean anything")
        d = self.start("--port", str(port))
        self.assertEqual(d.port, port)
        self.assert_echoes(d)
        self.assert_clean_stop(d)

    def test_restart_without_time_wait(self):
        # No connection, no TIME_WAIT: --no-reuseaddr restarts fine too.
        port = harness.free_port()
        d = self.start("--port", str(port), "--no-reuseaddr")
        self.assert_echoes(d)  # (the client closes first: TIME_WAIT is on its side)
        self.assert_clean_stop(d)
        self.assertFalse(self.time_wait_on(port))
        d = self.start("--port", str(port), "--no-reuseaddr")
        self.assert_echoes(d)
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
