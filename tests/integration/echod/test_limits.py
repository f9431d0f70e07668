"""Limits: --max-connections (over the limit a connection is accepted and
closed at once, counted, and warned about at most once a second; served
connections are unaffected), --idle-timeout (no byte in either direction
for that long closes a connection, a stalled one included) and
--shutdown-timeout (the bound on the SIGINT/SIGTERM drain).

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_limits.py /path/to/echod
"""
import signal
import socket
import subprocess
import sys
import select
import threading
import time

import harness
from harness import (HINT, EchodTestCase, fd_count, fill_until_blocked, random_bytes, recv_exactly,
                     recv_until_closed, recv_until_eof, run_echod, send_queue, wait_until)

MIB = 1 << 20

# Added to every upper bound on a time: the tests also run under ASan, two
# at a time on two cores.
SLACK = 1.0
# The same for the moment an idle connection is closed: smaller than the
# idle timeouts below (1 s), so that a sweep late by a whole timeout fails.
CLOSE_SLACK = 0.8
# --idle-timeout for most tests, and its sweep tick (a tenth). Activity
# meant to keep a connection open comes at least 4 times as often: the tests
# share two cores with others.
IDLE = 1.0
TICK = IDLE / 10


def small_buffer_client(d):
    """A client with small kernel buffers and an Ethernet-sized MSS (with
    loopback's 64 KiB MSS echod's send buffer autotunes to megabytes): little
    data fills the way back, and echod's writes block."""
    s = socket.socket(d.family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1400)
    s.settimeout(10)
    s.connect((d.host, d.port))
    return s


def echod_side(d, s):
    """/proc/net/tcp row of echod's end of client s, or None."""
    port = s.getsockname()[1]
    rows = [r for r in harness.tcp_sockets(port) if r["local_port"] == d.port and r["remote_port"] == port]
    return rows[0] if rows else None


def refusal_warnings(d):
    """echod's warn lines about --max-connections (not the summary line)."""
    return [line for line in d.lines if "--max-connections" in line and "stopped:" not in line]


