"""Faults on purpose (--fault, --fault-share, --fault-seed): echod as the
misbehaving peer a client must survive. slice, delay and rate change the
timing of the echo, never its bytes; close, reset and stall end the
conversation after SIZE echoed bytes (FIN, RST, silence); drop and delay
apply to UDP; share and seed pick the same connections again; the
`faults on:` line, the counters, and one line for every bad spec.

Times are checked only from below (an echo held back for 0.2 s cannot come
back sooner, however loaded the machine), or with generous upper bounds;
the rest are counts, which do not depend on timing.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_faults_on_purpose.py /path/to/echod

echobench is taken from beside echod (the same build directory).
"""
import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

import harness
from harness import (HINT, EchodTestCase, close_with_reset, data_segments_in, echo_roundtrip, echobench_beside,
                     fd_count, fill_until_blocked, first_difference, metrics, random_bytes, recv_exactly,
                     recv_to_the_end, recv_until_closed, recv_until_eof, run_echobench, tcp_sockets, wait_until)

KIB = 1 << 10
FAULT_NAMES = ("slice", "delay", "rate", "close", "reset", "stall", "drop")
FAULTS_LINE = re.compile(r"faults on: ")


def faults_line(d):
    """echod's `faults on:` line (AssertionError when there is none)."""
    lines = [line for line in d.lines if FAULTS_LINE.search(line)]
    if len(lines) != 1:
        raise AssertionError(f"{len(lines)} 'faults on:' lines:\n{d.stderr_text()}")
    return lines[0]


def fault_counter(name):
    return f'echod_faults_total{{fault="{name}"}}'


class FaultTestCase(EchodTestCase):
    """Tests close their clients before assert_clean_stop: an open
    connection would hold echod's drain for --shutdown-timeout (5 s)."""

    def with_metrics(self, *args):
        """echod with args and a metrics file rewritten every 0.2 s; returns
        (echod, the file's path) once the file exists."""
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        path = os.path.join(tmp.name, "echod.prom")
        d = self.start("--metrics-file", path, "--stats-interval", "0.2", *args)
        wait_until(lambda: os.path.exists(path), 10, "the metrics file")
        return d, path

    def wait_for_metric(self, path, series, value, timeout=10):
        """Waits until the metrics file says series == value; returns all."""
        wait_until(lambda: metrics(path).get(series) == value, timeout,
                   f"{series} == {value} in the metrics file (last: {metrics(path).get(series)})")
        return metrics(path)


class Slice(FaultTestCase):
    def test_writes_of_at_most_size_pause_apart(self):
        # A pause of 0.1 s: the reader would have to be kept off the CPU for
        # that long to see two writes in one read.
        d = self.start("--fault", "slice=3,pause=0.1")
        s = self.client(d)
        data = bytes(range(ord("A"), ord("A") + 30))
        segments_before = data_segments_in(s)
        sizes = []
        got = b""
        started = time.monotonic()
        s.sendall(data)
        deadline = started + 20
        while len(got) < len(data):  # a prompt reader: blocked in recv when each write arrives
            s.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = s.recv(1024)
            if not chunk:
                self.fail(f"EOF after {len(got)} bytes")
            sizes.append(len(chunk))
            got += chunk
        elapsed = time.monotonic() - started
        self.assertEqual(got, data)
        # Deterministic: 30 bytes in writes of at most 3 bytes are at least
        # 10 segments on the wire, however the reads merged them.
        segments = data_segments_in(s) - segments_before
        self.assertGreaterEqual(segments, 10, f"30 bytes came in {segments} segments")
        self.assertLessEqual(max(sizes), 3, f"read sizes {sizes}")
        # 10 writes, 9 pauses of 0.1 s between them.
        self.assertGreaterEqual(elapsed, 9 * 0.1, f"30 bytes echoed in {elapsed:.3f} s")
        s.close()
        # One read of 30 bytes: 9 writes cut short by the slice, the 10th not.
        d.signal(signal.SIGUSR1)
        d.wait_for_line(r"; faults: 1 connections, slice 9, delay 0, rate 0, close 0, reset 0, stall 0, drop 0\b")
        self.assert_clean_stop(d)

    def test_the_readme_example_naive_client_gets_part_recvall_gets_all(self):
        d = self.start("--fault", "slice=1,pause=0.1")
        # The tutorial's client: one send, one recv(1024).
        with d.connect() as s:
            s.sendall(b"hello")
            reply = s.recv(1024)
        self.assertGreaterEqual(len(reply), 1)
        self.assertLess(len(reply), 5, f"the naive client got {reply!r} whole")
        self.assertTrue(b"hello".startswith(reply), reply)
        # The fixed one loops until it has every byte.
        with d.connect() as s:
            s.sendall(b"hello")
            self.assertEqual(recv_exactly(s, 5, time.monotonic() + 10), b"hello")
        self.assert_clean_stop(d)

    def test_a_large_echo_through_a_slice_is_unchanged(self):
        d = self.start("--fault", "slice=1000", "--buffer-size", "16K")
        s = self.client(d, timeout=30)
        self.assert_echo(s, random_bytes(1 << 20, seed=12), timeout=30)
        s.close()
        self.assert_clean_stop(d)


