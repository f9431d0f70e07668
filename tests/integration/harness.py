"""Shared helpers for the integration tests: start the real echod on
--port 0, find its port from the ready line, stop it by PID.

Standard library only. Every wait here is bounded.
"""
import os
import re
import signal
import socket
import subprocess
import threading
import time

READY = re.compile(r"listening on (\[[^\]]+\]|[0-9.]+):(\d+)")


class Echod:
    """A running echod. Use as a context manager; stops (SIGKILL if it must)
    the process it started, by PID, on exit."""

    def __init__(self, binary, *args, ready_timeout=10.0, **popen_kwargs):
        self.binary = binary
        self.args = list(args)
        self.proc = subprocess.Popen(
            [binary, "--port", "0", *self.args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **popen_kwargs,
        )
        self.lines = []  # every stderr line so far
        self._ready = threading.Event()
        self.host = None
        self.port = None
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(ready_timeout):
            self.kill()
            raise RuntimeError(f"echod did not print a ready line: {self.lines!r}")
        if self.port is None:
            self.kill()
            raise RuntimeError(f"echod exited before listening: {self.lines!r}")

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            m = READY.search(line)
            if m and self.port is None:
                self.host = m.group(1).strip("[]")
                self.port = int(m.group(2))
                self._ready.set()
        self._ready.set()  # EOF: exited

    @property
    def pid(self):
        return self.proc.pid

    def connect(self, timeout=10.0):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect((self.host, self.port))
        return s

    def signal(self, signum):
        self.proc.send_signal(signum)

    def wait(self, timeout=10.0):
        """Exit status; raises subprocess.TimeoutExpired if still running."""
        rc = self.proc.wait(timeout)
        self._reader.join(timeout)
        return rc

    def stderr_text(self):
        return "\n".join(self.lines)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=10.0):
        """SIGTERM, then wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout)
        finally:
            self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()
        if self.proc.stdout:
            self.proc.stdout.close()
        return False


def rss_kib(pid):
    """Resident set size of pid in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def recv_exactly(sock, n, deadline):
    """Receives exactly n bytes or raises (timeout, EOF)."""
    chunks = []
    got = 0
    while got < n:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(min(1 << 20, n - got))
        if not chunk:
            raise EOFError(f"EOF after {got} of {n} bytes")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)
