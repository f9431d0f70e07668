"""Echo: byte-exact, in order, at once, over IPv4 and IPv6, with one or
hundreds of connections and any ring size; the debug log; descriptors come
back after clients leave.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_echo.py /path/to/echod
"""
import random
import selectors
import socket
import time

import harness
from harness import EchodTestCase, fd_count, random_bytes, recv_exactly, wait_until


class Echo(EchodTestCase):
    def test_bulk_random_fragments_ipv4(self):
        d = self.start()
        data = random_bytes(4 << 20, seed=1)
        with d.connect() as s:
            self.assert_echo(s, data, timeout=60, max_fragment=1 << 16, seed=1)
        self.assert_clean_stop(d)

    def test_bulk_random_fragments_ipv6(self):
        d = self.start("--listen", "::1")
        self.assertEqual(d.host, "::1")
        data = random_bytes(2 << 20, seed=2)
        with d.connect() as s:
            self.assertEqual(s.family, socket.AF_INET6)
            self.assert_echo(s, data, timeout=60, max_fragment=200_000, seed=2)
        self.assert_clean_stop(d)

    def test_tiny_ring(self):
        # A 16-byte ring wraps constantly and is full almost all the time.
        d = self.start("--buffer-size", "16")
        data = random_bytes(256 << 10, seed=3)
        with d.connect() as s:
            self.assert_echo(s, data, timeout=60, max_fragment=4096, seed=3)
        self.assert_clean_stop(d)

    def test_odd_ring_size_wraps_correctly(self):
        # A ring size that no fragment size divides: spans split at odd places.
        d = self.start("--buffer-size", "1000")
        data = random_bytes(1 << 20, seed=4)
        with d.connect() as s:
            self.assert_echo(s, data, timeout=60, max_fragment=3000, seed=4)
        self.assert_clean_stop(d)

    def test_small_messages_come_back_at_once(self):
        # One byte out, one byte back, nothing else sent: no waiting for a
        # newline, a full buffer or more data. 200 round trips must take far
        # less than 200 x 40 ms (a delayed ACK or Nagle stall).
        d = self.start()
        with d.connect(timeout=2) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            started = time.monotonic()
            for i in range(200):
                b = bytes([i % 256])
                s.sendall(b)
                self.assertEqual(s.recv(16), b, f"round trip {i}")
            elapsed = time.monotonic() - started
            self.assertLess(elapsed, 4.0, f"200 one-byte round trips took {elapsed:.2f} s")
            # A partial line with no newline comes back too.
            s.sendall(b"no newline here")
            self.assertEqual(recv_exactly(s, 15, time.monotonic() + 2), b"no newline here")
        self.assert_clean_stop(d)

    def test_300_concurrent_connections(self):
        d = self.start()
        base_fds = fd_count(d.pid)
        rng = random.Random(5)
        n = 300
        sel = selectors.DefaultSelector()
        conns = []
        try:
            for i in range(n):
                s = d.connect()
                conns.append(s)
            # All are accepted and open at the same time before any byte moves.
            wait_until(lambda: fd_count(d.pid) >= base_fds + n, 10,
                       f"echod to hold {n} connections")
            for i, s in enumerate(conns):
                s.setblocking(False)
                payload = random_bytes(rng.randint(1, 48 << 10), seed=1000 + i)
                state = {"sock": s, "data": payload, "sent": 0, "got": bytearray(), "i": i}
                sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, state)
            pending = n
            deadline = time.monotonic() + 60
            while pending:
                self.assertLess(time.monotonic(), deadline, f"{pending} connections unfinished")
                for key, events in sel.select(timeout=1.0):
                    st = key.data
                    s = st["sock"]
                    if events & selectors.EVENT_WRITE and st["sent"] < len(st["data"]):
                        chunk = st["data"][st["sent"]:st["sent"] + rng.randint(1, 8192)]
                        try:
                            st["sent"] += s.send(chunk)
                        except BlockingIOError:
                            pass
                        if st["sent"] == len(st["data"]):
                            sel.modify(s, selectors.EVENT_READ, st)
                    if events & selectors.EVENT_READ:
                        try:
                            chunk = s.recv(65536)
                        except BlockingIOError:
                            continue
                        self.assertTrue(chunk, f"connection {st['i']}: EOF after {len(st['got'])} bytes")
                        st["got"] += chunk
                        self.assertLessEqual(len(st["got"]), len(st["data"]))
                        if len(st["got"]) == len(st["data"]):
                            diff = harness.first_difference(st["data"], bytes(st["got"]))
                            self.assertIsNone(diff, f"connection {st['i']}: {diff}")
                            sel.unregister(s)
                            pending -= 1
        finally:
            sel.close()
            for s in conns:
                s.close()
        # Every connection's descriptor is given back.
        wait_until(lambda: fd_count(d.pid) == base_fds, 10, "fds back to baseline")
        self.assert_clean_stop(d)

    def test_many_sequential_connections_release_descriptors(self):
        d = self.start()
        base_fds = fd_count(d.pid)
        for i in range(300):
            with d.connect() as s:
                msg = f"connection {i}".encode()
                s.sendall(msg)
                self.assertEqual(recv_exactly(s, len(msg), time.monotonic() + 10), msg)
        wait_until(lambda: fd_count(d.pid) == base_fds, 10,
                   f"fds back to baseline {base_fds} (now {fd_count(d.pid)})")
        self.assert_clean_stop(d)

    def test_debug_log_counts_bytes(self):
        d = self.start("-v")
        data = random_bytes(100_000, seed=6)
        with d.connect() as s:
            local = s.getsockname()
            self.assert_echo(s, data, timeout=30)
        d.wait_for_line(rf"accepted 127\.0\.0\.1:{local[1]} -> 127\.0\.0\.1:{d.port}\b")
        d.wait_for_line(r"closed after echoing 100000 bytes")
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