class Delay(FaultTestCase):
    def test_round_trip_at_least_the_delay(self):
        d = self.start("--fault", "delay=0.2")
        s = self.client(d)
        for message in (b"first", b"second read of the same connection"):
            started = time.monotonic()
            s.sendall(message)
            self.assertEqual(recv_exactly(s, len(message), started + 10), message)
            elapsed = time.monotonic() - started
            self.assertGreaterEqual(elapsed, 0.2, f"{message!r} echoed after {elapsed:.4f} s")
        s.close()
        self.assert_clean_stop(d)

    def test_jitter_keeps_the_lower_bound_and_the_order(self):
        d = self.start("--fault", "delay=0.2,jitter=0.1")
        s = self.client(d)
        messages = [f"message {i};".encode() * (i + 1) for i in range(8)]
        arrivals = []  # (time recv returned, bytes received so far)
        errors = []
        total = sum(map(len, messages))

        def reader():
            got = 0
            try:
                deadline = time.monotonic() + 20
                while got < total:
                    s.settimeout(max(0.01, deadline - time.monotonic()))
                    chunk = s.recv(1 << 16)
                    if not chunk:
                        raise EOFError(f"EOF after {got} bytes")
                    got += len(chunk)
                    arrivals.append((time.monotonic(), chunk))
            except Exception as e:
                errors.append(e)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        sent = []  # (time before the send, offset of the message's first byte)
        offset = 0
        for message in messages:  # pipelined: several in flight at once
            sent.append((time.monotonic(), offset))
            s.sendall(message)
            offset += len(message)
            time.sleep(0.02)  # separate reads, so separate jitter draws (likely, not needed)
        t.join(30)
        self.assertFalse(t.is_alive(), "the reader is still waiting")
        self.assertFalse(errors, errors)
        self.assertEqual(b"".join(chunk for _, chunk in arrivals), b"".join(messages))
        # Each message's first byte came back no sooner than 0.2 - 0.1 s
        # after it was sent (recv returned after the byte arrived).
        for sent_at, first in sent:
            received = 0
            for when, chunk in arrivals:
                if received + len(chunk) > first:
                    self.assertGreaterEqual(when - sent_at, 0.1,
                                            f"byte {first} echoed {when - sent_at:.4f} s after it was sent")
                    break
                received += len(chunk)
        s.close()
        self.assert_clean_stop(d)


    def test_the_drain_still_delays(self):
        # Bytes held back when SIGTERM comes are still echoed, no sooner
        # than the delay, before echod exits.
        d = self.start("--fault", "delay=0.5")
        s = self.client(d)
        started = time.monotonic()
        s.sendall(b"held back")

        def read_by_echod():  # nothing left in echod's receive queue
            rows = [r for r in tcp_sockets(s.getsockname()[1]) if r["local_port"] == d.port]
            return rows and rows[0]["rx_queue"] == 0
        wait_until(read_by_echod, 5, "echod to read the message")
        d.signal(signal.SIGTERM)
        self.assertEqual(recv_exactly(s, 9, started + 10), b"held back")
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        s.close()  # the drain ends with the last connection (a second SIGTERM would cut it short)
        self.assertEqual(d.wait(10 * harness.WRAPPER_SLOWDOWN), 0, d.stderr_text())
        self.assert_no_sanitizer_report(d)
        self.assertIn("stopped: 1 connections served, 9 bytes echoed", d.stderr_text())
        self.assertNotIn("drain deadline", d.stderr_text())


