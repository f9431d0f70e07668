"""Bounded memory: a client that writes without reading is backpressured
(its writes block) while echod's RSS stays bounded, and every byte still
comes back in order once it reads; idle connections cost far less than a
ring each.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_backpressure.py /path/to/echod
"""
import threading
import time

import harness
from harness import (EchodTestCase, cpu_share, fill_until_blocked, random_bytes, recv_exactly, rss_kib,
                     send_until_blocked, tcp_sockets, unread_limit)

MIB = 1 << 20


class Backpressure(EchodTestCase):
    def server_side(self, d, client):
        """/proc/net/tcp row of echod's end of the client's connection."""
        port = client.getsockname()[1]
        rows = [r for r in tcp_sockets(port) if r["local_port"] == d.port and r["remote_port"] == port]
        return rows[0] if rows else None

    def test_unread_writer_blocks_and_memory_stays_bounded(self):
        d = self.start()  # 64 KiB ring
        self.assert_echoes(d)  # the ring pool has lent and taken back a ring
        base = rss_kib(d.pid)
        total = unread_limit(64 << 10)  # a few tens of MiB
        data = random_bytes(total, seed=10)
        with d.connect() as s:
            # Phase 1: write, never read, until the writes block.
            sent = send_until_blocked(s, total, stall=0.5, data=data)
            self.assertLess(sent, total, f"{total} bytes went out without reading a byte: no backpressure")
            # echod stopped reading: input waits in its socket's receive queue.
            row = self.server_side(d, s)
            self.assertIsNotNone(row)
            self.assertGreater(row["rx_queue"], 0, f"echod's receive queue is empty: {row}")
            grown = rss_kib(d.pid) - base
            # A 64 KiB ring; 2 MiB is slack for the allocator (and sanitizers),
            # far below the `sent` bytes (several MiB) that an unbounded queue
            # would hold. (Kernel socket buffers are not in RSS.)
            self.assertLess(grown, 2 * 1024,
                            f"RSS grew {grown} KiB while {sent >> 10} KiB were sent unread")

            # Waiting for the client costs no CPU (no busy loop on a full ring).
            share = cpu_share(d.pid, 0.5)
            self.assertLess(share, 0.3, f"echod used {share:.0%} of a CPU while backpressured")

            # Phase 2: read everything back (and send the rest meanwhile).
            peak = [0]
            errors = []

            def writer():
                try:
                    s.sendall(memoryview(data)[sent:])
                except Exception as e:
                    errors.append(e)

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            deadline = time.monotonic() + 60
            got = bytearray()
            s.settimeout(10)
            while len(got) < total:
                self.assertLess(time.monotonic(), deadline, f"only {len(got)} of {total} bytes back")
                chunk = s.recv(MIB)
                self.assertTrue(chunk, f"EOF after {len(got)} of {total} bytes")
                got += chunk
                if len(got) % (4 * MIB) < len(chunk):
                    peak[0] = max(peak[0], rss_kib(d.pid) - base)
            t.join(10)
            self.assertFalse(errors, errors)
            diff = harness.first_difference(data, bytes(got))
            self.assertIsNone(diff, diff)
            self.assertLess(peak[0], 2 * 1024, f"RSS grew {peak[0]} KiB while echoing")
        self.assert_clean_stop(d)

    def test_several_unread_writers_with_big_rings(self):
        # Four clients, 1 MiB rings, none reading: RSS stays below
        # baseline + connections x buffer size (+ slack).
        d = self.start("--buffer-size", "1M")
        self.assert_echoes(d)
        base = rss_kib(d.pid)
        clients = [d.connect() for _ in range(4)]
        try:
            for s in clients:
                fill_until_blocked(s, MIB, stall=0.5)
            grown = rss_kib(d.pid) - base
            self.assertLess(grown, 4 * 1024 + 2 * 1024, f"RSS grew {grown} KiB with 4 full 1 MiB rings")
            # Still serving others meanwhile.
            self.assert_echoes(d, b"bystander")
        finally:
            for s in clients:
                harness.close_with_reset(s)
        self.assertTrue(d.running())
        self.assert_clean_stop(d)

    def test_idle_connections_cost_far_less_than_a_ring(self):
        d = self.start()
        self.assert_echoes(d)
        base = rss_kib(d.pid)
        n = 400
        clients = []
        try:
            for i in range(n):
                s = d.connect()
                clients.append(s)
                s.sendall(b"x")  # each borrows a ring for a moment
                self.assertEqual(recv_exactly(s, 1, time.monotonic() + 10), b"x")
            grown = rss_kib(d.pid) - base
            # 400 x 64 KiB would be 25 MiB.
            self.assertLess(grown, 4 * 1024, f"RSS grew {grown} KiB for {n} idle connections")
        finally:
            for s in clients:
                s.close()
        self.assert_clean_stop(d)

    def slow_reader(self, ring, total):
        """The client fills everything, then reads in small bites while it
        writes the rest: echod's reading stops and resumes many times, its
        writes are often partial, and the readable part of its ring often
        wraps while a write is pending. The stream must stay exact."""
        d = self.start("--buffer-size", ring)
        data = random_bytes(total, seed=11)
        with d.connect() as s:
            # Fill the way first (all of it may fit in the kernel's buffers).
            sent = send_until_blocked(s, len(data), stall=0.3, data=data)
            got = bytearray()
            t = threading.Thread(target=lambda: s.sendall(memoryview(data)[sent:]), daemon=True)
            t.start()
            deadline = time.monotonic() + 60
            s.settimeout(10)
            while len(got) < len(data):
                self.assertLess(time.monotonic(), deadline)
                chunk = s.recv(4000)
                self.assertTrue(chunk, f"EOF after {len(got)} bytes")
                got += chunk
            t.join(10)
            self.assertFalse(t.is_alive())
            diff = harness.first_difference(data, bytes(got))
            self.assertIsNone(diff, diff)
        self.assert_clean_stop(d)

    def test_slow_reader_small_ring(self):
        self.slow_reader("4K", 16 * MIB)

    def test_slow_reader_big_odd_ring(self):
        # Bigger than a third of the kernel's send buffer: after a write
        # completes, the next try_write is often partial and the rest (often
        # wrapped) goes to uv_write.
        self.slow_reader("15000001", 48 * MIB)


if __name__ == "__main__":
    harness.main()
