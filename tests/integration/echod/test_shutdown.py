"""Shutdown: SIGTERM/SIGINT close the listener, write out what each ring
holds, half-close (FIN, not RST), wait for peers up to the drain deadline,
log a summary and exit 0; a second signal exits 1 at once.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_shutdown.py /path/to/echod
"""
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

import harness
from harness import (EchodTestCase, fill_until_blocked, random_bytes, recv_exactly, recv_until_eof,
                     tcp_sockets, wait_until)

MIB = 1 << 20


class Shutdown(EchodTestCase):
    def wait_all_read(self, d, clients):
        """Polls /proc/net/tcp until every byte the clients sent has reached
        echod's kernel (client tx_queue 0) and been read by echod (its rx_queue
        0): from then on echod holds it, in its ring or its send queue."""
        ports = {s.getsockname()[1] for s in clients}

        def settled():
            rows = [r for r in tcp_sockets(d.port) if r["state"] == "ESTABLISHED" and
                    (r["local_port"] in ports or r["remote_port"] in ports)]
            return len(rows) == 2 * len(ports) and all(
                (r["tx_queue"] == 0 if r["local_port"] in ports else r["rx_queue"] == 0) for r in rows)

        wait_until(settled, 20, "echod to read everything sent")

    def assert_refuses_connections(self, d):
        def refused():
            try:
                socket.create_connection((d.host, d.port), timeout=2).close()
                return False
            except (ConnectionRefusedError, ConnectionResetError):
                # Reset: the connect raced the listener's close and was
                # dropped from its backlog. Either way, no longer served.
                return True
        wait_until(refused, 5, "the listening socket to close")

    def signal_right_after_ready(self, signum):
        """Starts echod, reads its stderr in this thread and signals it the
        moment the ready line is complete; returns (status, stderr)."""
        proc = subprocess.Popen([self.binary, "--port", "0"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            fd = proc.stderr.fileno()
            out = b""
            deadline = time.monotonic() + 10
            while not re.search(rb"listening on .*\n", out):
                self.assertLess(time.monotonic(), deadline, f"no ready line: {out!r}")
                ready, _, _ = select.select([fd], [], [], 1.0)
                if ready:
                    chunk = os.read(fd, 4096)
                    self.assertTrue(chunk, f"echod exited before the ready line: {out!r}")
                    out += chunk
            proc.send_signal(signum)
            rc = proc.wait(10)
            out += proc.stderr.read()
            return rc, out.decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            proc.stderr.close()

    def test_signal_right_after_ready_line(self):
        # A script that waits for the ready line and then stops echod must
        # get a clean stop (exit 0, summary), not death by the signal.
        for i in range(100):
            signum = signal.SIGTERM if i % 2 == 0 else signal.SIGINT
            rc, err = self.signal_right_after_ready(signum)
            self.assertEqual(rc, 0, f"attempt {i}: exit status {rc} after {signum!r} "
                                    f"right after the ready line; stderr:\n{err}")
            self.assertIn("stopped", err)

    def transfer_in_flight(self, signum):
        # A ring big enough for all of it: echod reads all 10 MiB while the
        # client reads nothing, so several MiB wait in the ring at the signal.
        d = self.start("--buffer-size", "16M")
        self.assert_echoes(d)
        data = random_bytes(10 * MIB, seed=30)
        with d.connect(timeout=20) as s:
            t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
            t.start()
            t.join(20)
            self.assertFalse(t.is_alive(), "echod did not take 10 MiB into a 16 MiB ring")
            self.wait_all_read(d, [s])
            d.signal(signum)
            self.assert_refuses_connections(d)
            try:
                got = recv_until_eof(s, time.monotonic() + 20, limit=len(data))
            except ConnectionResetError:
                self.fail("connection reset during the drain (expected FIN)")
            diff = harness.first_difference(data, got)
            self.assertIsNone(diff, diff)
        rc = d.wait(10)
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertRegex(d.stderr_text(), r"stopped")
        self.assert_no_sanitizer_report(d)

    def test_sigterm_with_transfer_in_flight(self):
        self.transfer_in_flight(signal.SIGTERM)

    def test_sigint_with_transfer_in_flight(self):
        self.transfer_in_flight(signal.SIGINT)

    def test_many_connections_in_mixed_states(self):
        # Idle, holding unread echo, and half-closed connections: each gets
        # everything it sent, then EOF; echod exits 0 before the deadline.
        d = self.start("--buffer-size", "256K")
        idle = [self.client(d) for _ in range(20)]
        for s in idle:
            s.sendall(b"hi")
            self.assertEqual(recv_exactly(s, 2, time.monotonic() + 10), b"hi")
        busy = []
        for i in range(10):
            s = self.client(d)
            data = random_bytes(200_000, seed=40 + i)
            s.sendall(data)  # fits in kernel buffers and the ring
            busy.append((s, data))
        half = self.client(d)
        half.sendall(b"half")
        half.shutdown(socket.SHUT_WR)
        self.wait_all_read(d, idle + [s for s, _ in busy])
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        try:
            for s in idle:
                self.assertEqual(recv_until_eof(s, time.monotonic() + 10), b"")
                s.close()
            for s, data in busy:
                got = recv_until_eof(s, time.monotonic() + 10)
                self.assertIsNone(harness.first_difference(data, got))
                s.close()
            self.assertEqual(recv_until_eof(half, time.monotonic() + 10), b"half")
            half.close()
        except ConnectionResetError:
            self.fail("connection reset during the drain (expected FIN)")
        rc = d.wait(10)
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertLess(time.monotonic() - started, 4.0, "the drain waited although every peer closed")
        self.assertIn("stopped", d.stderr_text())
        self.assert_no_sanitizer_report(d)

    def test_writer_still_sending_after_signal(self):
        # The client keeps writing and reading; after the signal it gets a
        # prefix of its stream, then EOF. It goes on writing after the EOF
        # (echod discards that, never answering with RST), then closes, and
        # echod exits 0.
        d = self.start()
        data = random_bytes(64 * MIB, seed=31)
        stop = threading.Event()
        sent = [0]
        errors = []
        with d.connect(timeout=20) as s:
            def writer():
                view = memoryview(data)
                try:
                    while not stop.is_set():
                        pos = sent[0] % len(view)
                        sent[0] += s.send(view[pos:pos + 65536])
                except OSError as e:
                    errors.append(e)

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            got = bytearray()
            s.settimeout(20)
            while len(got) < 2 * MIB:
                chunk = s.recv(MIB)
                self.assertTrue(chunk)
                got += chunk
            d.signal(signal.SIGTERM)
            try:
                got += recv_until_eof(s, time.monotonic() + 20, limit=len(data))
            except ConnectionResetError:
                self.fail("connection reset during the drain (expected FIN)")
            at_eof = sent[0]
            wait_until(lambda: sent[0] >= at_eof + 4 * MIB or errors, 20,
                       "the client to write 4 MiB more after echod's FIN")
            stop.set()
            t.join(10)
            self.assertEqual(errors, [], "writing after echod's FIN failed: echod reset the connection")
            self.assertEqual(bytes(got), data[:len(got)], "echo is not a prefix of what was sent")
            s.shutdown(socket.SHUT_WR)
        rc = d.wait(10)
        self.assertEqual(rc, 0, d.stderr_text())
        self.assert_no_sanitizer_report(d)

    def test_second_signal_exits_1_at_once(self):
        for first, second in ((signal.SIGTERM, signal.SIGTERM), (signal.SIGTERM, signal.SIGINT)):
            with self.subTest(first=first, second=second):
                d = self.start()
                with d.connect() as s:
                    # Never reads: the drain cannot finish by itself.
                    fill_until_blocked(s, 64 << 10)
                    mark = len(d.lines)
                    d.signal(first)
                    d.wait_for_line(r"draining", start=mark)  # the first one is handled
                    self.assertTrue(d.running())
                    started = time.monotonic()
                    d.signal(second)
                    rc = d.wait(10)
                    elapsed = time.monotonic() - started
                self.assertEqual(rc, 1, d.stderr_text())
                self.assertLess(elapsed, 2.0, f"took {elapsed:.2f} s to exit after the second signal")
                self.assertIn("stopped", d.stderr_text())
                self.assert_no_sanitizer_report(d)

    def test_drain_deadline(self):
        # One client never reads (its ring stays full), another gets EOF at
        # once but never closes its end: echod waits for them up to the
        # deadline (5 s), then closes them and exits 0.
        d = self.start()
        full = self.client(d)
        idle = self.client(d)
        self.assert_echo(idle, b"idle")
        fill_until_blocked(full, 64 << 10)
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        self.assertEqual(recv_until_eof(idle, time.monotonic() + 3), b"")
        self.assertLess(time.monotonic() - started, 2.0, "the idle client's EOF came late")
        rc = d.wait(5 + 5)
        elapsed = time.monotonic() - started
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertGreater(elapsed, 2.0, "echod did not wait for its peers at all")
        self.assertLess(elapsed, 5 + 3.0)
        self.assertIn("stopped", d.stderr_text())
        self.assert_no_sanitizer_report(d)


if __name__ == "__main__":
    harness.main()