class Rate(FaultTestCase):
    def test_bytes_per_second_within_a_quarter_of_the_cap(self):
        cap = 100 * KIB
        d = self.start("--fault", "rate=100KiB")
        s = self.client(d, timeout=15)
        data = random_bytes(400 * KIB, seed=4)
        started = time.monotonic()
        # A writer thread sends while this thread reads; about 4 s at the
        # cap, 12 s at most.
        got = echo_roundtrip(s, data, timeout=12)
        elapsed = time.monotonic() - started
        diff = first_difference(data, got)
        self.assertIsNone(diff, diff)
        rate = len(data) / elapsed
        self.assertGreaterEqual(rate, 0.75 * cap, f"{rate:.0f} B/s over {elapsed:.2f} s, cap {cap}")
        self.assertLessEqual(rate, 1.25 * cap, f"{rate:.0f} B/s over {elapsed:.2f} s, cap {cap}")
        s.close()
        self.assert_clean_stop(d)


class Bounded(FaultTestCase):
    def test_held_back_bytes_stay_in_the_ring(self):
        # A client that writes without reading: bytes held back by a fault
        # fill the ring, and a full ring stops reading as always, so the
        # client's writes block (fill_until_blocked fails if they never do).
        for spec in ("delay=5", "rate=1K", "slice=1,pause=1"):
            with self.subTest(spec=spec):
                d = self.start("--fault", spec, "--buffer-size", "64K")
                s = d.connect()
                try:
                    fill_until_blocked(s, 64 << 10)
                finally:
                    close_with_reset(s)  # no drain waiting for it
                self.assert_clean_stop(d)

    def test_a_peer_that_resets_while_bytes_are_held_back_is_noticed(self):
        # The peer resets while echod holds its bytes back for 30 s: with a
        # little held back (echod still reading) and with the ring full
        # (echod not reading, no write pending). Either way its connection
        # and descriptor are given back within about a second (3 s here),
        # not when the fault's timer fires, 30 s later.
        for spec in ("delay=30", "slice=1,pause=30", "rate=1"):
            for full in (False, True):
                with self.subTest(spec=spec, ring="full" if full else "not full"):
                    d = self.start("--fault", spec, "--buffer-size", "64K")
                    base = fd_count(d.pid)
                    s = d.connect()
                    try:
                        if full:
                            fill_until_blocked(s, 64 << 10)
                        else:
                            s.sendall(b"x" * 1000)
                            wait_until(lambda: fd_count(d.pid) == base + 1, 5, "echod to accept")
                    finally:
                        close_with_reset(s)
                    # 3 s: a peer check is due every 0.25 s (longer under valgrind).
                    wait_until(lambda: fd_count(d.pid) == base, 3 * harness.WRAPPER_SLOWDOWN,
                               f"echod to notice the reset ({fd_count(d.pid) - base} connection(s) left)")
                    self.assert_clean_stop(d)


    def test_data_and_reset_together_are_noticed(self):
        # The bytes and the RST in one go: libuv often reports the pair as
        # bytes, then EOF (POLLHUP after a partial read), and the reset is
        # then only in TCP's state. Twenty times: the old code missed about
        # half of them until the 30 s delay ran out.
        d = self.start("--fault", "delay=30")
        base = fd_count(d.pid)
        for i in range(20):
            s = d.connect()
            s.sendall(b"x" * 1000)
            close_with_reset(s)
            wait_until(lambda: fd_count(d.pid) == base, 3 * harness.WRAPPER_SLOWDOWN,
                       f"echod to notice reset {i + 1} ({fd_count(d.pid) - base} connection(s) left)")
        self.assert_clean_stop(d)


