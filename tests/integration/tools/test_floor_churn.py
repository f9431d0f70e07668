#!/usr/bin/env python3
"""floor_churn (tools/floor), the reference churn client: it completes N
connections against floor_echo and against echod, one checked message each,
prints one JSON line, and fails (exit 1, counted) on a server that echoes a
wrong byte, closes early, or is not there. No timing is checked.

    python3 test_floor_churn.py FLOOR_CHURN FLOOR_ECHO ECHOD

Standard library only; every process here is started and stopped by PID.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import unittest

import harness

CHURN = FLOOR = ECHOD = None
FIELDS = {"host", "port", "connections", "size", "warmup", "seconds", "completed", "connections_per_sec",
          "connect_errors", "io_errors", "early_eofs", "mismatches", "timeouts"}
ERRORS = ("connect_errors", "io_errors", "early_eofs", "mismatches", "timeouts")


def churn(port, *args, timeout=60):
    """Runs floor_churn against 127.0.0.1:port: (exit status, JSON doc or None, stderr)."""
    r = subprocess.run([CHURN, "-p", str(port), *map(str, args)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=timeout)
    out = r.stdout.decode(errors="replace")
    lines = out.splitlines()
    doc = json.loads(lines[0]) if len(lines) == 1 else None
    return r.returncode, doc, r.stderr.decode(errors="replace")


class BadServer:
    """A threaded loopback server that misbehaves on every connection:
    'flip' echoes with one byte changed, 'close' closes after reading,
    'extra' echoes and then sends one byte more."""

    def __init__(self, mode):
        self.mode = mode
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    data = conn.recv(1 << 16)
                    if self.mode == "flip" and data:
                        conn.sendall(data[:-1] + bytes([data[-1] ^ 0x01]))
                    elif self.mode == "extra":
                        conn.sendall(data + b"!")
                    # 'close': nothing back; then wait for the client's FIN (or give up).
                    if self.mode != "close":
                        conn.recv(1 << 16)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join(10)
        self.listener.close()
        return False


class FloorChurn(unittest.TestCase):
    def assert_clean(self, rc, doc, err, n):
        self.assertEqual(rc, 0, err)
        self.assertIsNotNone(doc, err)
        self.assertEqual(set(doc), FIELDS)
        self.assertEqual(doc["completed"], n, doc)
        for key in ERRORS:
            self.assertEqual(doc[key], 0, (key, doc))
        self.assertGreater(doc["connections_per_sec"], 0)
        self.assertEqual(err, "")

    def assert_failed(self, rc, doc, err, key, n):
        self.assertEqual(rc, 1, err)
        self.assertIsNotNone(doc, err)
        self.assertGreater(doc[key], 0, doc)
        self.assertEqual(doc["completed"] + sum(doc[k] for k in ERRORS), n, doc)
        self.assertRegex(err, r"floor_churn: \d+ connection\(s\) failed; the first: ")

    def test_against_the_floor(self):
        proc = subprocess.Popen([FLOOR, "--port", "0"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", proc.stderr.readline().decode(errors="replace"))
            self.assertIsNotNone(m, "floor_echo printed no ready line")
            port = int(m.group(1))
            self.assert_clean(*churn(port, "-n", 2000, "-c", 20), 2000)
            # Messages larger than a socket buffer: written in pieces while the echo is read.
            self.assert_clean(*churn(port, "-n", 12, "-c", 3, "-s", "1MiB"), 12)
            # One connection at a time, one byte each.
            self.assert_clean(*churn(port, "-n", 50, "-c", 1, "-s", 1), 50)
            # A duration run counts what completed in its window.
            rc, doc, err = churn(port, "-d", 0.3, "--warmup", 0.1, "-c", 4)
            self.assertEqual(rc, 0, err)
            self.assertGreater(doc["completed"], 0)
            self.assertGreaterEqual(doc["seconds"], 0.3)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)
            proc.stderr.close()

    def test_against_echod(self):
        with harness.Echod(ECHOD) as d:
            self.assert_clean(*churn(d.port, "-n", 1000, "-c", 50), 1000)
            self.assert_clean(*churn(d.port, "-n", 10, "-c", 2, "-s", "256KiB"), 10)
            rc = d.stop()
            self.assertEqual(rc, 0, d.stderr_text())
            # echod counted them all, and nothing is left open.
            self.assertIn(f"stopped: 1010 connections served, {1000 * 64 + 10 * 256 * 1024} bytes echoed",
                          d.summary_line() or d.stderr_text())

    def test_wrong_byte(self):
        with BadServer("flip") as server:
            self.assert_failed(*churn(server.port, "-n", 20, "-c", 2), "mismatches", 20)

    def test_extra_byte(self):
        with BadServer("extra") as server:
            self.assert_failed(*churn(server.port, "-n", 20, "-c", 2), "mismatches", 20)

    def test_early_close(self):
        with BadServer("close") as server:
            self.assert_failed(*churn(server.port, "-n", 20, "-c", 2), "early_eofs", 20)

    def test_nobody_listening(self):
        port = harness.free_port()
        rc, doc, err = churn(port, "-n", 30, "-c", 3)
        self.assert_failed(rc, doc, err, "connect_errors", 30)
        self.assertEqual(doc["connect_errors"], 30)
        self.assertIn("no connection completed", err)

    def test_usage_errors(self):
        for args in (["-p", "0"], ["-n", "5", "-d", "1"], ["-H", "nohost"], ["-s", "0"], ["--bogus"]):
            r = subprocess.run([CHURN, *args], stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            err = r.stderr.decode(errors="replace")
            self.assertEqual(r.returncode, 2, (args, err))
            self.assertEqual(len(err.splitlines()), 1, (args, err))
            self.assertTrue(err.startswith("floor_churn: "), err)
            self.assertEqual(r.stdout, b"")


def main():
    global CHURN, FLOOR, ECHOD
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    CHURN, FLOOR, ECHOD = sys.argv[1:4]
    suite = unittest.TestLoader().loadTestsFromTestCase(FloorChurn)
    return 0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