class CommandLine(EchodTestCase):
    # test_echod_cli.py predates these options; the unit tests cover their
    # parsing, this checks the binary's end of it once per option.
    def test_help_documents_the_limits(self):
        r = run_echod(self.binary, "--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        for option in ("--max-connections", "--idle-timeout", "--shutdown-timeout"):
            self.assertIn(option, r.stdout)

    def test_one_bad_value_per_option(self):
        for args, named in ((["--max-connections", "0"], "--max-connections"),
                            (["--idle-timeout", "soon"], "--idle-timeout"),
                            (["--shutdown-timeout", "3601"], "--shutdown-timeout")):
            with self.subTest(args=args):
                try:
                    r = run_echod(self.binary, "--port", "0", *args, timeout=5)
                except subprocess.TimeoutExpired:
                    self.fail(f"echod {args} started instead of failing")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                lines = r.stderr.splitlines()
                self.assertEqual(len(lines), 1, r.stderr)
                self.assertTrue(lines[0].startswith(f"echod: {named}: "), lines[0])
                self.assertTrue(lines[0].endswith(HINT), lines[0])


class MaxConnections(EchodTestCase):
    def served(self, d, tag):
        """A new connection that has echoed once (so echod holds it)."""
        s = self.client(d)
        msg = f"served {tag}".encode()
        s.sendall(msg)
        self.assertEqual(recv_exactly(s, len(msg), time.monotonic() + 10), msg)
        return s

    def assert_refused(self, d, send=b""):
        """A new connection is accepted by the kernel and then closed by
        echod at once (EOF or reset), without an echo. Returns seconds."""
        started = time.monotonic()
        with d.connect() as s:
            if send:
                try:
                    s.sendall(send)
                except (BrokenPipeError, ConnectionResetError):
                    return time.monotonic() - started
            try:
                outcome, dropped = recv_until_closed(s, time.monotonic() + 5)
            except TimeoutError:
                self.fail("a connection over --max-connections was left open for 5 s")
            self.assertEqual(dropped, 0, "a connection over the limit was echoed to")
        return time.monotonic() - started

    def test_over_the_limit_refused_served_unaffected(self):
        d = self.start("--max-connections", "3")
        base = fd_count(d.pid)
        held = [self.served(d, i) for i in range(3)]
        for i in range(5):
            elapsed = self.assert_refused(d, send=b"x" * 100 if i % 2 else b"")
            self.assertLess(elapsed, SLACK, f"the refusal took {elapsed:.2f} s")
        # The three served connections carry on, byte-exact.
        for i, s in enumerate(held):
            self.assert_echo(s, random_bytes(300_000, seed=i), timeout=20)
        # Refused sockets are closed: only the three held ones remain.
        wait_until(lambda: fd_count(d.pid) == base + 3, 10, "echod to hold exactly 3 connections")
        d.wait_for_line(r"warn: --max-connections 3 reached: refusing new connections \(1 refused so far\)")
        for s in held:
            s.close()
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b3 connections served\b")
        self.assertRegex(d.summary_line(), r"\b5 refused over --max-connections\b")

    def test_refusal_warning_is_rate_limited(self):
        d = self.start("--max-connections", "1")
        one = self.served(d, "the one")
        started = time.monotonic()
        for _ in range(50):
            self.assert_refused(d)
        burst = time.monotonic() - started
        # The 50th refusal is done when its client sees the close; its
        # warning, if any, is written before that.
        d.wait_for_line(r"--max-connections .*reached", timeout=5)
        # Rate-limited, not once only: a refusal more than a second after
        # the last warning is logged again. (A measured interval, not a wait
        # for a condition.)
        time.sleep(1.1)
        mark = len(d.lines)
        self.assert_refused(d)
        d.wait_for_line(r"--max-connections .*reached", timeout=5, start=mark)
        one.close()
        self.assert_clean_stop(d)  # every line is read once echod has exited
        warned = len(refusal_warnings(d))
        # One for the burst (two if it straddled a second boundary, one more
        # per further second it took), one for the late refusal.
        self.assertLessEqual(warned, 3 + int(burst), f"{warned} warnings, burst of 50 in {burst:.2f} s:\n"
                                                      + d.stderr_text())
        self.assertRegex(d.summary_line(), r"\b51 refused over --max-connections\b")

    def test_freed_slot_is_served_again(self):
        d = self.start("--max-connections", "2")
        a = self.served(d, "a")
        b = self.served(d, "b")
        self.assert_refused(d)
        a.close()

        # echod frees the slot when it has seen the close: until then a new
        # connection may still be refused.
        def one_served():
            s = d.connect()
            try:
                s.sendall(b"again")
                return recv_exactly(s, 5, time.monotonic() + 5) == b"again" and s
            except (EOFError, ConnectionResetError, BrokenPipeError):
                s.close()
                return False
        c = wait_until(one_served, 10, "a new connection to be served after one closed", interval=0.05)
        self.addCleanup(c.close)
        self.assert_echo(c, random_bytes(200_000, seed=7))
        self.assert_echo(b, random_bytes(200_000, seed=8))
        # b and c fill the limit again.
        self.assert_refused(d)
        c.close()
        b.close()
        self.assert_clean_stop(d)

    def test_limit_holds_under_a_concurrent_burst(self):
        # 40 connections at once against a limit of 10: exactly 10 are
        # served (and echo), 30 are closed; nobody hangs.
        d = self.start("--max-connections", "10")
        clients = [self.client(d) for _ in range(40)]
        served, refused = [], []
        for i, s in enumerate(clients):
            msg = f"client {i:02d}".encode()
            try:
                s.sendall(msg)
                got = recv_exactly(s, len(msg), time.monotonic() + 5)
                self.assertEqual(got, msg)
                served.append(s)
            except (EOFError, ConnectionResetError, BrokenPipeError):
                refused.append(s)
        self.assertEqual(len(served), 10, f"{len(served)} served, {len(refused)} refused")
        for i, s in enumerate(served):
            self.assert_echo(s, random_bytes(50_000, seed=100 + i))
        for s in clients:
            s.close()
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b30 refused over --max-connections\b")


class IdleTimeout(EchodTestCase):
    def closed_within(self, d, s, since, low, high):
        """s is closed by echod (EOF or reset) between low and high seconds
        after `since`."""
        try:
            recv_until_closed(s, since + high + 2)
        except TimeoutError:
            self.fail(f"not closed {high + 2:.1f} s after the last byte")
        elapsed = time.monotonic() - since
        self.assertGreaterEqual(elapsed, low, f"closed {elapsed:.3f} s after the last byte (timeout {low})")
        self.assertLessEqual(elapsed, high, f"closed {elapsed:.3f} s after the last byte (bound {high})")

    def test_idle_connections_are_closed_in_time(self):
        timeout, tick = IDLE, TICK
        d = self.start("--idle-timeout", str(timeout))
        base = fd_count(d.pid)
        silent = self.client(d)  # never sends: idle since it was accepted
        talked = self.client(d)
        self.assert_echo(talked, b"one round trip")
        last = time.monotonic()  # echod's last byte on `talked` moved before this
        self.closed_within(d, talked, last, timeout - 0.05, timeout + tick + CLOSE_SLACK)
        recv_until_closed(silent, time.monotonic() + 2)  # closed by now too
        wait_until(lambda: fd_count(d.pid) == base, 10, "fds back to baseline")
        # The listener is unaffected: new connections are served.
        self.assert_echoes(d)
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b2 closed idle\b")

    def test_very_short_timeout(self):
        # 50 ms: the tick is clamped to 10 ms.
        d = self.start("--idle-timeout", "0.05")
        s = self.client(d)
        self.assert_echo(s, b"x")
        self.closed_within(d, s, time.monotonic(), 0.03, 0.05 + 0.01 + CLOSE_SLACK)
        self.assert_clean_stop(d)

    def test_trickle_keeps_a_connection_open(self):
        # One byte every timeout/5, each echoed, for 2.5 times the timeout:
        # the connection survives; once the trickle stops it is closed.
        timeout = IDLE
        d = self.start("--idle-timeout", str(timeout))
        s = self.client(d)
        started = time.monotonic()
        i = 0
        while time.monotonic() - started < 2.5 * timeout:
            b = bytes([65 + i % 26])
            s.sendall(b)
            self.assertEqual(recv_exactly(s, 1, time.monotonic() + 5), b,
                             f"closed after {time.monotonic() - started:.2f} s of trickling")
            i += 1
            time.sleep(timeout / 5)  # the trickle's pace, not a wait for a condition
        self.assert_echo(s, random_bytes(100_000, seed=1))
        self.closed_within(d, s, time.monotonic(), timeout - 0.05, timeout + TICK + CLOSE_SLACK)
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b1 closed idle\b")

    def test_active_ones_survive_among_many_idle(self):
        # 40 connections trickle, 40 go idle, interleaved: the sweep closes
        # exactly the idle ones (activity keeps the list in order).
        timeout = IDLE
        d = self.start("--idle-timeout", str(timeout))
        base = fd_count(d.pid)
        active, idle = [], []
        for i in range(80):
            s = self.client(d)
            s.sendall(b"hi")
            self.assertEqual(recv_exactly(s, 2, time.monotonic() + 5), b"hi")
            (active if i % 2 else idle).append(s)
        started = time.monotonic()
        while time.monotonic() - started < 2.5 * timeout:
            for s in active:
                s.sendall(b".")
            for s in active:
                self.assertEqual(recv_exactly(s, 1, time.monotonic() + 5), b".")
            time.sleep(timeout / 10)  # the trickle's pace
        # The idle ones went long ago (2.5 s > timeout + tick); the active
        # ones were last touched a moment ago.
        wait_until(lambda: fd_count(d.pid) == base + len(active), 0.2,
                   f"echod to hold only the {len(active)} active connections "
                   f"(holds {fd_count(d.pid) - base})")
        for s in active:
            s.sendall(b"!")
        for s in active:
            self.assertEqual(recv_exactly(s, 1, time.monotonic() + 5), b"!")
        for s in idle:
            recv_until_closed(s, time.monotonic() + 2)
        for s in active:
            s.close()
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b40 closed idle\b")

    # "No byte in either direction": bytes moving one way only are activity.
    # (Liveness by echod's descriptor count: reading /proc/net/tcp can take
    # longer than a tick on a busy machine.)

    def test_bytes_coming_in_only_keep_it_open(self):
        # echod's writes are blocked (the client reads nothing) while the
        # client trickles bytes in, which echod reads into its ring.
        timeout = IDLE
        d = self.start("--idle-timeout", str(timeout), "--buffer-size", "1M")
        base = fd_count(d.pid)
        a = small_buffer_client(d)
        self.addCleanup(a.close)
        a.sendall(bytes(400 << 10))  # fits in the ring and the kernel buffers
        wait_until(lambda: send_queue(a) == 0, 5, "echod's end to take all of it")
        started = time.monotonic()
        while time.monotonic() - started < 2.5 * timeout:
            a.sendall(b"+")
            last = time.monotonic()  # the close is timed from the last byte in
            time.sleep(timeout / 5)  # the trickle's pace
            self.assertEqual(fd_count(d.pid), base + 1,
                            f"closed after {time.monotonic() - started:.2f} s while bytes came in")
        # The way back was blocked all along: echod holds unsent echo.
        self.assertGreater(echod_side(d, a)["tx_queue"], 0)
        wait_until(lambda: fd_count(d.pid) == base, timeout + TICK + CLOSE_SLACK + 2, "it to be closed")
        self.assertLessEqual(time.monotonic() - last, timeout + TICK + CLOSE_SLACK)
        a.close()
        self.assert_clean_stop(d)

    def test_bytes_going_out_only_keep_it_open(self):
        # The client sends nothing more while it reads the echo slowly but
        # steadily (64 KiB every timeout/5), which echod writes out of its
        # ring. A long write in flight makes progress all along.
        timeout = IDLE
        d = self.start("--idle-timeout", str(timeout), "--buffer-size", "1M")
        base = fd_count(d.pid)
        data = random_bytes(1 << 20, seed=9)
        b = small_buffer_client(d)
        self.addCleanup(b.close)
        b.sendall(data)  # fits: 1 MiB ring plus echod's send buffer
        # From here on nothing comes in: the client sends no more, and the
        # ring has room for what echod's kernel holds.
        wait_until(lambda: send_queue(b) == 0, 5, "echod's end to take all of it")
        got = bytearray()
        started = time.monotonic()
        while time.monotonic() - started < 2.5 * timeout:
            try:
                got += recv_exactly(b, 64 << 10, time.monotonic() + 5)
            except (EOFError, ConnectionResetError):
                self.fail(f"closed as idle after {time.monotonic() - started:.2f} s while echod wrote "
                          f"{len(got)} bytes out to a steady reader")
            self.assertEqual(fd_count(d.pid), base + 1, f"closed as idle after {time.monotonic() - started:.2f} s "
                                              f"while echod wrote {len(got)} bytes out to a steady reader")
            time.sleep(timeout / 5)  # the slow reader's pace
        self.assertEqual(bytes(got), data[:len(got)])
        b.close()
        self.assert_clean_stop(d)

    def test_stalled_connection_counts_as_idle(self):
        # The client writes without reading until everything is full: no
        # byte moves in either direction from then on, so the connection is
        # idle, although echod holds a full ring for it.
        timeout = IDLE
        d = self.start("--idle-timeout", str(timeout), "--buffer-size", "16K")
        base = fd_count(d.pid)
        s = self.client(d)
        fill_until_blocked(s, 16 << 10, stall=0.3)
        # The last byte moved at least 0.3 s ago (the stall the fill waited).
        stalled = time.monotonic()
        wait_until(lambda: fd_count(d.pid) == base, timeout + TICK + CLOSE_SLACK + 2,
                   "echod to close the stalled connection")
        self.assertLessEqual(time.monotonic() - stalled, timeout + TICK + CLOSE_SLACK)
        recv_until_closed(s, time.monotonic() + 5)  # the client learns too
        self.assert_echoes(d)
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b1 closed idle\b")

    def test_off_by_default(self):
        # Without --idle-timeout nothing is closed for being idle; the
        # summary has no idle count. (Kept short: 1.5 s of idleness.)
        d = self.start()
        s = self.client(d)
        self.assert_echo(s, b"x")
        time.sleep(1.5)  # the idleness under test
        self.assert_echo(s, b"still here")
        s.close()
        self.assert_clean_stop(d)
        self.assertNotIn("closed idle", d.summary_line())


class ShutdownTimeout(EchodTestCase):
    def test_short_drain_deadline(self):
        d = self.start("--shutdown-timeout", "0.5")
        stuck = self.client(d)
        fill_until_blocked(stuck, 64 << 10)  # never reads: cannot drain
        started = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(0.5 + SLACK + 5)
        elapsed = time.monotonic() - started
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertGreaterEqual(elapsed, 0.45, "echod did not wait for the drain")
        self.assertLess(elapsed, 0.5 + SLACK, f"exited {elapsed:.2f} s after SIGTERM")
        self.assertRegex(d.summary_line(), r"\b1 closed at the drain deadline\b")
        self.assert_no_sanitizer_report(d)

    def test_zero_drain_deadline(self):
        # 0: no wait at all. An idle client still gets an orderly EOF (its
        # end has nothing unread), the stuck one is cut off.
        d = self.start("--shutdown-timeout", "0")
        idle = self.client(d)
        self.assert_echo(idle, b"idle")
        stuck = self.client(d)
        fill_until_blocked(stuck, 64 << 10)
        started = time.monotonic()
        d.signal(signal.SIGINT)
        rc = d.wait(SLACK + 5)
        elapsed = time.monotonic() - started
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertLess(elapsed, 0.2 + SLACK, f"exited {elapsed:.2f} s after SIGINT")
        try:
            self.assertEqual(recv_until_eof(idle, time.monotonic() + 2), b"")
        except ConnectionResetError:
            self.fail("the idle connection was reset (expected FIN)")
        self.assertIn("stopped:", d.summary_line())
        self.assert_no_sanitizer_report(d)

    def test_zero_drain_deadline_without_connections(self):
        d = self.start("--shutdown-timeout", "0")
        self.assert_echoes(d)
        rc = d.stop(SLACK + 5)
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertIn("stopped:", d.summary_line())
        self.assert_no_sanitizer_report(d)

    def test_long_deadline_ends_when_peers_finish(self):
        # --shutdown-timeout 3600 does not keep echod up once the stuck
        # client starts reading, takes its echo and closes.
        d = self.start("--shutdown-timeout", "3600", "--buffer-size", "16K")
        s = self.client(d)
        sent = fill_until_blocked(s, 16 << 10)
        d.signal(signal.SIGTERM)
        d.wait_for_line(r"draining")
        try:
            got = recv_until_eof(s, time.monotonic() + 20, limit=sent)
        except ConnectionResetError:
            self.fail("reset during the drain (expected FIN)")
        self.assertGreater(len(got), 0)
        self.assertEqual(got, bytes(len(got)), "echo is not what was sent")
        s.close()
        rc = d.wait(10)
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertNotIn("drain deadline", d.summary_line())
        self.assert_no_sanitizer_report(d)


class BufferBudget(EchodTestCase):
    """--max-buffer-memory: the rings lent at once stay within the budget;
    the connections beyond it wait, not reading (TCP holds their peers
    back), and each gets a ring as one is returned: nothing lost."""

    PEERS = 50

    def test_fifty_unread_peers_fit_in_eight_rings_then_all_bytes_come_back(self):
        d = self.start("--buffer-size", "1MiB", "--max-buffer-memory", "8MiB")
        self.assert_echoes(d)
        # Small client receive buffers, and more bytes each than a ring,
        # echod's largest send buffer and that together hold: a peer with a
        # ring can never finish and give it back while no one reads, so
        # exactly 8 hold rings and the other 42 wait, on any machine.
        each = 4 * MIB + harness.tcp_buffer_max("tcp_wmem") + MIB
        peers = [d.connect(timeout=60, rcvbuf=16 << 10) for _ in range(self.PEERS)]
        # The baseline: every peer connected, each with one echo done (so
        # each connection's own cost is in it, and no ring is held).
        for s in peers:
            s.sendall(b"x")
            self.assertEqual(recv_exactly(s, 1, time.monotonic() + 10), b"x")
        base = harness.rss_kib(d.pid)
        # One random buffer; peer i sends it from byte i on, so no two
        # peers send the same bytes at the same offset.
        base_data = memoryview(random_bytes(each + self.PEERS, seed=7))
        data = [base_data[i:i + each] for i in range(self.PEERS)]
        sent = [0] * self.PEERS
        try:
            # Every peer writes without reading until its writes block.
            def fill(i):
                sent[i] = harness.send_until_blocked(peers[i], each, stall=0.5, data=data[i])

            threads = [threading.Thread(target=fill, args=(i,)) for i in range(self.PEERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            # Eight peers hold the eight rings (full: not reading); the other
            # 42 wait for one.
            d.wait_for_stats(rf"stats: 50 connections \(8 paused\), 8 rings in use, 0 pooled; .*"
                             rf"; ring budget 8MiB, {self.PEERS - 8} waiting for a ring", timeout=20)
            grown = harness.rss_kib(d.pid) - base
            if not harness.skip_under_wrapper(self, "RSS within the budget"):
                # 8 rings of 1 MiB and 1 MiB of slack (under ASan, plus the
                # rings' shadow: an eighth).
                rings = 8 * 1024 * (9 / 8 if harness.sanitized(d.pid) else 1)
                self.assertLess(grown, rings + 1024, f"RSS grew {grown} KiB")

            # Now every peer reads: all its bytes come back, in order.
            errors = []

            def finish(i):
                # One thread per peer, sending the rest and reading
                # everything back through one select() loop: neither
                # direction waits on the other, and no socket timeout is
                # shared between threads.
                s = peers[i]
                s.setblocking(False)
                rest = data[i][sent[i]:]
                got = bytearray()
                deadline = time.monotonic() + 120
                try:
                    while len(got) < each:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise TimeoutError(f"{len(got)} of {each} bytes back, {len(rest)} unsent")
                        readable, writable, _ = select.select([s], [s] if rest else [], [], min(left, 1.0))
                        if writable:
                            try:
                                rest = rest[s.send(rest[:1 << 20]):]
                            except BlockingIOError:
                                pass
                        if readable:
                            chunk = s.recv(1 << 20)
                            if not chunk:
                                raise EOFError(f"EOF after {len(got)} of {each} bytes")
                            got += chunk
                    if got != data[i]:
                        errors.append(f"peer {i}: bytes differ at {harness.first_difference(bytes(got), bytes(data[i]))}")
                except Exception as e:  # reported below
                    errors.append(f"peer {i}: {e!r}")

            threads = [threading.Thread(target=finish, args=(i,)) for i in range(self.PEERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(150)
            if errors:
                print(d.wait_for_stats("stats:"), file=sys.stderr)
            self.assertEqual(errors, [])
        finally:
            for s in peers:
                s.close()
        d.wait_for_stats(r"stats: 0 connections", timeout=20)
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