class Combined(FaultTestCase):
    def test_slice_delay_rate_together_leave_the_bytes_unchanged(self):
        d = self.start("--fault", "slice=7,pause=0.001", "--fault", "delay=0.002,jitter=0.001",
                       "--fault", "rate=1MiB")
        s = self.client(d, timeout=30)
        # 5000 bytes in writes of 7, 1 ms apart: about 0.7 s.
        self.assert_echo(s, random_bytes(5000, seed=9), timeout=30, max_fragment=300)
        s.close()
        self.assert_clean_stop(d)

    def test_the_later_of_two_same_faults_wins(self):
        d = self.start("--fault", "close=0", "--fault", "close=3")
        s = self.client(d)
        s.sendall(b"0123456789")
        self.assertEqual(recv_until_eof(s, time.monotonic() + 10, limit=10), b"012")
        s.close()
        self.assert_clean_stop(d)


class EndAfterSize(FaultTestCase):
    def test_close_delivers_exactly_size_then_eof(self):
        d = self.start("--fault", "close=1000")
        base = fd_count(d.pid)
        s = self.client(d)
        data = random_bytes(5000, seed=5)
        s.sendall(data)
        # recv_until_eof raises ConnectionResetError on a reset: never here.
        got = recv_until_eof(s, time.monotonic() + 10, limit=len(data))
        self.assertEqual(len(got), 1000)
        self.assertEqual(got, data[:1000])
        s.close()
        wait_until(lambda: fd_count(d.pid) == base, 10, "echod to close the connection")
        self.assert_clean_stop(d)

    def test_close_cuts_a_large_stream_at_size(self):
        # Much more than one read: the cut falls inside a write, and echod
        # keeps reading (and discarding) what the client still sends, so the
        # client's end sees EOF, not RST.
        d = self.start("--fault", "close=100000", "--buffer-size", "16K")
        s = self.client(d, timeout=20)
        data = random_bytes(1 << 20, seed=6)
        writer = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        writer.start()
        got = recv_until_eof(s, time.monotonic() + 20, limit=len(data))
        writer.join(20)
        self.assertFalse(writer.is_alive(), "echod stopped reading after its FIN")
        self.assertEqual(len(got), 100000)
        self.assertEqual(got, data[:100000])
        s.close()
        self.assert_clean_stop(d)

    def test_reset_delivers_at_most_size_then_econnreset(self):
        d = self.start("--fault", "reset=1000")
        s = self.client(d)
        data = random_bytes(5000, seed=7)
        s.sendall(data)
        how, got = recv_to_the_end(s, time.monotonic() + 10, limit=len(data))
        self.assertEqual(how, "reset", f"{how} after {len(got)} bytes")
        self.assertLessEqual(len(got), 1000)  # an RST may discard unread bytes
        self.assertEqual(got, data[:len(got)])
        s.close()
        self.assert_clean_stop(d)

    def test_stall_delivers_size_then_silence_with_the_connection_open(self):
        d, path = self.with_metrics("--fault", "stall=1000")
        s = self.client(d)
        data = random_bytes(5000, seed=8)
        s.sendall(data)
        self.assertEqual(recv_exactly(s, 1000, time.monotonic() + 10), data[:1000])
        s.settimeout(1.0)
        try:
            more = s.recv(1024)
        except TimeoutError:
            more = None  # nothing for 1 s: the stall
        self.assertIsNone(more, f"after the stall: {more!r} (b'' is EOF)")
        # Still open on echod's side, and counted as a connection.
        rows = [r for r in tcp_sockets(s.getsockname()[1]) if r["local_port"] == d.port]
        self.assertEqual([r["state"] for r in rows], ["ESTABLISHED"], rows)
        self.wait_for_metric(path, "echod_connections", 1)
        # The client gives up: echod notices (within about a second).
        s.close()
        m = self.wait_for_metric(path, "echod_connections", 0, timeout=5)
        self.assertEqual(m[fault_counter("stall")], 1)
        self.assert_clean_stop(d)

    def test_stall_ends_at_the_idle_timeout(self):
        d = self.start("--fault", "stall=1000", "--idle-timeout", "0.5")
        s = self.client(d)
        s.sendall(random_bytes(5000, seed=9))
        recv_exactly(s, 1000, time.monotonic() + 10)
        # Closed by echod well before 5 s; RST or FIN (it closes with
        # unread input, which the kernel answers with RST).
        how, dropped = recv_until_closed(s, time.monotonic() + 5)
        self.assertEqual(dropped, 0, f"{dropped} bytes after the stall")
        self.assertIn(how, ("eof", "reset"))
        s.close()
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b1 closed idle\b")

    def test_sigterm_does_not_wait_for_a_stalled_connection(self):
        d = self.start("-v", "--fault", "stall=0", "--shutdown-timeout", "60")
        s = self.client(d)
        s.sendall(b"x")
        d.wait_for_line(r"accepted ")
        started = time.monotonic()
        try:
            rc = d.stop(timeout=10)
        except subprocess.TimeoutExpired:
            self.fail("echod still draining a stalled connection 10 s after SIGTERM")
        self.assertEqual(rc, 0, d.stderr_text())
        self.assertLess(time.monotonic() - started, 10 * harness.WRAPPER_SLOWDOWN)
        self.assert_no_sanitizer_report(d)


