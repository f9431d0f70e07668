"""echobench against the real echod (and against small misbehaving echo
servers written here): the JSON fields and values, -n, --rate, verification,
failures and their exit codes, usage errors, --ping, --interactive,
--histogram-out with --merge, and --report with --compare.

    python3 test_echobench.py /path/to/echobench /path/to/echod [TestClass ...]

Standard library only. Every subprocess has a time bound, and everything a
test starts it stops, by PID or by closing its sockets.
"""
import html.parser
import json
import math
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pylib"))
import harness  # noqa: E402
from harness import Echod  # noqa: E402

ECHOBENCH = None
ECHOD = None
CONTRACT_FIELDS = {"connections", "size", "pipeline", "duration_s", "messages", "msgs_per_sec",
                   "bytes_per_sec", "latency_us", "errors"}
LATENCY_FIELDS = ["min", "p50", "p90", "p99", "p999", "max"]
HINT = "(see 'echobench --help')"


def run_echobench(*args, timeout=30, stdin=subprocess.DEVNULL, input=None):
    kwargs = {"input": input} if input is not None else {"stdin": stdin}
    return harness.run_echobench(ECHOBENCH, *args, timeout=timeout, **kwargs)


def bench_json(*args, timeout=30):
    r = run_echobench("--json", *args, timeout=timeout)
    out = r.stdout.decode()
    try:
        doc = json.loads(out)
    except ValueError:
        raise AssertionError(f"not one JSON object (exit {r.returncode}): {out!r} {r.stderr!r}")
    return r, doc


class FakeEchoServer:
    """A TCP echo server on 127.0.0.1 that misbehaves on purpose. transform
    maps each received chunk (and a running byte count) to what is sent back."""

    def __init__(self, transform):
        self.transform = transform
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        seen = 0
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                out = self.transform(data, seen)
                seen += len(data)
                if out is None:
                    break  # close the connection
                conn.sendall(out)
        except OSError:
            pass
        finally:
            conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stopping = True
        # close() alone does not wake a thread blocked in accept(); on Linux
        # shutdown() does.
        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(5)
        return False


def flip_byte_now_and_then(data, seen):
    # Corrupt one byte in the first chunk past each 1000-byte mark.
    if (seen + len(data)) // 1000 != seen // 1000:
        data = bytearray(data)
        data[len(data) // 2] ^= 0x20
        return bytes(data)
    return data


def duplicate_first_chunk(data, seen):
    return data + data if seen == 0 else data


def close_after_2000_bytes(data, seen):
    return None if seen > 2000 else data


def free_port():
    """A port with nothing listening on it (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EchobenchTest(unittest.TestCase):
    def assertClean(self, r):
        self.assertEqual(r.returncode, 0, r.stderr.decode())


class TempDirTest(unittest.TestCase):
    """Each test gets its own temporary directory, self.dir; path(name) is in it."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix=f"echobench-{type(self).__name__.lower()}-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)


