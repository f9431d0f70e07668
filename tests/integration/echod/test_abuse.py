"""Abuse: clients that reset while echod writes a large echo to them, close
while echod is blocked writing to them, half-close and then reset while
echod still flushes, connect by the thousand and send nothing or vanish,
dribble one byte per send, stall en masse and vanish; and a seeded random
mix of all of it. After each: echod is up, a new client echoes byte-exact,
echod's descriptors are back to their baseline, nothing keeps the loop busy,
and its stderr has no sanitizer report.

test_echod_faults.py covers the single-client versions (a reset with data
in flight, a reset of one backpressured client, a killed client process);
these push the same paths harder and into states those do not reach.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_abuse.py /path/to/echod
"""
import random
import select
import socket
import subprocess
import sys
import threading
import time

import harness
from harness import (EchodTestCase, close_with_reset, cpu_share, fd_count, first_difference,
                     random_bytes, recv_exactly, recv_until_eof, tcp_sockets, wait_until)

KIB = 1 << 10
MIB = 1 << 20

# A client process: opens COUNT connections (small socket buffers, RST on
# close if RESET), writes to each until every write would block if STALL,
# says "ready", and waits to be killed (the kernel then closes its sockets).
CLIENT_PROCESS = r"""
import select, socket, struct, sys, time
host, port, count, stall, reset = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5] == "1"
socks = []
for i in range(count):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    if reset and i % 2:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.settimeout(10)
    s.connect((host, port))
    s.setblocking(False)
    socks.append(s)
if stall:
    chunk = bytes(16384)
    quiet_since = time.monotonic()
    deadline = time.monotonic() + 30
    while time.monotonic() - quiet_since < 0.3 and time.monotonic() < deadline:
        moved = False
        for s in socks:
            try:
                while s.send(chunk):
                    moved = True
            except BlockingIOError:
                pass
        if moved:
            quiet_since = time.monotonic()
        time.sleep(0.01)
print("ready", flush=True)
time.sleep(60)
"""