class ShareAndSeed(FaultTestCase):
    CONNECTIONS = 24

    def pattern(self, seed):
        """Which of 24 connections, one after another, a close=0 fault hit
        under --fault-share 0.5 and this seed, as a string of 0s and 1s."""
        d = self.start("--fault", "close=0", "--fault-share", "0.5", "--fault-seed", str(seed))
        self.assertRegex(faults_line(d), rf"\bshare 0\.5\b.*\bseed {seed}\b")
        bits = ""
        for _ in range(self.CONNECTIONS):
            with d.connect() as s:
                s.sendall(b"x")
                reply = s.recv(16)  # b"x" echoed, or b"" (EOF) from the fault
                self.assertIn(reply, (b"", b"x"))
                bits += "1" if reply == b"" else "0"
        self.assert_clean_stop(d)
        return bits

    def test_the_same_seed_faults_the_same_connections(self):
        first = self.pattern(42)
        self.assertNotIn(first, ("0" * self.CONNECTIONS, "1" * self.CONNECTIONS))
        self.assertEqual(self.pattern(42), first)
        # Deterministic too: a fixed fact of the generator, not a chance.
        self.assertNotEqual(self.pattern(43), first)


class AgainstEchobench(FaultTestCase):
    def echobench_json(self, d, *args, timeout=30):
        started = time.monotonic()
        r = run_echobench(echobench_beside(self.binary), "-H", d.host, "-p", d.port, "--json", *args,
                          timeout=timeout)
        elapsed = time.monotonic() - started
        try:
            doc = json.loads(r.stdout)
        except ValueError:
            raise AssertionError(f"echobench printed no JSON (exit {r.returncode}): {r.stdout!r} {r.stderr!r}")
        return r, doc, elapsed

    def test_slice_delay_rate_pass_verification(self):
        d = self.start("--fault", "slice=7,pause=0.001", "--fault", "delay=0.002,jitter=0.001",
                       "--fault", "rate=1MiB")
        r, doc, _ = self.echobench_json(d, "-c", 4, "-P", 4, "-d", 2, "--warmup", 0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(doc["errors"]["mismatch"], 0, doc["errors"])
        self.assertEqual(doc["errors"]["broken"], 0, doc["errors"])
        self.assertGreater(doc["messages"], 0)
        self.assert_clean_stop(d)

    def test_close_reset_stall_are_broken_or_timed_out_never_mismatched(self):
        # 1000 bytes is 15 messages of 64 and part of the 16th: a message
        # cut short must count as broken (or timed out), not as wrong bytes.
        for spec, kind in (("close=1000", "broken"), ("reset=1000", "broken"), ("stall=1000", "timeout")):
            with self.subTest(spec=spec):
                d = self.start("--fault", spec)
                r, doc, elapsed = self.echobench_json(d, "-c", 2, "-d", 1, "--warmup", 0, "--timeout", 0.5)
                self.assertEqual(r.returncode, 1, r.stderr)
                errors = doc["errors"]
                self.assertEqual(errors["mismatch"], 0, errors)
                self.assertEqual(errors[kind], 2, errors)  # each of the 2 connections, once
                self.assertEqual(errors["connect"], 0, errors)
                self.assertGreater(doc["messages"], 0)
                self.assertLess(elapsed, 20)
                self.assert_clean_stop(d)


class Honest(FaultTestCase):
    def test_faults_line_at_quiet_levels_with_specs_and_seed(self):
        for level in (["-q"], ["--log-level", "error"]):
            with self.subTest(level=level):
                d = self.start(*level, "--fault", "slice=3,pause=0.05", "--fault", "delay=0.01",
                               "--fault-seed", "42")
                line = faults_line(d)
                self.assertIn("warn", line)
                self.assertRegex(line, r"faults on: .*slice=3,pause=0\.05.*delay=0\.01")
                self.assertRegex(line, r"\bseed 42\b")
                # Before the ready line, which is unchanged (the harness
                # found the port by its pattern).
                self.assertLess(d.lines.index(line), d.lines.index(d.ready_line))
                self.assertRegex(d.ready_line, rf"listening on 127\.0\.0\.1:{d.port} \(")
                self.assert_echoes(d)
                self.assert_clean_stop(d)

    def test_a_seed_drawn_at_start_is_logged(self):
        d = self.start("--fault", "delay=0")
        self.assertRegex(faults_line(d), r"\bseed \d+\b")
        self.assert_clean_stop(d)

    def test_no_faults_line_without_fault(self):
        for args in ([], ["-v"], ["--fault-share", "0.5", "--fault-seed", "1"]):
            with self.subTest(args=args):
                d = self.start(*args)
                self.assert_echoes(d)
                self.assert_clean_stop(d)
                self.assertFalse([line for line in d.lines if "fault" in line], d.stderr_text())

    def test_faults_from_a_config_file_and_the_command_line_replacing_them(self):
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "echod.conf")
            with open(conf, "w") as f:
                f.write("fault = slice=7,pause=0.001\nfault = close=3\nfault-share = 1\nfault-seed = 42\n")
            d = self.start("--config", conf)
            line = faults_line(d)
            self.assertIn("slice=7,pause=0.001", line)
            self.assertIn("close=3", line)
            self.assertRegex(line, r"\(share 1, seed 42\)")
            s = self.client(d)
            s.sendall(b"0123456789")
            self.assertEqual(recv_until_eof(s, time.monotonic() + 10, limit=10), b"012")
            s.close()
            self.assert_clean_stop(d)
            # The first --fault replaces the file's faults.
            d = self.start("--config", conf, "--fault", "delay=0")
            line = faults_line(d)
            self.assertIn("delay=0", line)
            self.assertNotIn("slice", line)
            self.assertNotIn("close", line)
            self.assert_echoes(d, b"0123456789")
            self.assert_clean_stop(d)