class JsonReport(EchobenchTest):
    def test_json_fields_and_values(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 4, "-d", 0.5, "--warmup", 0.2)
            self.assertClean(r)
            # stderr is not a terminal: no progress line, and nothing else on a clean run.
            self.assertEqual(r.stderr, b"")
            self.assertTrue(CONTRACT_FIELDS <= set(doc), doc)
            self.assertEqual((doc["connections"], doc["size"], doc["pipeline"]), (4, 64, 1))
            self.assertAlmostEqual(doc["duration_s"], 0.5, delta=0.01)
            self.assertGreater(doc["messages"], 100)
            self.assertAlmostEqual(doc["msgs_per_sec"], doc["messages"] / doc["duration_s"],
                                   delta=doc["msgs_per_sec"] * 0.01)
            self.assertAlmostEqual(doc["bytes_per_sec"], doc["msgs_per_sec"] * 64, delta=64)
            lat = doc["latency_us"]
            self.assertEqual(list(lat), LATENCY_FIELDS)
            values = [lat[k] for k in LATENCY_FIELDS]
            self.assertTrue(all(isinstance(v, (int, float)) for v in values), lat)
            self.assertEqual(values, sorted(values), lat)
            self.assertGreater(lat["min"], 0)
            self.assertLess(lat["max"], 2e6)  # under 2 s on loopback
            self.assertEqual(doc["errors"], {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0})
            self.assertEqual(doc["established"], 4)
            self.assertIsNone(doc["rate"])

    def test_sent_bytes_is_what_the_server_received(self):
        # Every byte whose write completed, warm-up and drain included: echod's
        # own counter of bytes read must come to exactly the same number.
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "echod.prom")
            with Echod(ECHOD, "-q", "--metrics-file", path, "--stats-interval", "0.1") as server:
                r, doc = bench_json("-p", server.port, "-c", 3, "-P", 4, "-s", 100, "-d", 0.3, "--warmup", 0.2)
                self.assertClean(r)
                self.assertIsInstance(doc["sent_bytes"], int)
                # More than the window's messages: the warm-up's went too.
                self.assertGreater(doc["sent_bytes"], doc["messages"] * 100)
                self.assertEqual(doc["sent_bytes"] % 100, 0)
                received = lambda: harness.metrics(path).get("echod_received_bytes_total") \
                    if os.path.exists(path) else None
                deadline = time.monotonic() + 10
                while received() != doc["sent_bytes"] and time.monotonic() < deadline:
                    time.sleep(0.05)
                self.assertEqual(received(), doc["sent_bytes"])

    def test_timeline_one_sample_per_second(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 3, "-d", 2.5, "--warmup", 1)
        self.assertClean(r)
        phases, timeline = doc["phases"], doc["timeline"]
        self.assertAlmostEqual(phases["window_start_s"] - phases["warmup_start_s"], 1.0, delta=0.002)
        self.assertAlmostEqual(phases["window_end_s"] - phases["window_start_s"], doc["duration_s"], delta=0.002)
        self.assertLess(phases["warmup_start_s"], 0.9)  # 3 connections take milliseconds
        # Seconds 0, 1, ... on the run's clock, up to the window's end, the
        # last cut there; a last fragment under 0.25 s is folded into the
        # second before it.
        self.assertEqual([s["t"] for s in timeline], list(range(len(timeline))))
        end = phases["window_end_s"]
        fragment = end - math.floor(end)
        self.assertEqual(len(timeline), max(1, math.floor(end)) if 0 < fragment < 0.25 else math.ceil(end))
        last = timeline[-1]
        self.assertAlmostEqual(last["t"] + last["dt"], phases["window_end_s"], delta=0.002)
        self.assertTrue(all(s["dt"] == 1 for s in timeline[:-1]), timeline)
        self.assertEqual(set(timeline[0]), {"t", "dt", "msgs", "p99_us", "connections"})
        # Every second of traffic echoed, with a p99 within the run's latencies.
        for s in timeline:
            self.assertGreater(s["msgs"], 0, timeline)
            self.assertEqual(s["connections"], 3, timeline)
            self.assertTrue(doc["latency_us"]["min"] * 0.5 <= s["p99_us"] <= 2e6, (s, doc["latency_us"]))
        # The window's messages are among those of the timeline, which also
        # holds the warm-up's.
        self.assertGreaterEqual(sum(s["msgs"] for s in timeline), doc["messages"])
        self.assertIsInstance(doc["version"], str)
        self.assertRegex(doc["started_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_progress_line_on_a_terminal(self):
        # stderr on a pseudo-terminal: a live line with elapsed time, msgs/s
        # and p99 so far, redrawn with \r; stdout (a pipe) still gets the JSON.
        import pty
        with Echod(ECHOD, "-q") as server:
            controller, terminal = pty.openpty()
            try:
                p = subprocess.Popen([ECHOBENCH, "--json", "-p", str(server.port), "-c", "2", "-d", "1.2",
                                      "--warmup", "0.2"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=terminal)
                os.close(terminal)
                terminal = -1
                seen = b""
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    try:
                        chunk = os.read(controller, 4096)
                    except OSError:  # EIO: echobench closed its end
                        break
                    if not chunk:
                        break
                    seen += chunk
                out, _ = p.communicate(timeout=20)
            finally:
                if terminal >= 0:
                    os.close(terminal)
                os.close(controller)
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
        self.assertEqual(p.returncode, 0, seen)
        text = seen.decode(errors="replace")
        self.assertRegex(text, r"\r +[0-9.]+s +measuring +2 conns +[0-9]+ msgs/s +p99 [0-9.]+(us|ms)")
        self.assertNotIn("Sanitizer", text)
        self.assertIn("messages", json.loads(out))

    def test_table_by_default(self):
        with Echod(ECHOD, "-q") as server:
            r = run_echobench("-p", server.port, "-c", 2, "-d", 0.3, "--warmup", 0)
            self.assertClean(r)
            out = r.stdout.decode()
            self.assertIn("msgs/s", out)
            self.assertRegex(out, r"p99 [0-9.]+(us|ms)")
            self.assertIn("mismatch 0", out)

    def test_threads_spread_connections(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 10, "-t", 2, "-P", 4, "-s", "1KiB", "-d", 0.5,
                                "--warmup", 0.1)
            self.assertClean(r)
            self.assertEqual(doc["threads"], 2)
            self.assertEqual(doc["established"], 10)
            self.assertGreater(doc["messages"], 0)
            # The timeline adds both threads up.
            self.assertTrue(all(s["connections"] == 10 for s in doc["timeline"]), doc["timeline"])
            self.assertGreaterEqual(sum(s["msgs"] for s in doc["timeline"]), doc["messages"])

    def test_ipv6(self):
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", 0))
        except OSError:
            self.skipTest("no IPv6 loopback")
        with Echod(ECHOD, "-q", "--listen", "::1") as server:
            r, doc = bench_json("-H", "::1", "-p", server.port, "-c", 2, "-d", 0.3, "--warmup", 0)
            self.assertClean(r)
            self.assertGreater(doc["messages"], 0)
            self.assertEqual(doc["target"], f"[::1]:{server.port}")


class StopConditions(unittest.TestCase):
    def test_messages_stops_after_the_count(self):
        with Echod(ECHOD, "-q") as server:
            start = time.monotonic()
            # A duration that would take far longer: -n must end the run.
            r, doc = bench_json("-p", server.port, "-n", 5000, "-d", 60, "--warmup", 0.2, timeout=20)
            elapsed = time.monotonic() - start
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(doc["messages"], 5000)
            self.assertLess(elapsed, 10)
            self.assertLess(doc["duration_s"], 5)
            self.assertGreater(doc["duration_s"], 0)

    def test_messages_is_exact(self):
        # -n N: exactly N messages are measured, however many connections,
        # messages in flight per connection and threads share the count;
        # warm-up still runs first and is not counted.
        variants = [[], ["-P", 4], ["--threads", 2], ["-P", 4, "--threads", 2]]
        with Echod(ECHOD, "-q") as server:
            for extra in variants:
                for warmup in (0.2, 0.2, 0):
                    with self.subTest(extra=extra, warmup=warmup):
                        r, doc = bench_json("-p", server.port, "-n", 1000, "-c", 10, "--warmup", warmup,
                                            *extra, timeout=20)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        self.assertEqual(doc["messages"], 1000)
                        phases = doc["phases"]
                        self.assertAlmostEqual(phases["window_start_s"] - phases["warmup_start_s"], warmup,
                                               delta=0.002)
                        echoed = sum(s["msgs"] for s in doc["timeline"])
                        if warmup == 0:
                            # Every message echoed was measured: the timeline holds them all.
                            self.assertEqual(echoed, 1000)
                        else:
                            self.assertGreaterEqual(echoed, 1000)

    def test_rate_holds(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 10, "-r", 2000, "-d", 1.5, "--warmup", 0.3)
            self.assertEqual(r.returncode, 0, r.stderr)
            # The measured window holds 3000 scheduled messages. Never more
            # (3% for the window's edges): a closed loop would echo tens of
            # thousands here. Fewer only when the machine is loaded (other
            # tests run beside this one, maybe under ASan), so the floor is
            # loose: speed is for benchmarks, not tests.
            self.assertLessEqual(doc["messages"], 3090)
            self.assertGreaterEqual(doc["messages"], 2100)
            self.assertEqual(doc["rate"]["target"], 2000.0)
            self.assertLess(doc["rate"]["shortfall_pct"], 30.0)

    def test_sigint_ends_early_and_still_reports(self):
        with Echod(ECHOD, "-q") as server:
            p = subprocess.Popen([ECHOBENCH, "--json", "-p", str(server.port), "-c", "2", "-d", "60",
                                  "--warmup", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                time.sleep(0.7)
                p.send_signal(2)
                out, err = p.communicate(timeout=10)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait(5)
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn(b"Sanitizer", err)
            doc = json.loads(out)
            self.assertTrue(doc["interrupted"])
            self.assertGreater(doc["messages"], 0)
            self.assertLess(doc["duration_s"], 5)


class Failures(unittest.TestCase):
    def test_corrupted_echo_is_a_mismatch_and_exit_1(self):
        with FakeEchoServer(flip_byte_now_and_then) as server:
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 0.5, "--warmup", 0.1)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertGreater(doc["errors"]["mismatch"], 0)
            # The others still came back right and are counted.
            self.assertGreater(doc["messages"], 0)
            self.assertIn(b"echoed wrong", r.stderr)

    def test_no_verify_does_not_check(self):
        # The same corrupting server passes when checking is off: proof that
        # the check above is what fails the run.
        with FakeEchoServer(flip_byte_now_and_then) as server:
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 0.3, "--warmup", 0, "--no-verify")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(doc["errors"]["mismatch"], 0)

    def test_duplicated_bytes_are_a_mismatch(self):
        with FakeEchoServer(duplicate_first_chunk) as server:
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 0.3, "--warmup", 0)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertGreater(doc["errors"]["mismatch"], 0)

    def test_server_closing_is_broken(self):
        with FakeEchoServer(close_after_2000_bytes) as server:
            r, doc = bench_json("-p", server.port, "-c", 3, "-d", 0.5, "--warmup", 0)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertEqual(doc["errors"]["broken"], 3)
            self.assertIn(b"broke", r.stderr)

    def test_closed_port_exits_1_with_null_latency(self):
        port = free_port()
        r, doc = bench_json("-p", port, "-c", 3, "-d", 0.5)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(doc["errors"]["connect"], 3)
        self.assertEqual(doc["messages"], 0)
        self.assertEqual(doc["established"], 0)
        self.assertTrue(all(doc["latency_us"][k] is None for k in LATENCY_FIELDS), doc)
        err = r.stderr.decode()
        self.assertIn("connection refused", err)
        self.assertIn("nothing was echoed", err)

    def test_silent_server_times_out(self):
        # Accepts and reads, never answers: the echo timeout must end it.
        with FakeEchoServer(lambda data, seen: b"") as server:
            start = time.monotonic()
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 0.5, "--warmup", 0, "--timeout", 0.3)
            self.assertEqual(r.returncode, 1)
            self.assertEqual(doc["errors"]["timeout"], 2)
            self.assertLess(time.monotonic() - start, 5)


class UsageErrors(unittest.TestCase):
    CASES = [
        (["-c", "0"], "--connections"),
        (["--connections", "x"], "--connections"),
        (["-s", "1KB"], "--size"),
        (["--size", "0"], "--size"),
        (["-P", "0"], "--pipeline"),
        (["-d", "0"], "--duration"),
        (["-d", "abc"], "--duration"),
        (["-n", "0"], "--messages"),
        (["-r", "fast"], "--rate"),
        (["-p", "0"], "--port"),
        (["-p", "65536"], "--port"),
        (["-H", "example.com"], "--host"),
        (["--warmup"], "--warmup"),
        (["--json=1"], "--json"),
        (["-t", "0"], "--threads"),
        (["--count", "3"], "--count"),
        (["--ping", "--interactive"], "--interactive"),
    ]

    def test_bad_options_exit_2_naming_the_option(self):
        for args, option in self.CASES:
            with self.subTest(args=args):
                r = run_echobench(*args, timeout=10)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, b"")
                err = r.stderr.decode()
                self.assertEqual(err.count("\n"), 1, err)
                self.assertTrue(err.startswith(f"echobench: {option}"), err)
                self.assertIn(HINT, err)

    def test_unknown_option_and_stray_argument(self):
        for args in (["--frobnicate"], ["extra"]):
            with self.subTest(args=args):
                r = run_echobench(*args, timeout=10)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, b"")
                self.assertIn(HINT, r.stderr.decode())

    def test_help_and_version(self):
        r = run_echobench("--help", timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertIn(b"Usage: echobench", r.stdout)
        self.assertEqual(r.stderr, b"")
        r = run_echobench("--version", timeout=10)
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout.decode(), r"^echobench \d+\.\d+\.\d+")