class Abuse(EchodTestCase):
    def start_echod(self, *args):
        self.d = self.start(*args)
        self.base_fds = fd_count(self.d.pid)
        self.checks = 0
        return self.d

    def small_buffers(self, s):
        """Small kernel buffers on a client socket (before connect), so that
        echod's writes block after little data and many stalled clients
        cost little kernel memory."""
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        # An Ethernet-sized MSS: with loopback's 64 KiB one, echod's send
        # buffer autotunes to megabytes.
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)

    def connect_small(self):
        d = self.d
        s = socket.socket(d.family, socket.SOCK_STREAM)
        self.small_buffers(s)
        s.settimeout(10)
        s.connect((d.host, d.port))
        return s

    def echod_side(self, s):
        """/proc/net/tcp row of echod's end of client s, or None."""
        port = s.getsockname()[1]
        rows = [r for r in tcp_sockets(port) if r["local_port"] == self.d.port and r["remote_port"] == port]
        return rows[0] if rows else None

    def wait_echod_writing_blocked(self, clients, timeout=20):
        """Until echod has unsent bytes queued toward every client (its
        writes to them can make no progress: their windows are full)."""
        ports = {s.getsockname()[1] for s in clients}

        def backed_up():
            queued = {r["remote_port"]: r["tx_queue"] for r in tcp_sockets(self.d.port)
                      if r["local_port"] == self.d.port and r["remote_port"] in ports}
            return len(queued) == len(ports) and all(queued.values())
        wait_until(backed_up, timeout, "echod's writes to every client to back up")

    def check_recovered(self, what, cpu=True):
        """echod is up, a new client echoes byte-exact, descriptors are back
        to the baseline, the loop is quiet, no sanitizer report."""
        d = self.d
        self.checks += 1
        self.assertTrue(d.running(), f"echod died after {what}:\n{d.stderr_text()}")
        with d.connect() as s:
            self.assert_echo(s, random_bytes(200_000, seed=1000 + self.checks), timeout=20)
        try:
            wait_until(lambda: fd_count(d.pid) == self.base_fds, 15,
                       f"echod's fds back to the baseline {self.base_fds} after {what}")
        except AssertionError as e:
            raise AssertionError(f"{e}: echod holds {fd_count(d.pid)}") from None
        # (Under a wrapper such as valgrind, CPU shares say nothing.)
        skip = getattr(harness, "skip_under_wrapper", lambda test, what: False)
        if cpu and not skip(self, "CPU share of an idle echod"):
            share = cpu_share(d.pid, 0.3)
            self.assertLess(share, 0.3, f"echod used {share:.0%} of a CPU while idle after {what}")
        self.assert_no_sanitizer_report(d)

    def run_client_process(self, count, stall, reset):
        """Starts CLIENT_PROCESS; returns it once it said "ready"."""
        d = self.d
        child = subprocess.Popen([sys.executable, "-c", CLIENT_PROCESS, d.host, str(d.port), str(count),
                                  "1" if stall else "0", "1" if reset else "0"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)

        def stop_child():
            if child.poll() is None:
                child.kill()
            child.wait(10)
            child.stdout.close()
        self.addCleanup(stop_child)
        ready, _, _ = select.select([child.stdout], [], [], 60)
        self.assertTrue(ready, "the client process did not get ready within 60 s")
        self.assertEqual(child.stdout.readline().strip(), b"ready")
        return child

    def kill_child(self, child):
        child.kill()
        child.wait(10)

    # ------------------------------------------------------------ tests

    def test_reset_while_echod_writes_a_large_echo(self):
        # The client streams megabytes while reading, and resets after a
        # random part of the echo came back, byte-exact so far: echod is in
        # the middle of writing (try_write partial, uv_write pending, ring
        # wrapped) when the RST lands. Ring sizes around the kernel's.
        rng = random.Random(1)
        for ring in ("16K", "256K", "4M"):
            self.start_echod("--buffer-size", ring)
            for i in range(4):
                data = random_bytes(8 * MIB, seed=rng.randrange(1 << 30))
                cut = rng.randint(1, 3 * MIB)
                with self.d.connect() as s:
                    s.setblocking(False)
                    sent, got = 0, bytearray()
                    deadline = time.monotonic() + 20
                    while len(got) < cut:
                        self.assertLess(time.monotonic(), deadline, f"ring {ring}: stuck at {len(got)} bytes")
                        want_write = [s] if sent < len(data) else []
                        readable, writable, _ = select.select([s], want_write, [], 1.0)
                        if writable:
                            try:
                                sent += s.send(memoryview(data)[sent:sent + 256 * KIB])
                            except BlockingIOError:
                                pass
                        if readable:
                            chunk = s.recv(64 * KIB)
                            self.assertTrue(chunk, f"ring {ring}: EOF after {len(got)} bytes")
                            got += chunk
                    self.assertEqual(bytes(got), data[:len(got)], f"ring {ring}: echo differs before the reset")
                    close_with_reset(s)
            self.check_recovered(f"resets during large echoes (ring {ring})")
            self.assert_clean_stop(self.d)

    def test_close_while_echod_is_blocked_writing(self):
        # 30 clients with full receive windows: echod's writes to each are
        # pending, its rings full, reading stopped. They all go at once:
        # plain close() (RST: input unread), shutdown + close, or RST.
        self.start_echod("--buffer-size", "16K")
        clients = [self.connect_small() for _ in range(30)]
        for s in clients:
            self.addCleanup(s.close)
        for s in clients:
            s.setblocking(False)
        # Round-robin writes until none moves for 0.3 s.
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 20
        chunk = bytes(16 * KIB)
        while time.monotonic() - quiet_since < 0.3:
            self.assertLess(time.monotonic(), deadline, "the writes never blocked")
            for s in clients:
                try:
                    if s.send(chunk):
                        quiet_since = time.monotonic()
                except BlockingIOError:
                    pass
            time.sleep(0.005)
        self.wait_echod_writing_blocked(clients)
        for i, s in enumerate(clients):
            if i % 3 == 0:
                s.close()
            elif i % 3 == 1:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            else:
                close_with_reset(s)
        self.check_recovered("closes while echod was blocked writing")
        self.assert_clean_stop(self.d)

    def test_half_close_then_reset_while_flushing(self):
        # echod has read everything and the FIN (it is flushing, a write
        # pending, megabytes still in its ring) when the RST comes.
        self.start_echod("--buffer-size", "16M")
        for i in range(3):
            s = self.connect_small()
            try:
                data = random_bytes(6 * MIB, seed=50 + i)
                s.settimeout(20)
                s.sendall(data)  # fits in the 16 MiB ring: echod takes it all
                s.shutdown(socket.SHUT_WR)
                port = s.getsockname()[1]

                def flushing():
                    r = self.echod_side(s)
                    return r and r["state"] == "CLOSE_WAIT" and r["rx_queue"] == 0 and r["tx_queue"] > 0
                wait_until(flushing, 20, "echod to read all and the FIN, its writes backed up")
                # Some echo so far, then the reset.
                got = recv_exactly(s, 4096, time.monotonic() + 10)
                self.assertEqual(got, data[:4096])
            finally:
                close_with_reset(s)
            self.check_recovered(f"a reset while flushing ({i})", cpu=False)
        self.check_recovered("resets while flushing")
        self.assert_clean_stop(self.d)

    def test_many_silent_connections_then_vanish(self):
        # 1000 connections that send nothing, held by another process; a
        # new client is served meanwhile; then the process is killed (FIN
        # from half of them, RST from the other half).
        self.start_echod()
        child = self.run_client_process(1000, stall=False, reset=True)
        wait_until(lambda: fd_count(self.d.pid) >= self.base_fds + 1000, 20,
                   "echod to accept the 1000 silent connections")
        with self.d.connect() as s:
            self.assert_echo(s, random_bytes(100_000, seed=3))
        self.kill_child(child)
        self.check_recovered("1000 silent connections vanished")
        self.assert_clean_stop(self.d)

    def test_one_byte_per_send(self):
        # Two clients, 3000 one-byte sends each (TCP_NODELAY: one segment
        # each), read concurrently: the echo is exact.
        self.start_echod()
        errors = []

        def dribble(seed):
            try:
                data = random_bytes(3000, seed=seed)
                with self.d.connect() as s:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    got = bytearray()

                    def reader():
                        try:
                            got.extend(recv_exactly(s, len(data), time.monotonic() + 30))
                        except Exception as e:
                            errors.append(e)
                    t = threading.Thread(target=reader, daemon=True)
                    t.start()
                    for b in data:
                        s.send(bytes([b]))
                    t.join(30)
                    if t.is_alive():
                        errors.append(AssertionError("reader still running"))
                    elif bytes(got) != data:
                        errors.append(AssertionError(f"seed {seed}: {first_difference(data, bytes(got))}"))
            except Exception as e:
                errors.append(e)
        threads = [threading.Thread(target=dribble, args=(seed,), daemon=True) for seed in (7, 8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
            self.assertFalse(t.is_alive(), "a dribbling client did not finish")
        self.assertEqual(errors, [])
        self.check_recovered("one-byte sends")
        self.assert_clean_stop(self.d)

    def test_connection_burst(self):
        # 3000 connections opened and closed as fast as possible (plain
        # close, RST, and a byte sent then RST), then 1000 open at once and
        # all closed together.
        self.start_echod()
        started = time.monotonic()
        for i in range(3000):
            s = self.d.connect()
            if i % 3 == 0:
                s.close()
            elif i % 3 == 1:
                close_with_reset(s)
            else:
                s.send(b"x")
                close_with_reset(s)
        burst = time.monotonic() - started
        self.assertLess(burst, 30, f"3000 connections took {burst:.1f} s")
        self.check_recovered("3000 connections in a burst", cpu=False)
        clients = [self.d.connect() for _ in range(1000)]
        wait_until(lambda: fd_count(self.d.pid) >= self.base_fds + 1000, 20,
                   "echod to accept 1000 connections")
        for i, s in enumerate(clients):
            if i % 2:
                close_with_reset(s)
            else:
                s.close()
        self.check_recovered("1000 connections closed together")
        self.assert_clean_stop(self.d)

    def test_stalled_clients_vanish(self):
        # 40 clients in another process fill everything (rings full, echod's
        # writes pending) and the process is killed: RST on each.
        self.start_echod("--buffer-size", "16K")
        child = self.run_client_process(40, stall=True, reset=False)
        wait_until(lambda: fd_count(self.d.pid) == self.base_fds + 40, 10, "echod to hold 40 connections")

        def backed_up():
            rows = [r for r in tcp_sockets(self.d.port)
                    if r["local_port"] == self.d.port and r["state"] == "ESTABLISHED"]
            return len(rows) == 40 and all(r["tx_queue"] > 0 for r in rows)
        wait_until(backed_up, 10, "echod's writes to all 40 to back up")
        with self.d.connect() as s:  # the others are still served
            self.assert_echo(s, random_bytes(100_000, seed=4))
        self.kill_child(child)
        self.check_recovered("40 stalled clients vanished")
        self.assert_clean_stop(self.d)

    def test_random_mix(self):
        # Seeded random clients, 4 at a time for 3 s: echo in random
        # fragments (verified) then close, RST, or half-close (verified to
        # EOF); stall then RST; connect and vanish; dribble. A bystander
        # must keep echoing within 2 s throughout: no client stalls others.
        self.start_echod("--buffer-size", "32K")
        stop = threading.Event()
        errors = []
        counts = {}

        def one_client(rng):
            kind = rng.choice(["echo-close", "echo-reset", "half-close", "stall-reset", "vanish",
                               "dribble-reset"])
            counts[kind] = counts.get(kind, 0) + 1
            # Small kernel buffers for the stalling kind: it stalls after
            # ~150 KiB rather than megabytes.
            s = self.connect_small() if kind == "stall-reset" else self.d.connect()
            try:
                if kind in ("echo-close", "echo-reset"):
                    data = rng.randbytes(rng.randint(1, 300_000))
                    got = harness.echo_roundtrip(s, data, 20, max_fragment=rng.randint(1, 70_000),
                                                 seed=rng.randrange(1 << 30))
                    if got != data:
                        raise AssertionError(f"{kind}: {first_difference(data, got)}")
                    if kind == "echo-reset":
                        close_with_reset(s)
                elif kind == "half-close":
                    data = rng.randbytes(rng.randint(0, 100_000))
                    s.sendall(data)  # small enough to fit in the kernel buffers
                    s.shutdown(socket.SHUT_WR)
                    got = recv_until_eof(s, time.monotonic() + 20, limit=len(data))
                    if got != data:
                        raise AssertionError(f"half-close: {first_difference(data, got)}")
                elif kind == "stall-reset":
                    harness.send_until_blocked(s, 64 * MIB, stall=0.2)
                    close_with_reset(s)
                elif kind == "vanish":
                    close_with_reset(s) if rng.random() < 0.5 else s.close()
                else:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    for _ in range(rng.randint(1, 200)):
                        s.send(bytes([rng.randrange(256)]))
                    close_with_reset(s)
            finally:
                s.close()

        def worker(seed):
            rng = random.Random(seed)
            try:
                while not stop.is_set():
                    one_client(rng)
            except Exception as e:
                errors.append(e)
                stop.set()
        threads = [threading.Thread(target=worker, args=(seed,), daemon=True) for seed in range(4)]
        for t in threads:
            t.start()
        bystander = self.client(self.d)
        started = time.monotonic()
        rounds = 0
        try:
            while time.monotonic() - started < 3 and not stop.is_set():
                msg = f"bystander {rounds}".encode()
                sent_at = time.monotonic()
                bystander.sendall(msg)
                self.assertEqual(recv_exactly(bystander, len(msg), sent_at + 2), msg)
                rounds += 1
                time.sleep(0.02)  # the bystander's pace
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        self.assertFalse(any(t.is_alive() for t in threads), "a client thread is stuck")
        self.assertEqual(errors, [], f"client kinds run: {counts}")
        self.assertGreater(sum(counts.values()), 20, counts)
        bystander.close()
        self.check_recovered(f"a random mix of clients {counts}")
        self.assert_clean_stop(self.d)


if __name__ == "__main__":
    harness.main()