class Counters(FaultTestCase):
    def test_counted_in_metrics_and_stats_line(self):
        d, path = self.with_metrics("--fault", "close=100", "--fault-share", "0.5", "--fault-seed", "42")
        data = random_bytes(300, seed=10)
        closed = 0
        for _ in range(12):
            with d.connect() as s:
                s.sendall(data)
                got = recv_exactly(s, 100, time.monotonic() + 10)
                rest = s.recv(1024)
                if rest == b"":  # the fault: 100 bytes, then EOF
                    closed += 1
                else:  # the whole echo
                    got += rest + recv_exactly(s, 200 - len(rest), time.monotonic() + 10)
                self.assertEqual(got, data[:len(got)])
        self.assertGreater(closed, 0)
        self.assertLess(closed, 12)
        m = self.wait_for_metric(path, fault_counter("close"), closed)
        self.assertEqual(m["echod_fault_connections_total"], closed)
        for name in FAULT_NAMES:
            if name != "close":
                self.assertEqual(m[fault_counter(name)], 0, name)
        self.wait_for_metric(path, "echod_connections", 0)
        start = len(d.lines)
        d.signal(signal.SIGUSR1)
        d.wait_for_line(rf"stats: .*; faults: {closed} connections, slice 0, delay 0, rate 0, close {closed}, "
                        r"reset 0, stall 0, drop 0(;|$)", start=start)
        self.assert_clean_stop(d)

    def test_counters_present_and_zero_without_faults(self):
        d, path = self.with_metrics()
        self.assert_echoes(d)
        m = metrics(path)
        for name in FAULT_NAMES:
            self.assertEqual(m.get(fault_counter(name)), 0, name)
        self.assertEqual(m.get("echod_fault_connections_total"), 0)
        start = len(d.lines)
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ", start=start)
        self.assertNotIn("faults", line)
        self.assert_clean_stop(d)