class Modes(unittest.TestCase):
    def test_ping_count_3(self):
        with Echod(ECHOD, "-q") as server:
            r = run_echobench("--ping", "-p", server.port, "-i", 0.1, "--count", 3, timeout=15)
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.decode()
            replies = re.findall(r"^64 bytes from 127\.0\.0\.1:\d+: seq=(\d+) time=[0-9.]+ ms$", out, re.M)
            self.assertEqual(replies, ["1", "2", "3"], out)
            self.assertIn("3 messages sent, 3 echoed, 0% lost, 0 mismatched", out)
            self.assertRegex(out, r"rtt min/avg/max/mdev = [0-9.]+/[0-9.]+/[0-9.]+/[0-9.]+ ms")

    def test_ping_closed_port(self):
        r = run_echobench("--ping", "-p", free_port(), "--count", 1, timeout=15)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"connection refused", r.stderr)

    def test_interactive_round_trips_stdin(self):
        with Echod(ECHOD, "-q") as server:
            r = run_echobench("--interactive", "-p", server.port, input=b"a\nb\n", timeout=15)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, b"a\nb\n")
            blob = os.urandom(3 * 1024 * 1024)  # more than it buffers before pausing stdin
            r = run_echobench("--interactive", "-p", server.port, input=blob, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout == blob, "echo differs")

    def test_interactive_reports_a_corrupting_server(self):
        with FakeEchoServer(flip_byte_now_and_then) as server:
            r = run_echobench("--interactive", "-p", server.port, input=b"x" * 5000, timeout=15)
            self.assertEqual(r.returncode, 1)
            self.assertIn(b"differed", r.stderr)


SUB_BUCKET_BITS = 7


def bucket_bounds(index):
    """Histogram::lowest_of and highest_of, from the layout in histogram.h."""
    sub = 1 << SUB_BUCKET_BITS
    if index < 2 * sub:
        return index, index
    shift = index // sub - 1
    low = (index - shift * sub) << shift
    return low, low + (1 << shift) - 1


