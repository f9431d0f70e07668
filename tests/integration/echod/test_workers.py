"""Past one core: --reuseport, and --workers N (a parent running N
single-threaded echod workers on one port through SO_REUSEPORT).

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_workers.py /path/to/echod
"""
import os
import signal
import socket
import struct
import subprocess
import tempfile
import time

import harness
from harness import EchodTestCase, children, fd_count, metrics, recv_exactly, wait_until


def echo(sock, data=b"ping"):
    sock.sendall(data)
    return recv_exactly(sock, len(data), time.monotonic() + 10)


def notification(notify):
    """The next datagram on a NOTIFY_SOCKET (SO_PASSCRED on) and the PID
    that sent it, as systemd sees it."""
    message, ancillary, _, _ = notify.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("iII")))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            return message, struct.unpack("iII", data[:struct.calcsize("iII")])[0]
    return message, None


class Workers(EchodTestCase):
    def start_workers(self, n, *args):
        d = self.start("--workers", str(n), *args)
        wait_until(lambda: len(children(d.pid)) == n, 10, f"{n} workers")
        # Every worker has logged its own ready line on the same port.
        wait_until(lambda: sum("listening on" in line for line in d.lines) >= n, 10, "every ready line")
        return d

    def test_the_parent_alone_tells_systemd_ready_once_every_worker_serves(self):
        # systemd takes notifications from the unit's main PID only: the
        # parent's. It says READY=1 once both workers listen, then
        # STOPPING=1 at SIGTERM; no worker says anything.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notify")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
                notify.bind(path)
                notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
                notify.settimeout(20)
                d = self.start("--workers", "2", env=dict(os.environ, NOTIFY_SOCKET=path))
                self.assertEqual(notification(notify), (b"READY=1", d.pid))
                # Both workers logged their ready line before it.
                wait_until(lambda: sum("listening on" in line for line in d.lines) == 2, 10, "both ready lines")
                with self.client(d) as s:
                    self.assertEqual(echo(s), b"ping")
                d.signal(signal.SIGTERM)
                self.assertEqual(notification(notify), (b"STOPPING=1", d.pid))
                self.assertEqual(d.wait(20), 0)
                notify.setblocking(False)
                with self.assertRaises(BlockingIOError, msg="a notification after STOPPING=1"):
                    notify.recv(4096)

    def test_connections_spread_over_the_workers(self):
        d = self.start_workers(2)
        workers = children(d.pid)
        self.assertTrue(any(f"pid {w})" in d.ready_line for w in workers))
        base = {w: fd_count(w) for w in workers}
        clients = [self.client(d) for _ in range(40)]
        for s in clients:
            self.assertEqual(echo(s), b"ping")
        gained = {w: fd_count(w) - base[w] for w in workers}
        self.assertEqual(sum(gained.values()), 40, gained)
        # SO_REUSEPORT hashes connections over the listeners: both get some.
        self.assertTrue(all(g > 0 for g in gained.values()), gained)
        for s in clients:
            s.close()
        self.assert_clean_stop(d)
        self.assertTrue(any("stopped: all 2 workers exited" in line for line in d.lines), d.stderr_text())

    def test_a_killed_worker_loses_only_its_connections_and_comes_back(self):
        d = self.start_workers(2)
        victim, survivor = children(d.pid)
        clients = [self.client(d) for _ in range(40)]
        for s in clients:
            self.assertEqual(echo(s, b"before"), b"before")
        base = fd_count(victim)
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(children(d.pid)) == 2 and victim not in children(d.pid), 10,
                   "the parent to restart the killed worker")
        self.assertIn(survivor, children(d.pid))
        d.wait_for_line(rf"worker {victim} killed by signal 9; restarting it")
        lost = kept = 0
        for s in clients:
            try:
                self.assertEqual(echo(s, b"after"), b"after")
                kept += 1
            except (ConnectionResetError, EOFError, BrokenPipeError):
                lost += 1
        # The victim's connections are gone, the survivor's all still echo.
        self.assertGreater(kept, 0)
        self.assertGreater(lost, 0)
        self.assertEqual(lost + kept, 40)
        self.assertLessEqual(lost, base)
        # New connections are served, by either worker.
        for _ in range(10):
            with d.connect() as s:
                self.assertEqual(echo(s, b"new"), b"new")
        for s in clients:
            s.close()
        self.assert_clean_stop(d)

    def test_a_stop_while_workers_start_is_clean(self):
        # SIGTERM as soon as the first worker is ready: the others may still
        # be starting (under valgrind, surely). A worker blocks the stop
        # signals until its handlers are in, so each still drains and exits 0.
        d = self.start("--workers", "4")
        self.assert_clean_stop(d)
        self.assertTrue(any("stopped: all 4 workers exited" in line for line in d.lines), d.stderr_text())
        self.assertFalse(any("not all cleanly" in line for line in d.lines), d.stderr_text())

    def test_workers_do_not_outlive_a_killed_parent(self):
        d = self.start_workers(2)
        workers = children(d.pid)
        d.proc.kill()  # SIGKILL: the parent cannot forward anything
        d.proc.wait(10)

        def alive(pid):
            try:
                with open(f"/proc/{pid}/stat") as f:
                    return f.read().split()[2] != "Z"
            except FileNotFoundError:
                return False

        def gone():
            return not any(alive(w) for w in workers)
        # They get SIGTERM from the kernel and drain (no connections: at once).
        wait_until(gone, 10, "the orphaned workers to exit")

    def test_sigusr1_logs_one_line_for_every_worker(self):
        d = self.start_workers(2)
        clients = [self.client(d) for _ in range(10)]
        for s in clients:
            self.assertEqual(echo(s), b"ping")
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ")
        self.assertIn("10 connections", line)
        self.assertIn("10 accepted", line)
        self.assertIn("40 bytes in, 40 bytes out", line)
        time.sleep(0.3)  # no second line: the workers answer the parent, which sums
        self.assertEqual(sum("stats:" in line for line in d.lines), 1, d.stderr_text())
        for s in clients:
            s.close()
        self.assert_clean_stop(d)

    def test_the_metrics_file_sums_every_worker(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "echod.prom")
            d = self.start_workers(2, "--metrics-file", path, "--stats-interval", "0.2")
            sent = 0
            for i in range(20):
                with self.client(d) as s:
                    data = bytes([65 + i]) * (1000 + i)
                    self.assertEqual(echo(s, data), data)
                    sent += len(data)

            def totals():
                m = metrics(path)
                return (m.get("echod_connections_accepted_total"), m.get("echod_received_bytes_total"))
            wait_until(lambda: os.path.exists(path) and totals() == (20, sent), 10,
                       f"accepted 20 and {sent} bytes received in the metrics file")
            self.assert_clean_stop(d)

    def test_second_signal_ends_the_drain_with_status_1(self):
        d = self.start_workers(2, "--buffer-size", "16K")
        # A client that never reads keeps its worker draining.
        s = self.client(d)
        s.setblocking(False)
        try:
            while True:
                s.send(b"x" * 65536)
        except BlockingIOError:
            pass
        d.signal(signal.SIGTERM)
        d.wait_for_line(r"draining 1 connection \(")
        d.signal(signal.SIGTERM)
        started = time.monotonic()
        self.assertEqual(d.wait(30), 1)
        if not harness.skip_under_wrapper(self, "how fast the drain ends"):
            self.assertLess(time.monotonic() - started, 3)

    def test_port_in_use_fails_before_any_worker_starts(self):
        with self.start() as first:
            proc = subprocess.run([self.binary, "--port", str(first.port), "--workers", "2"],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn(f"cannot listen on 127.0.0.1:{first.port}: bind: address already in use", proc.stderr)
            self.assertNotIn("workers started", proc.stderr)


class ReusePort(EchodTestCase):
    def test_two_daemons_share_a_port_only_with_reuseport(self):
        first = self.start("--reuseport")
        port = first.port
        second = self.start("--reuseport", "--port", str(port))
        self.assertEqual(second.port, port)
        self.assertIn("reuseport on", second.ready_line)
        proc = subprocess.run([self.binary, "--port", str(port)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("address already in use", proc.stderr)
        for d in (first, second):
            self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