class BadSpecs(FaultTestCase):
    # (arguments, parts the one line must contain)
    CASES = [
        (["--fault", "bogus=1"], ["'bogus=1'", "unknown fault"]),
        (["--fault", "slice"], ["'slice'"]),
        (["--fault", "slice="], ["'slice='"]),
        (["--fault", "slice=0"], ["'slice=0'"]),
        (["--fault", "slice=257MiB"], ["'slice=257MiB'"]),
        (["--fault", "slice=99999999999999999999"], ["'slice=99999999999999999999'"]),
        (["--fault", "slice=1,pause=x"], ["'slice=1,pause=x'"]),
        (["--fault", "slice=1,pause=61"], ["'slice=1,pause=61'"]),
        (["--fault", "slice=1,pause=-1"], ["'slice=1,pause=-1'"]),
        (["--fault", "slice=1,bogus=1"], ["'slice=1,bogus=1'"]),
        (["--fault", "slice=1,jitter=1"], ["'slice=1,jitter=1'"]),
        (["--fault", "delay=-1"], ["'delay=-1'"]),
        (["--fault", "delay=x"], ["'delay=x'"]),
        (["--fault", "delay=0.1,jitter=-1"], ["'delay=0.1,jitter=-1'"]),
        (["--fault", "rate=0"], ["'rate=0'"]),
        (["--fault", "close=-1"], ["'close=-1'"]),
        (["--fault", "stall=x"], ["'stall=x'"]),
        (["--fault", "close=5", "--fault", "reset=5"], ["'close=5'", "'reset=5'"]),
        (["--fault", "stall=5", "--fault", "close=5"], ["'stall=5'", "'close=5'"]),
        (["--fault", "drop=0.1"], ["'drop=0.1'", "--udp"]),
        (["--udp", "--fault", "drop=1.5"], ["'drop=1.5'"]),
        (["--udp", "--fault", "drop=-0.1"], ["'drop=-0.1'"]),
        (["--fault", "slice=1\x01"], ["'slice=1\\x01'"]),
        (["--fault", ""], ["--fault"]),
        (["--fault"], ["--fault"]),
        (["--fault", "slice=1", "--fault-share", "0"], ["--fault-share", "0"]),
        (["--fault", "slice=1", "--fault-share", "1.5"], ["--fault-share", "1.5"]),
        (["--fault", "slice=1", "--fault-share", "x"], ["--fault-share", "x"]),
        (["--fault", "slice=1", "--fault-seed", "x"], ["--fault-seed", "x"]),
        (["--fault", "slice=1", "--fault-seed", "-1"], ["--fault-seed", "-1"]),
        (["--fault", "slice=1", "--fault-seed", "18446744073709551616"], ["--fault-seed", "18446744073709551616"]),
    ]

    def test_each_bad_spec_is_one_line_exit_2(self):
        for args, parts in self.CASES:
            with self.subTest(args=args):
                line = self.assert_one_line_error(args, 2, *parts)
                self.assertTrue(line.startswith("echod: --fault"), line)
                self.assertTrue(line.endswith(HINT), line)
                self.assertNotIn("\x01", line)  # control bytes are shown escaped

    def test_bad_faults_in_a_config_file_name_the_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "echod.conf")
            for text, number, parts in (("fault = bogus=1\n", 1, ["'bogus=1'"]),
                                        ("port = 0\nfault = slice=0\n", 2, ["'slice=0'"]),
                                        ("fault = close=5\nfault = reset=5\n", 2, ["'close=5'", "'reset=5'"]),
                                        ("fault-share = 2\n", 1, ["fault-share", "2"]),
                                        ("fault-seed = x\n", 1, ["fault-seed", "x"])):
                with self.subTest(text=text):
                    with open(conf, "w") as f:
                        f.write(text)
                    line = self.assert_one_line_error(["--config", conf], 2, *parts)
                    self.assertTrue(line.startswith(f"echod: {conf}:{number}: fault"), line)
                    self.assertTrue(line.endswith(HINT), line)
            with open(conf, "wb") as f:
                f.write(b"fault = slice=1\0\n")
            self.assert_one_line_error(["--config", conf], 2, f"{conf}:1: a NUL byte")

    def test_values_at_the_edges_are_accepted(self):
        for args in (["--fault", "slice=1"], ["--fault", "slice=256MiB,pause=60"], ["--fault", "slice=2,pause=0"],
                     ["--fault", "delay=0,jitter=0"], ["--fault", "delay=3600,jitter=3600"],
                     ["--fault", "rate=1"], ["--fault", "rate=1K"], ["--fault", "close=0"],
                     ["--fault", "reset=0"], ["--fault", "stall=0"],
                     ["--udp", "--fault", "drop=0"], ["--udp", "--fault", "drop=1"],
                     ["--fault", "slice=1", "--fault-share", "1"], ["--fault", "slice=1", "--fault-share", "0.001"],
                     ["--fault", "slice=1", "--fault-seed", "0"],
                     ["--fault", "slice=1", "--fault-seed", "18446744073709551615"]):
            with self.subTest(args=args):
                d = self.start(*args)
                faults_line(d)
                self.assert_clean_stop(d)