def percentile_ns(hist, q):
    """Histogram::percentile over the buckets of a --histogram-out file:
    rank ceil(q/100 * count), that bucket's midpoint, clamped to [min, max]."""
    count = hist["count"]
    rank = min(max(math.ceil(q / 100.0 * count), 1), count)
    seen = 0
    for index, n in hist["buckets"]:
        seen += n
        if seen >= rank:
            low, high = bucket_bounds(index)
            return min(max(low + (high - low) // 2, hist["min"]), hist["max"])
    return hist["max"]


def merged_buckets(*hists):
    counts = {}
    for h in hists:
        for index, n in h["buckets"]:
            counts[index] = counts.get(index, 0) + n
    return {"count": sum(h["count"] for h in hists), "min": min(h["min"] for h in hists),
            "max": max(h["max"] for h in hists), "buckets": sorted([i, n] for i, n in counts.items())}


class Merge(TempDirTest):
    """Two runs (as if from two load machines) written with --histogram-out,
    merged into one report whose percentiles come from every sample."""

    def load(self, name):
        with open(self.path(name)) as f:
            return json.load(f)

    def two_runs(self):
        with Echod(ECHOD, "-q") as server:
            # One with --json, one printing the table: --histogram-out works with both.
            r, doc_a = bench_json("-p", server.port, "-c", 2, "-d", 0.4, "--warmup", 0.1,
                                  "--histogram-out", self.path("a.json"))
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run_echobench("-p", server.port, "-c", 3, "-P", 2, "-d", 0.3, "--warmup", 0.1,
                              "--histogram-out", self.path("b.json"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(b"msgs/s", r.stdout)
        a, b = self.load("a.json"), self.load("b.json")
        # The file holds the same report --json printed, plus the histogram.
        self.assertEqual({k: v for k, v in a.items() if k not in ("histogram", "connect_histogram")}, doc_a)
        self.assertEqual(sorted(os.listdir(self.dir)), ["a.json", "b.json"])  # no temporaries left
        return a, b

    def test_merge_two_runs(self):
        a, b = self.two_runs()
        for doc in (a, b):
            self.assertTrue(CONTRACT_FIELDS <= set(doc), doc)
            hist = doc["histogram"]
            self.assertEqual(hist["count"], doc["messages"])
            self.assertEqual(sum(n for _, n in hist["buckets"]), hist["count"])
        r, m = bench_json("--merge", self.path("a.json"), self.path("b.json"),
                          "--histogram-out", self.path("m.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        self.assertTrue(CONTRACT_FIELDS <= set(m), m)
        self.assertEqual(m["runs"], 2)
        self.assertEqual(m["messages"], a["messages"] + b["messages"])
        self.assertEqual(m["connections"], 5)
        self.assertEqual(m["size"], 64)
        self.assertEqual(m["pipeline"], 2)
        self.assertEqual(m["duration_s"], max(a["duration_s"], b["duration_s"]))
        self.assertAlmostEqual(m["msgs_per_sec"], a["msgs_per_sec"] + b["msgs_per_sec"], delta=0.2)
        self.assertEqual(m["errors"], {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0})
        lat = m["latency_us"]
        self.assertEqual(list(lat), LATENCY_FIELDS)
        lo = min(a["latency_us"]["min"], b["latency_us"]["min"])
        hi = max(a["latency_us"]["max"], b["latency_us"]["max"])
        self.assertEqual((lat["min"], lat["max"]), (lo, hi))
        for k in LATENCY_FIELDS:
            self.assertTrue(lo <= lat[k] <= hi, (k, lat))
        # Percentiles of the union of samples, rebuilt here from the buckets.
        union = merged_buckets(a["histogram"], b["histogram"])
        for key, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
            self.assertEqual(lat[key], float(f"{percentile_ns(union, q) / 1000:.1f}"), key)
        # --histogram-out of a merge holds the merged histogram: merges compose.
        mh = self.load("m.json")["histogram"]
        self.assertEqual(mh["buckets"], union["buckets"])
        self.assertEqual((mh["count"], mh["min"], mh["max"]), (union["count"], union["min"], union["max"]))
        r, again = bench_json("--merge", self.path("m.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(again, m)
        # The table, by default.
        r = run_echobench("--merge", self.path("a.json"), self.path("b.json"), timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout.decode()
        self.assertIn("2 runs merged", out)
        self.assertRegex(out, r"p99 [0-9.]+(us|ms)")

    def test_bad_files_exit_2_with_one_line(self):
        a, _ = self.two_runs()
        with open(self.path("bad.json"), "w") as f:
            f.write('{"connections": 2')
        other = dict(a, size=1024, bytes_per_sec=a["msgs_per_sec"] * 1024)
        with open(self.path("big.json"), "w") as f:
            json.dump(other, f)
        layout = dict(a, histogram=dict(a["histogram"], bucket_count=4096))
        with open(self.path("layout.json"), "w") as f:
            json.dump(layout, f)
        plain = {k: v for k, v in a.items() if k != "histogram"}
        with open(self.path("plain.json"), "w") as f:
            json.dump(plain, f)
        cases = [("bad.json", "not JSON"), ("big.json", "message size 1KiB differs"),
                 ("layout.json", "layout"), ("plain.json", "no \"histogram\""),
                 ("missing.json", "No such file or directory")]
        for name, reason in cases:
            with self.subTest(name=name):
                r = run_echobench("--merge", self.path("a.json"), self.path(name), timeout=10)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, b"")
                err = r.stderr.decode()
                self.assertEqual(err.count("\n"), 1, err)
                self.assertTrue(err.startswith("echobench: --merge: " + self.path(name) + ": "), err)
                self.assertIn(reason, err)

    def test_failed_run_makes_the_merge_exit_1(self):
        # A run against a closed port: nothing echoed, connect errors. Its
        # file is still written and merges, and the merge says which failed.
        r = run_echobench("-p", free_port(), "-c", 2, "-d", 0.2, "--histogram-out", self.path("dead.json"),
                          timeout=10)
        self.assertEqual(r.returncode, 1)
        dead = self.load("dead.json")
        self.assertEqual(dead["histogram"]["buckets"], [])
        with Echod(ECHOD, "-q") as server:
            r = run_echobench("-p", server.port, "-c", 2, "-d", 0.2, "--warmup", 0,
                              "--histogram-out", self.path("ok.json"))
            self.assertEqual(r.returncode, 0, r.stderr)
        r, m = bench_json("--merge", self.path("ok.json"), self.path("dead.json"))
        self.assertEqual(r.returncode, 1)
        self.assertEqual(m["errors"]["connect"], 2)
        self.assertEqual(m["messages"], self.load("ok.json")["messages"])
        err = r.stderr.decode()
        self.assertIn(self.path("dead.json") + ": 2 connection(s) failed to connect", err)
        self.assertNotIn(self.path("ok.json"), err)

    def test_usage(self):
        for args, option in ((["--merge"], "--merge"), (["--merge", "a.json", "-c", "2"], "--connections"),
                             (["--ping", "--histogram-out", "x.json"], "--histogram-out")):
            with self.subTest(args=args):
                r = run_echobench(*args, timeout=10)
                self.assertEqual(r.returncode, 2)
                err = r.stderr.decode()
                self.assertEqual(err.count("\n"), 1, err)
                self.assertTrue(err.startswith(f"echobench: {option}: "), err)
                self.assertIn(HINT, err)
        # An output path that cannot be written fails before any load.
        r = run_echobench("-p", free_port(), "--histogram-out", self.path("no/such/dir.json"), timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        self.assertIn(b"--histogram-out", r.stderr)


class StrictHtml(html.parser.HTMLParser):
    """Checks that every element is closed, in order (html.parser itself
    accepts anything), and collects the tags and text of the page."""
    VOID = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.tags, self.text, self.errors = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


SVG_NS = "{http://www.w3.org/2000/svg}"


class Report(TempDirTest):
    """--report: one self-contained HTML page, and --compare of saved runs."""

    def read_page(self, name):
        """The page, checked: strict HTML, nothing fetched, every <svg> well-formed XML."""
        with open(self.path(name), encoding="utf-8") as f:
            page = f.read()
        parser = StrictHtml()
        parser.feed(page)
        parser.close()
        self.assertEqual(parser.errors, [])
        self.assertEqual(parser.stack, [], "unclosed elements")
        self.assertTrue(page.startswith("<!DOCTYPE html>"))
        tags = {t for t, _ in parser.tags}
        self.assertFalse(tags & {"script", "link", "img", "iframe", "object"}, tags)
        for tag, attrs in parser.tags:
            for key in ("src", "href"):
                self.assertNotIn(key, attrs, (tag, attrs))
        self.assertNotRegex(page, r"url\((?!#)")  # url() only to the page's own clip paths
        ids = re.findall(r'\bid="([^"]*)"', page)
        self.assertEqual(len(ids), len(set(ids)), "an id used twice")
        self.assertNotIn("@import", page)
        svgs = {}
        for m in re.finditer(r"<svg\b.*?</svg>", page, re.S):
            root = ET.fromstring(m.group(0))  # raises on anything malformed
            self.assertEqual(root.tag, SVG_NS + "svg")
            # Ids are unique on the page: "spectrum-2" is the second section's spectrum.
            kind, section = root.get("id").rsplit("-", 1)
            self.assertEqual(int(section), len(svgs.get(kind, [])) + 1, root.get("id"))
            svgs.setdefault(kind, []).append(root)
        return page, "".join(parser.text), svgs

    def series(self, root):
        """{label: [(x, y), ...]} of the chart's series polylines (pixel coordinates)."""
        out = {}
        for line in root.iter(SVG_NS + "polyline"):
            if "series" not in line.get("class", "").split():
                continue
            title = line.find(SVG_NS + "title")
            points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
            out.setdefault(title.text if title is not None else None, []).extend(points)
        return out

    def y_axis(self, root):
        """(top, bottom, value at top) of a linear y axis: the plot area's
        pixel rows, from its clip path, and the label of its highest tick,
        which sits at the top (the domain ends on a tick)."""
        rect = root.find(f"{SVG_NS}g/{SVG_NS}clipPath/{SVG_NS}rect")
        top = float(rect.get("y"))
        bottom = top + float(rect.get("height"))
        units = {"k": 1e3, "M": 1e6, "G": 1e9}
        values = []
        for g in root.iter(SVG_NS + "g"):
            if g.get("class") != "tick":
                continue
            for t in g.iter(SVG_NS + "text"):
                if t.get("text-anchor") == "end":  # the y axis' labels
                    label = t.text
                    scale = units.get(label[-1], 1)
                    values.append(float(label[:-1] if scale != 1 else label) * scale)
        return top, bottom, max(values)

    def test_report_of_a_run(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 3, "-d", 2, "--warmup", 1,
                                "--report", self.path("run.html"), "--histogram-out", self.path("run.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(os.listdir(self.dir)), ["run.html", "run.json"])  # no temporaries left
        page, text, svgs = self.read_page("run.html")
        self.assertEqual(set(svgs), {"throughput", "p99", "connections", "spectrum"})
        target = f"127.0.0.1:{server.port}"
        self.assertIn(f"<title>echobench: {target}</title>", page)
        for expected in (target, doc["version"], doc["started_at"], "warm-up", "3 connections × 64B messages",
                         "closed loop", "Parameters", "Results"):
            self.assertIn(expected, text)
        # Per-second throughput: one step (two points) per timeline sample.
        (throughput,) = svgs["throughput"]
        lines = self.series(throughput)
        self.assertEqual(list(lines), [target])
        self.assertEqual(len(lines[target]), 2 * len(doc["timeline"]))
        # Each step is drawn at the height of msgs / dt of the JSON: the page
        # and --json come from the same numbers. Only the SVG's rounding of
        # coordinates to 0.1 px stands between them.
        top, bottom, y_hi = self.y_axis(throughput)
        for i, s in enumerate(doc["timeline"]):
            expected = bottom - s["msgs"] / s["dt"] / y_hi * (bottom - top)
            for _, y in lines[target][2 * i:2 * i + 2]:
                self.assertAlmostEqual(y, expected, delta=0.05 + 1e-9, msg=(i, s, y_hi))
        # The run's last fragment (under 0.25 s) is folded into its last second.
        self.assertGreaterEqual(doc["timeline"][-1]["dt"], 0.25)
        # The spectrum: one line, and the marks.
        (spectrum,) = svgs["spectrum"]
        self.assertEqual(list(self.series(spectrum)), [target])
        spectrum_text = " ".join(t.text or "" for t in spectrum.iter(SVG_NS + "text"))
        for mark in ("p50", "p90", "p99", "p99.9", "p99.99", "99%", "99.9%"):
            self.assertIn(mark, spectrum_text)
        self.assertNotIn("Echo mismatch", text)
        # Errors: all zero, in the results table.
        self.assertNotIn('class="bad"', page)

    def test_compare_overlays_runs_by_load(self):
        with Echod(ECHOD, "-q") as server:
            for name, extra in (("before", []), ("after", []), ("pipelined", ["-P", 4])):
                r = run_echobench("-p", server.port, "-c", 2, "-d", 0.5, "--warmup", 0.2, *extra,
                                  "--histogram-out", self.path(name + ".json"))
                self.assertEqual(r.returncode, 0, r.stderr)
        r = run_echobench("--report", self.path("compare.html"), "--compare", self.path("before.json"),
                          self.path("after.json"), self.path("pipelined.json"), timeout=10)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((r.stdout, r.stderr), (b"", b""))
        page, text, svgs = self.read_page("compare.html")
        self.assertIn("<title>echobench: before vs after vs pipelined</title>", page)
        # Two loads, two sections: before and after overlaid, pipelined alone.
        self.assertEqual(page.count("<section>"), 2)
        self.assertEqual(len(svgs["spectrum"]), 2)
        self.assertEqual(set(self.series(svgs["spectrum"][0])), {"before", "after"})
        self.assertEqual(set(self.series(svgs["throughput"][0])), {"before", "after"})
        self.assertEqual(set(self.series(svgs["spectrum"][1])), {"pipelined"})
        # Each series in its legend colour.
        colours = {}
        for line in svgs["spectrum"][0].iter(SVG_NS + "polyline"):
            title = line.find(SVG_NS + "title")
            if title is not None and "series" in line.get("class", ""):
                colours[title.text] = line.get("stroke")
        self.assertEqual(colours, {"before": "#1f77b4", "after": "#ff7f0e"})
        self.assertIn("pipeline 4", text)

    def test_mismatch_is_loud(self):
        with FakeEchoServer(flip_byte_now_and_then) as server:
            r = run_echobench("-p", server.port, "-c", 2, "-d", 0.5, "--warmup", 0.1,
                              "--report", self.path("bad.html"), "--histogram-out", self.path("bad.json"))
        self.assertEqual(r.returncode, 1, r.stderr)
        page, text, _ = self.read_page("bad.html")
        self.assertIn('<div class="alert bad" role="alert"><h2>Echo mismatch</h2>', page)
        self.assertRegex(text, r"\d+ message\(s\) echoed wrong \(first: connection \d+ message \d+")
        self.assertIn('<td class="bad">', page)
        # A saved run keeps its mismatches: --compare shows them and exits 1.
        r = run_echobench("--report", self.path("again.html"), "--compare", self.path("bad.json"), timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"echoed wrong", r.stderr)
        page, _, _ = self.read_page("again.html")
        self.assertIn("Echo mismatch", page)

    def test_errors(self):
        # An unwritable page fails before any load, in one line.
        r = run_echobench("-p", free_port(), "--report", self.path("no/such/dir.html"), timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, b"")
        err = r.stderr.decode()
        self.assertEqual(err.count("\n"), 1, err)
        self.assertTrue(err.startswith("echobench: --report: "), err)
        # A file --compare cannot read: exit 2, one line naming it, no page.
        with open(self.path("bad.json"), "w") as f:
            f.write("{}")
        r = run_echobench("--report", self.path("c.html"), "--compare", self.path("bad.json"), timeout=10)
        self.assertEqual(r.returncode, 2)
        err = r.stderr.decode()
        self.assertEqual(err.count("\n"), 1, err)
        self.assertIn("bad.json", err)
        self.assertFalse(os.path.exists(self.path("c.html")))
        r = run_echobench("--compare", self.path("bad.json"), timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn(b"--compare: needs --report", r.stderr)
        # Nothing to connect to: exit 1, and the page says why.
        r = run_echobench("-p", free_port(), "-c", 2, "--report", self.path("refused.html"), timeout=20)
        self.assertEqual(r.returncode, 1)
        page, text, svgs = self.read_page("refused.html")
        self.assertIn('<div class="alert warn" role="alert">', page)
        self.assertIn("2 connection(s) failed to connect (first: connect: connection refused)", text)
        self.assertIn("nothing was echoed during the measured window", text)
        self.assertNotIn("spectrum", svgs)
        self.assertIn("No latency spectrum: nothing was echoed", text)

class RecordingEchoServer(FakeEchoServer):
    """An echo server that records how each connection ended: "eof" (the
    client's FIN came, then it closes its side) or "reset"."""

    def __init__(self):
        self.ends = []
        self.lock = threading.Lock()
        super().__init__(lambda data, seen: data)

    def _serve(self, conn):
        end = "eof"
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
        except ConnectionResetError:
            end = "reset"
        except OSError as e:
            end = f"error {e}"
        finally:
            conn.close()
            with self.lock:
                self.ends.append(end)


class AcceptLimitServer(FakeEchoServer):
    """An echo server that accepts `limit` connections, then stops listening:
    every later connect is refused."""

    def __init__(self, limit):
        self.limit = limit
        super().__init__(lambda data, seen: data)

    def _accept(self):
        # All `limit` are accepted and the listener closed before the first
        # echo: no connection can finish its messages and connect again
        # while one of the first is still waiting in the backlog (which a
        # slow accept loop allowed, under ASan: that later connect then
        # landed in the queue instead of being refused).
        for _ in range(self.limit):
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.conns.append(conn)
        self.listener.close()
        for conn in self.conns:
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()


class NoFinServer(FakeEchoServer):
    """An echo server that, after the client's FIN, keeps its side open
    until the test ends: it never sends its own FIN."""

    def __init__(self):
        self.done = threading.Event()
        super().__init__(lambda data, seen: data)

    def _serve(self, conn):
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
            self.done.wait(10)
        except OSError:
            pass
        finally:
            conn.close()

    def __exit__(self, *exc):
        self.done.set()
        return super().__exit__(*exc)


class ReplayPreviousConnection:
    """A transform for FakeEchoServer that answers each connection with the
    bytes the previous connection sent (its own when it is the first): an
    echo on the wrong connection. Each connection is served on a thread of
    its own, so per-connection state is thread-local."""

    def __init__(self):
        self.last = b""
        self.local = threading.local()

    def __call__(self, data, seen):
        if seen == 0:
            self.local.replay = self.last
            self.local.mine = bytearray()
        self.local.mine += data
        self.last = bytes(self.local.mine)
        replay = self.local.replay
        return replay[seen:seen + len(data)] if len(replay) >= seen + len(data) else data


class Churn(TempDirTest):
    """--messages-per-connection: each connection closes after N echoes
    (FIN first) and a new one takes its place; connects and their latency."""

    def assertChurnCounts(self, doc, total, per_connection, connections):
        self.assertEqual(doc["messages"], total)
        self.assertEqual(doc["messages_per_connection"], per_connection)
        self.assertEqual(doc["established"], connections)
        # Each connection opened in the window carries N measured messages,
        # but for the last of each place (the total ran out: fewer, or none);
        # the connections open when the window opened carried up to N each.
        self.assertGreaterEqual(doc["connects"], total // per_connection - connections, doc)
        self.assertLessEqual(doc["connects"], total // per_connection + connections, doc)
        # duration_s is rounded to the millisecond in the JSON.
        d = doc["duration_s"]
        self.assertGreaterEqual(doc["connects_per_sec"], doc["connects"] / (d + 0.0005) - 0.05, doc)
        self.assertLessEqual(doc["connects_per_sec"], doc["connects"] / max(d - 0.0005, 1e-9) + 0.05, doc)
        lat = doc["connect_latency_us"]
        self.assertEqual(list(lat), LATENCY_FIELDS)
        self.assertTrue(0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"], lat)

    def test_messages_is_exact_and_connects_follow(self):
        variants = [[], ["-P", 4], ["--threads", 2], ["-r", 3000], ["-r", 3000, "-P", 2]]
        with Echod(ECHOD, "-q") as server:
            for extra in variants:
                for warmup in (0.2, 0):
                    with self.subTest(extra=extra, warmup=warmup):
                        r, doc = bench_json("-p", server.port, "-n", 900, "-c", 6, "--warmup", warmup,
                                            "--messages-per-connection", 3, *extra, timeout=30)
                        self.assertEqual(r.returncode, 0, r.stderr)
                        self.assertEqual(doc["errors"], {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0})
                        self.assertChurnCounts(doc, 900, 3, 6)
            # One message per connection, the cell of tools/bench.
            r, doc = bench_json("-p", server.port, "-n", 500, "-c", 5, "--warmup", 0.1,
                                "--messages-per-connection", 1, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertChurnCounts(doc, 500, 1, 5)

    def test_duration_run_and_the_table(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 4, "-d", 0.5, "--warmup", 0.1,
                                "--messages-per-connection", 2)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreater(doc["connects"], 0)
            # Closed loop, two messages each: about one connect per two messages.
            self.assertLessEqual(doc["connects"], doc["messages"] // 2 + 4)
            self.assertGreaterEqual(doc["connects"], doc["messages"] // 2 - 4)
            r = run_echobench("-p", server.port, "-c", 2, "-d", 0.3, "--warmup", 0,
                              "--messages-per-connection", 5)
            self.assertEqual(r.returncode, 0, r.stderr)
            out = r.stdout.decode()
            self.assertRegex(out, r"connects   \d+  [0-9.]+ connects/s, 5 message\(s\) per connection")
            self.assertRegex(out, r"connect    min [0-9.]+(us|ms)  p50 ")

    def test_connections_kept_have_no_connects(self):
        with Echod(ECHOD, "-q") as server:
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 0.3, "--warmup", 0.1)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual((doc["connects"], doc["connects_per_sec"], doc["connect_latency_us"]), (0, 0.0, None))
        self.assertEqual(doc["messages_per_connection"], 0)

    def test_fin_first_the_server_sees_eof(self):
        with RecordingEchoServer() as server:
            r, doc = bench_json("-p", server.port, "-c", 4, "-n", 400, "--warmup", 0,
                                "--messages-per-connection", 2)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertChurnCounts(doc, 400, 2, 4)
            # Every connection, the last ones closed by the end of the run
            # included, ended with the client's FIN, never a reset.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                with server.lock:
                    if len(server.ends) >= len(server.conns):
                        break
                time.sleep(0.01)
            with server.lock:
                ends = list(server.ends)
            self.assertEqual(len(ends), len(server.conns))
            self.assertGreaterEqual(len(ends), doc["connects"] + 4)
            self.assertEqual(set(ends), {"eof"})
            # TIME_WAIT is echobench's: none on the server's port.
            ss = subprocess.run(["ss", "-Htan", "state", "time-wait"], capture_output=True, timeout=10)
            if ss.returncode == 0:
                # Recv-Q, Send-Q, local address, peer address.
                pairs = [line.split()[2:4] for line in ss.stdout.decode().splitlines()]
                ours = f"127.0.0.1:{server.port}"
                server_side = [p for p in pairs if p[0] == ours]
                client_side = [p for p in pairs if p[1] == ours]
                self.assertEqual(server_side, [])
                self.assertGreaterEqual(len(client_side), doc["connects"])

    def test_a_byte_from_another_connection_is_a_mismatch(self):
        # Each new connection gets a run-unique id: the previous
        # connection's message 0, echoed on the next one, is caught.
        with FakeEchoServer(ReplayPreviousConnection()) as server:
            r, doc = bench_json("-p", server.port, "-c", 1, "-n", 20, "--warmup", 0,
                                "--messages-per-connection", 1, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertGreaterEqual(doc["errors"]["mismatch"], 19)
        self.assertIn(b"echoed wrong", r.stderr)

    def test_a_wrong_byte_is_caught_with_churn(self):
        with FakeEchoServer(flip_byte_now_and_then) as server:
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 0.5, "--warmup", 0.1,
                                "--messages-per-connection", 20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertGreater(doc["errors"]["mismatch"], 0)
        self.assertGreater(doc["connects"], 0)
        self.assertIn(b"echoed wrong", r.stderr)

    def test_no_fin_from_the_server_is_a_timeout(self):
        with NoFinServer() as server:
            r, doc = bench_json("-p", server.port, "-c", 2, "-d", 30, "--warmup", 0, "--timeout", 0.3,
                                "--messages-per-connection", 2, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        # Each place's first connection waits for the FIN, times out, and
        # is not replaced: the run ends with both places empty.
        self.assertEqual(doc["errors"]["timeout"], 2, doc["errors"])
        self.assertEqual(doc["connects"], 0)
        self.assertIn(b"no FIN from the server 0.3 s after ours", r.stderr)

    def test_refused_connections_are_connect_errors_and_end_the_run(self):
        # Three connections are accepted, then the server stops listening:
        # each place's next connection is refused, counted once, and the
        # place stays empty; with every place empty the run ends (long
        # before -d 60) and exits 1.
        with AcceptLimitServer(3) as server:
            start = time.monotonic()
            r, doc = bench_json("-p", server.port, "-c", 3, "-d", 60, "--warmup", 0.1,
                                "--messages-per-connection", 5, timeout=30)
            elapsed = time.monotonic() - start
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(doc["established"], 3)
        self.assertEqual(doc["errors"]["connect"], 3)
        self.assertEqual(doc["errors"]["broken"] + doc["errors"]["mismatch"] + doc["errors"]["timeout"], 0)
        self.assertEqual(doc["connects"], 0)
        self.assertIn(b"connection refused", r.stderr)
        self.assertLess(elapsed, 20)

    def test_usage(self):
        for args, reason in ((["--messages-per-connection", "x"], "'x' is not a whole number"),
                             (["--messages-per-connection", "-2"], ""),
                             (["--ping", "--messages-per-connection", "1"], "only applies to a load run")):
            with self.subTest(args=args):
                r = run_echobench(*args, timeout=10)
                self.assertEqual(r.returncode, 2)
                err = r.stderr.decode()
                self.assertEqual(err.count("\n"), 1, err)
                self.assertTrue(err.startswith("echobench: --messages-per-connection: " + reason), err)
        r = run_echobench("--help", timeout=10)
        self.assertIn(b"--messages-per-connection N", r.stdout)

    # --report, --histogram-out and --merge of churn runs, checked as Report does.
    read_page = Report.read_page
    series = Report.series

    def test_report_and_merge_of_churn_runs(self):
        with Echod(ECHOD, "-q") as server:
            for name in ("a", "b"):
                r, doc = bench_json("-p", server.port, "-c", 3, "-n", 600, "--warmup", 0.1,
                                    "--messages-per-connection", 2, "--histogram-out", self.path(name + ".json"),
                                    "--report", self.path(name + ".html"))
                self.assertEqual(r.returncode, 0, r.stderr)
        page, text, svgs = self.read_page("a.html")
        self.assertEqual(set(svgs), {"throughput", "p99", "connections", "spectrum", "connect-spectrum"})
        (chart,) = svgs["connect-spectrum"]
        self.assertEqual(list(self.series(chart)), [f"127.0.0.1:{server.port}"])
        self.assertIn("Connect latency by percentile", text)
        self.assertIn("a new connection every 2 messages", text)
        self.assertIn("New connections (measured window)", text)
        a, b = (json.load(open(self.path(n + ".json"))) for n in ("a", "b"))
        for doc in (a, b):
            self.assertEqual(doc["connect_histogram"]["count"], doc["connects"])
        r, m = bench_json("--merge", self.path("a.json"), self.path("b.json"), "--report", self.path("m.html"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(m["connects"], a["connects"] + b["connects"])
        self.assertAlmostEqual(m["connects_per_sec"], a["connects_per_sec"] + b["connects_per_sec"], delta=0.2)
        union = merged_buckets(a["connect_histogram"], b["connect_histogram"])
        for key, q in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
            self.assertEqual(m["connect_latency_us"][key], float(f"{percentile_ns(union, q) / 1000:.1f}"), key)
        _, _, svgs = self.read_page("m.html")
        self.assertIn("connect-spectrum", svgs)
        # A file from before churn (no connect fields) still merges with a churn run.
        old = {k: v for k, v in a.items() if k not in ("connects", "connects_per_sec", "connect_latency_us",
                                                          "messages_per_connection", "connect_histogram")}
        with open(self.path("old.json"), "w") as f:
            json.dump(old, f)
        r, m = bench_json("--merge", self.path("old.json"), self.path("b.json"))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(m["connects"], b["connects"])



class FindRate(TempDirTest):
    """--find-rate against echod --fault delay=0.002: every echo takes 2 ms
    or more, so an SLO under 2 ms fails from the first step whatever the
    load, and one of 50 ms passes at low rates. Steps are short (0.5 s after
    0.2 s of warm-up) and start low; the search ends by its 5% rule or its
    step cap, and the subprocess has its own time bound besides."""

    STEPS = ("--step-duration", 0.5, "--warmup", 0.2, "-c", 4, "-r", 500)

    def test_an_slo_under_the_delay_finds_no_rate(self):
        with Echod(ECHOD, "-q", "--fault", "delay=0.002") as server:
            r, doc = bench_json("-p", server.port, "--find-rate", "--slo", "p99=1000", *self.STEPS, timeout=60)
            table = run_echobench("-p", server.port, "--find-rate", "--slo", "p99=1000", *self.STEPS, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(list(doc)[:3], ["slo", "max_rate", "steps"])
        self.assertEqual(doc["slo"], {"percentile": "p99", "us": 1000})
        self.assertIsNone(doc["max_rate"])
        self.assertEqual(doc["stop"], "first_failed")
        (step,) = doc["steps"]  # the search never goes below its start
        self.assertEqual(step["rate"], 500.0)
        self.assertIs(step["pass"], False)
        self.assertEqual(list(step["latency_us"]), LATENCY_FIELDS)
        self.assertGreaterEqual(step["latency_us"]["p99"], 2000)  # the delay, at any load
        self.assertEqual(step["errors"], {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0})
        # The table: heading, one line per step, the summary.
        self.assertEqual(table.returncode, 1, table.stderr)
        lines = table.stdout.decode().splitlines()
        self.assertTrue(lines[0].startswith(f"echobench 127.0.0.1:{server.port}: find-rate, SLO p99 <= 1.00ms"),
                        lines)
        steps = [line for line in lines if re.match(r"^\s+\d+\s", line)]
        self.assertEqual(len(steps), 1, lines)
        self.assertIn("FAIL (p99 ", steps[0])
        self.assertIn("max rate   none: the first step, 500.0 msgs/s, did not pass (p99 ", lines[-1])

    def test_a_generous_slo_passes_its_first_steps(self):
        with Echod(ECHOD, "-q", "--fault", "delay=0.002") as server:
            r, doc = bench_json("-p", server.port, "--find-rate", "--slo", "p99=50000", *self.STEPS,
                                "--report", self.path("search.html"), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        steps = doc["steps"]
        rates = [s["rate"] for s in steps]
        self.assertTrue(steps[0]["pass"], steps[0])
        self.assertEqual(rates[0], 500.0)
        self.assertLessEqual(len(steps), 30)
        passing = [s["rate"] for s in steps if s["pass"]]
        failing = [s["rate"] for s in steps if not s["pass"]]
        self.assertEqual(doc["max_rate"], max(passing))
        # Doubling while every step passes; after the first failure, each
        # step lies between the highest passing and the lowest failing rate.
        first_fail = next((i for i, s in enumerate(steps) if not s["pass"]), len(steps))
        self.assertEqual(rates[:first_fail], [500.0 * 2 ** i for i in range(first_fail)])
        for i in range(first_fail + 1, len(steps)):
            below = [s["rate"] for s in steps[:i] if s["pass"]]
            above = [s["rate"] for s in steps[:i] if not s["pass"]]
            self.assertEqual(rates[i], (max(below) + min(above)) / 2, rates)
        if doc["stop"] == "converged":
            self.assertLessEqual(min(f for f in failing if f > doc["max_rate"]), doc["max_rate"] * 1.05)
        else:
            self.assertIn(doc["stop"], ("step_cap", "ceiling"))
        for s in steps:
            with self.subTest(step=s["rate"]):
                ok = (s["latency_us"]["p99"] is not None and s["latency_us"]["p99"] <= 50000
                      and s["achieved"] >= 0.99 * s["rate"] and not any(s["errors"].values()))
                self.assertEqual(s["pass"], ok, s)
                if s["latency_us"]["min"] is not None:
                    self.assertGreaterEqual(s["latency_us"]["min"], 2000)
        # The page: strict HTML, and the chart one point per step, passing
        # steps as dots and failing ones as crosses, the SLO a line.
        page, text, svgs = Report.read_page(self, "search.html")
        (chart,) = svgs["find-rate"]
        circles = list(chart.iter(SVG_NS + "circle"))
        crosses = [p for p in chart.iter(SVG_NS + "path") if p.get("d", "").startswith("M")]
        self.assertEqual((len(circles), len(crosses)), (len(passing), len(failing)))
        slo = [line for line in chart.iter(SVG_NS + "polyline") if "slo" in line.get("class", "").split()]
        self.assertEqual(len(slo), 1)
        self.assertIn("p99 <= 50.00ms", text)
        self.assertIn("Steps, in the order they ran", text)
        # The highest passing step in full, as a run of its own.
        self.assertIn("throughput", svgs)

    def test_usage(self):
        for args, option in (
            (["--find-rate", "-n", "100"], "--messages"),
            (["--find-rate", "--merge", "a.json"], "--merge"),
            (["--find-rate", "--ping"], "--ping"),
            (["--find-rate", "--slo", "p95=1000"], "--slo"),
            (["--find-rate", "--slo", "p99=abc"], "--slo"),
            (["--find-rate", "--step-duration", "0"], "--step-duration"),
            (["--slo", "p99=1000"], "--slo"),
            (["--step-duration", "1"], "--step-duration"),
            (["--find-rate", "--histogram-out", "x.json"], "--histogram-out"),
        ):
            with self.subTest(args=args):
                r = run_echobench(*args, timeout=10)
                self.assertEqual(r.returncode, 2)
                self.assertEqual(r.stdout, b"")
                err = r.stderr.decode()
                self.assertEqual(err.count("\n"), 1, err)
                self.assertTrue(err.startswith(f"echobench: {option}"), err)
                self.assertIn(HINT, err)


def main():
    global ECHOBENCH, ECHOD
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ECHOBENCH, ECHOD = sys.argv[1], sys.argv[2]
    loader = unittest.TestLoader()
    module = sys.modules[__name__]
    names = sys.argv[3:]
    suite = loader.loadTestsFromNames(names, module) if names else loader.loadTestsFromModule(module)
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