class Udp(FaultTestCase):
    def udp_socket(self, d):
        s = socket.socket(d.family, socket.SOCK_DGRAM)
        self.addCleanup(s.close)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        return s

    def test_drop_1_drops_every_datagram_and_counts_it(self):
        d, path = self.with_metrics("--udp", "--fault", "drop=1")
        s = self.udp_socket(d)
        for i in range(5):
            s.sendto(f"datagram {i}".encode(), (d.host, d.port))
        s.settimeout(0.5)
        with self.assertRaises(TimeoutError):
            s.recvfrom(1 << 16)
        m = self.wait_for_metric(path, fault_counter("drop"), 5)
        self.assertEqual(m["echod_udp_received_datagrams_total"], 5)
        self.assertEqual(m["echod_udp_sent_datagrams_total"], 0)
        # TCP is not touched by drop.
        self.assert_echoes(d)
        self.assert_clean_stop(d)

    def test_drop_0_drops_nothing(self):
        d, path = self.with_metrics("--udp", "--fault", "drop=0")
        s = self.udp_socket(d)
        s.settimeout(10)
        for i in range(20):
            payload = f"datagram {i}".encode()
            s.sendto(payload, (d.host, d.port))
            self.assertEqual(s.recvfrom(1 << 16)[0], payload)
        m = self.wait_for_metric(path, "echod_udp_sent_datagrams_total", 20)
        self.assertEqual(m[fault_counter("drop")], 0)
        self.assert_clean_stop(d)

    def test_delayed_datagrams_wait_in_a_bounded_queue(self):
        # At most --buffer-size bytes wait: of 30 datagrams of 1000 bytes
        # sent at once, the first 16 (16000 bytes of 16 KiB) come back in
        # order after the delay; the other 14 are dropped and counted.
        d, path = self.with_metrics("--udp", "--fault", "delay=1", "--buffer-size", "16K")
        s = self.udp_socket(d)
        for i in range(30):
            s.sendto(bytes([i]) * 1000, (d.host, d.port))
        s.settimeout(10)
        got = [s.recvfrom(2000)[0] for _ in range(16)]
        self.assertEqual(got, [bytes([i]) * 1000 for i in range(16)])
        s.settimeout(0.5)
        with self.assertRaises(TimeoutError):
            s.recvfrom(2000)
        m = self.wait_for_metric(path, "echod_udp_dropped_datagrams_total", 14)
        self.assertEqual(m["echod_udp_sent_datagrams_total"], 16)
        self.assertEqual(m["echod_udp_received_datagrams_total"], 30)
        self.assert_clean_stop(d)

    def test_delay_holds_a_datagram_back(self):
        d = self.start("--udp", "--fault", "delay=0.2")
        s = self.udp_socket(d)
        s.settimeout(10)
        for payload in (b"late", random_bytes(1400, seed=11)):
            started = time.monotonic()
            s.sendto(payload, (d.host, d.port))
            data, sender = s.recvfrom(1 << 16)
            elapsed = time.monotonic() - started
            self.assertEqual(data, payload)
            self.assertEqual(sender[1], d.port)
            self.assertGreaterEqual(elapsed, 0.2, f"datagram echoed after {elapsed:.4f} s")
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
