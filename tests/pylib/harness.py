"""Shared helpers for the integration tests: start the real echod on
--port 0, find its port from the ready line, stop it by PID; plus socket and
/proc helpers the tests share.

Standard library only. Every wait here is bounded.
"""
import fcntl
import os
import random
import re
import resource
import shlex
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import unittest

READY = re.compile(r"listening on (\[[^\]]+\]|[0-9.]+):(\d+)")
# The ready line of a Unix socket listener (--listen unix:PATH).
UNIX_READY = re.compile(r"listening on unix:(.*) \(backlog ")
# --metrics-listen's line, logged before the ready line (under --workers, by
# the parent, before any worker's).
METRICS_READY = re.compile(r"metrics on http://(\[[^\]]+\]|[0-9.]+):(\d+)/metrics")

# The end of every usage error line (exit 2).
HINT = "(see 'echod --help')"

# Sanitizer reports in echod's stderr (ASan, LSan, UBSan).
SANITIZER = re.compile(r"Sanitizer|runtime error:")

# ECHOD_WRAPPER: a command every echod these tests start runs under, e.g.
# "valgrind --error-exitcode=99 -q ..." (meson test --setup valgrind). Empty:
# echod runs as is. Under a wrapper, the wrapper's verdict is checked when
# each echod ends (its --error-exitcode, and any "==PID== " report line it
# writes to echod's stderr), and the checks listed in wrapper_skips.py (CPU,
# RSS: what the wrapper itself distorts) are skipped, loudly.
WRAPPER = shlex.split(os.environ.get("ECHOD_WRAPPER", ""))
_code = [a.split("=", 1)[1] for a in WRAPPER if a.startswith("--error-exitcode=")]
WRAPPER_ERROR_STATUS = int(_code[-1]) if _code else None
# valgrind's lines start "==PID== "; its -q mode prints errors only, apart
# from "Warning:" lines (e.g. about large allocations), which are not errors.
WRAPPER_REPORT = re.compile(r"^==\d+== (?!Warning:)")
# The wrapper slows echod down: startup and exit waits stretch by this much.
WRAPPER_SLOWDOWN = 3.0 if WRAPPER else 1.0


def echod_command(binary, *args):
    """The argv that runs echod (binary) with args, under ECHOD_WRAPPER if set."""
    return [*WRAPPER, binary, *args]


def wrapper_problems(status, lines):
    """What the wrapper reported about one echod run: its error exit status
    and report lines ([] when clean, or without a wrapper)."""
    if not WRAPPER:
        return []
    problems = [line for line in lines if WRAPPER_REPORT.search(line)]
    if WRAPPER_ERROR_STATUS is not None and status == WRAPPER_ERROR_STATUS:
        problems.insert(0, f"{WRAPPER[0]}: exit status {status} (errors found)")
    return problems


class Echod:
    """A running echod. Use as a context manager; stops (SIGKILL if it must)
    the process it started, by PID, on exit.

    args come after "--port 0", so a "--port N" among them overrides it.
    Ready at its first ready line: host and port are the first IP
    listener's (None before one), unix_paths the Unix sockets' so far."""

    def __init__(self, binary, *args, ready_timeout=10.0, **popen_kwargs):
        self.binary = binary
        self.args = list(args)
        ready_timeout *= WRAPPER_SLOWDOWN
        self.proc = subprocess.Popen(
            echod_command(binary, "--port", "0", *self.args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **popen_kwargs,
        )
        self.lines = []  # every stderr line so far
        self.ready_line = None
        self._ready = threading.Event()
        self.host = None
        self.port = None
        self.unix_paths = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()
        if not self._ready.wait(ready_timeout):
            self.kill()
            raise RuntimeError(f"echod did not print a ready line: {self.lines!r}")
        if self.port is None and not self.unix_paths:
            self.kill()
            raise RuntimeError(f"echod exited before listening: {self.lines!r}")

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            m = READY.search(line)
            if m and self.port is None:
                self.ready_line = line
                self.host = m.group(1).strip("[]")
                self.port = int(m.group(2))
                self._ready.set()
            u = UNIX_READY.search(line)
            if u:
                if self.ready_line is None:
                    self.ready_line = line
                self.unix_paths.append(u.group(1))
                self._ready.set()
        self._ready.set()  # EOF: exited

    @property
    def pid(self):
        return self.proc.pid

    @property
    def family(self):
        if self.host is None:
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def connect(self, timeout=10.0, rcvbuf=None):
        """A connected client, to the first IP listener (or the first Unix
        socket when there is none); rcvbuf sets SO_RCVBUF before connecting
        (a small one keeps echod's echo from draining into the client)."""
        s = socket.socket(self.family, socket.SOCK_STREAM)
        if rcvbuf is not None:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect(self.unix_paths[0] if self.host is None else (self.host, self.port))
        return s

    def signal(self, signum):
        self.proc.send_signal(signum)

    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=10.0):
        """Exit status; raises subprocess.TimeoutExpired if still running."""
        rc = self.proc.wait(timeout)
        self._reader.join(timeout)
        return rc

    def stderr_text(self):
        return "\n".join(self.lines)

    def metrics_address(self):
        """(host, port) of the --metrics-listen endpoint from its line, or
        None without one."""
        for line in self.lines:
            m = METRICS_READY.search(line)
            if m:
                return m.group(1).strip("[]"), int(m.group(2))
        return None

    def wait_for_line(self, pattern, timeout=10.0, start=0):
        """The first stderr line from index start on that matches the regex
        pattern; raises AssertionError after timeout."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[start:]:
                if rx.search(line):
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(f"no stderr line matching {pattern!r} within {timeout} s:\n"
                                     + self.stderr_text())
            time.sleep(0.01)

    def wait_for_stats(self, pattern, timeout=10.0):
        """Asks for a stats line (SIGUSR1) every 0.2 s until one matches the
        regex pattern, and returns it; AssertionError after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            start = len(self.lines)
            self.signal(signal.SIGUSR1)
            try:
                return self.wait_for_line(pattern, timeout=0.2, start=start)
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise

    def sanitizer_reports(self):
        """Sanitizer report lines, and the wrapper's (valgrind's) if any."""
        return [line for line in self.lines if SANITIZER.search(line)
                or (WRAPPER and WRAPPER_REPORT.search(line))]

    def summary_line(self):
        """The shutdown summary line ("stopped: ..."), or None before it."""
        for line in self.lines:
            if "stopped:" in line:
                return line
        return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self, timeout=10.0):
        """SIGTERM, then wait; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.wait(timeout * WRAPPER_SLOWDOWN)
        finally:
            self.kill()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if WRAPPER and self.proc.poll() is None:
            # SIGTERM, not SIGKILL: the wrapper's exit checks (valgrind's
            # leak check) run only when echod exits by itself.
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        self.kill()
        self.proc.stdout.close()
        self._reader.join(10)  # EOF follows the exit
        if not self._reader.is_alive():
            self.proc.stderr.close()
        problems = wrapper_problems(self.proc.returncode, self.lines)
        if problems:
            message = f"{WRAPPER[0]} reported errors in echod {' '.join(self.args)}:\n" + self.stderr_text()
            if exc[0] is None:
                raise AssertionError(message)
            print(message, file=sys.stderr)  # do not hide the exception in flight
        return False


# ---------------------------------------------------------------- /proc


def children(pid):
    """The PIDs of pid's children (Linux /proc, CONFIG_PROC_CHILDREN): a
    --workers parent's workers."""
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return sorted(int(p) for p in f.read().split())


def rss_kib(pid):
    """Resident set size of pid in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def sanitized(pid):
    """True when pid runs with AddressSanitizer (tools/test --sanitize),
    whose shadow memory adds an eighth to every byte echod touches."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_seconds(pid):
    """User + system CPU time of pid so far, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid, seconds):
    """The fraction of one CPU that pid used over the next `seconds` (a
    busy loop shows as ~1.0). Sleeps: it measures an interval."""
    before = cpu_seconds(pid)
    started = time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}


def tcp_sockets(port=None):
    """Every TCP socket of this network namespace (IPv4 and IPv6) as dicts
    with local_port, remote_port, state (name), tx_queue, rx_queue;
    only those with local or remote port == port if given."""
    result = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                rows = f.readlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            cols = row.split()
            local, remote, st, queues = cols[1], cols[2], cols[3], cols[4]
            lport = int(local.rsplit(":", 1)[1], 16)
            rport = int(remote.rsplit(":", 1)[1], 16)
            tx, rx = (int(q, 16) for q in queues.split(":"))
            if port is not None and port not in (lport, rport):
                continue
            result.append({"local_port": lport, "remote_port": rport,
                           "state": TCP_STATES.get(st, st), "tx_queue": tx, "rx_queue": rx})
    return result


# ---------------------------------------------------------------- waiting


def wait_until(condition, timeout, message="condition", interval=0.01):
    """Polls condition() until it returns a true value (returned) or the
    timeout passes (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {message}")
        time.sleep(interval)


# ---------------------------------------------------------------- ports


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port that was free a moment ago, chosen below the ephemeral range so
    that no client socket (of this or a parallel test) takes it meanwhile."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError):
        ephemeral_low = 32768
    rng = random.Random()
    for _ in range(100):
        port = rng.randrange(10000, max(10001, ephemeral_low))
        with socket.socket(family, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        if not tcp_sockets(port):  # not even a TIME_WAIT on it
            return port
    raise RuntimeError("no free port found")


# ---------------------------------------------------------------- sockets


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


def recv_until_eof(sock, deadline, limit=1 << 30):
    """Everything until an orderly EOF. A reset raises ConnectionResetError
    (the caller decides if that is a failure), a timeout socket.timeout."""
    chunks = []
    got = 0
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        got += len(chunk)
        if got > limit:
            raise AssertionError(f"more than {limit} bytes before EOF")


def recv_until_closed(sock, deadline):
    """Reads and drops whatever arrives until the peer closes. Returns
    ("eof" or "reset", bytes dropped); TimeoutError at the deadline."""
    dropped = 0
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return "reset", dropped
        if not chunk:
            return "eof", dropped
        dropped += len(chunk)


def recv_to_the_end(sock, deadline, limit=1 << 30):
    """Everything until the peer closes, kept (unlike recv_until_closed):
    ("eof" or "reset", the bytes received before). TimeoutError at the
    deadline."""
    chunks = []
    got = 0
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return "reset", b"".join(chunks)
        if not chunk:
            return "eof", b"".join(chunks)
        chunks.append(chunk)
        got += len(chunk)
        if got > limit:
            raise AssertionError(f"more than {limit} bytes before the end")


# struct tcp_info (linux/tcp.h): tcpi_data_segs_in, a __u32 at byte 152
# (after 8 __u8 fields, 24 __u32 and 4 __u64; offsetof checked against
# /usr/include/linux/tcp.h).
TCP_INFO_DATA_SEGS_IN = 152


def data_segments_in(sock):
    """Segments carrying data this TCP socket has received so far
    (TCP_INFO's tcpi_data_segs_in, Linux 4.6+): how many writes of the peer
    arrived apart, whatever the reads made of them."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    if len(info) < TCP_INFO_DATA_SEGS_IN + 4:
        raise RuntimeError(f"TCP_INFO of {len(info)} bytes has no tcpi_data_segs_in")
    return struct.unpack_from("I", info, TCP_INFO_DATA_SEGS_IN)[0]


def close_with_reset(sock):
    """close() that sends RST instead of FIN (SO_LINGER on, 0 s)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def send_until_blocked(sock, limit, stall=0.5, chunk=1 << 20, data=None):
    """Sends (non-blocking) until limit bytes are out or the socket stays
    unwritable for `stall` seconds. Returns the bytes sent; with data, sends
    data's bytes in order (len(data) >= limit)."""
    sock.setblocking(False)
    sent = 0
    zeros = memoryview(bytes(chunk))
    try:
        while sent < limit:
            _, writable, _ = select.select([], [sock], [], stall)
            if not writable:
                return sent
            n = min(chunk, limit - sent)
            view = memoryview(data)[sent:sent + n] if data is not None else zeros[:n]
            try:
                sent += sock.send(view)
            except BlockingIOError:
                continue
        return sent
    finally:
        sock.setblocking(True)


def send_queue(sock):
    """Bytes this socket has not had acknowledged yet (SIOCOUTQ): 0 once the
    peer's kernel has everything sent. An ioctl, unlike tcp_sockets()
    cheap on a machine with many sockets."""
    return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]


def tcp_buffer_max(name):
    """The autotuning maximum of net.ipv4.tcp_rmem or tcp_wmem, in bytes."""
    with open(f"/proc/sys/net/ipv4/{name}") as f:
        return int(f.read().split()[2])


def unread_limit(ring_size):
    """More bytes than one loopback connection can hold while its client
    reads nothing: echod's receive and send buffers and the client's send
    buffer at their autotuning maximum, the client's receive buffer (which
    does not grow unless the client reads) at its default, the ring, and
    8 MiB to spare. A client that writes this much without reading must see
    its writes block, unless echod reads without bound."""
    with open("/proc/sys/net/ipv4/tcp_rmem") as f:
        rmem_default = int(f.read().split()[1])
    return tcp_buffer_max("tcp_rmem") + 2 * tcp_buffer_max("tcp_wmem") + rmem_default + ring_size + (8 << 20)


def fill_until_blocked(sock, ring_size, stall=0.3):
    """Writes zeros without reading until the writes block (echod's ring
    full, reading stopped, every buffer on the way full). Returns the bytes
    sent; AssertionError if the writes never block."""
    limit = unread_limit(ring_size)
    sent = send_until_blocked(sock, limit, stall=stall)
    if sent >= limit:
        raise AssertionError(f"{sent} bytes went out without reading a byte: no backpressure")
    return sent


def first_difference(a, b):
    """A short description of where a and b first differ, or None."""
    if a == b:
        return None
    n = min(len(a), len(b))
    block = 1 << 16  # compare blocks first, then bytes in the first bad one
    for start in range(0, n, block):
        if a[start:start + block] != b[start:start + block]:
            for i in range(start, min(n, start + block)):
                if a[i] != b[i]:
                    return f"first difference at byte {i} of {len(a)} sent / {len(b)} received"
    return f"lengths differ: {len(a)} sent, {len(b)} received (common prefix equal)"


def echo_roundtrip(sock, data, timeout, max_fragment=1 << 16, seed=0):
    """Sends data in random-size fragments from a writer thread while this
    thread reads; returns what came back (len(data) bytes, or raises). Neither
    direction blocks the other."""
    rng = random.Random(seed)
    errors = []
    deadline = time.monotonic() + timeout
    sock.settimeout(timeout)

    def writer():
        try:
            view = memoryview(data)
            pos = 0
            while pos < len(view):
                n = rng.randint(1, max_fragment)
                sock.sendall(view[pos:pos + n])
                pos += n
        except Exception as e:  # reported by the reader's caller
            errors.append(e)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        received = recv_exactly(sock, len(data), deadline)
    finally:
        t.join(max(0.1, deadline - time.monotonic()))
    if errors:
        raise errors[0]
    if t.is_alive():
        raise AssertionError("writer thread still running after the echo completed")
    return received


def random_bytes(n, seed):
    """n pseudo-random bytes, reproducible from seed (fast: no os.urandom)."""
    return random.Random(seed).randbytes(n)


def parse_metrics(text):
    """{series: value} of the samples in Prometheus text (0.0.4)."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, value = line.split()
        samples[name] = float(value)
    return samples


def metrics(path):
    """{series: value} of the samples in a Prometheus text file (--metrics-file)."""
    with open(path) as f:
        return parse_metrics(f.read())


# ---------------------------------------------------------------- processes


def run_echod(binary, *args, timeout=10.0):
    """Runs echod to completion (for option errors, --help, bind failures):
    CompletedProcess with text stdout/stderr. Under a wrapper, its report
    fails here (AssertionError)."""
    r = subprocess.run(echod_command(binary, *args), stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout * WRAPPER_SLOWDOWN)
    problems = wrapper_problems(r.returncode, r.stderr.splitlines())
    if problems:
        raise AssertionError(f"{WRAPPER[0]} reported errors in echod {' '.join(args)}:\n{r.stderr}")
    return r


def run_echobench(binary, *args, timeout=30.0, **run_kwargs):
    """Runs echobench to completion: CompletedProcess with bytes stdout and
    stderr. Under ASan/UBSan a report could hide behind an expected exit
    status (1 for a failed run), so any report fails here (AssertionError)."""
    if "input" not in run_kwargs:
        run_kwargs.setdefault("stdin", subprocess.DEVNULL)
    r = subprocess.run([binary, *map(str, args)], capture_output=True, timeout=timeout, **run_kwargs)
    if SANITIZER.search(r.stderr.decode(errors="replace")):
        raise AssertionError(f"sanitizer report from echobench {args}: {r.stderr.decode(errors='replace')}")
    return r


def echobench_beside(binary):
    """The echobench built beside echod (binary): the echod tests get only
    echod's path, and meson builds both into the same directory."""
    path = os.path.join(os.path.dirname(os.path.abspath(binary)), "echobench")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"no echobench beside {binary} (build it: ninja echobench)")
    return path


def skip_under_wrapper(test, what):
    """For a check the wrapper distorts (CPU time, RSS): under a wrapper,
    prints that the check is skipped and returns True; else False."""
    if not WRAPPER:
        return False
    print(f"\n*** {WRAPPER[0]}: SKIPPED CHECK in {test.id()}: {what}", file=sys.stderr, flush=True)
    return True


def apply_wrapper_skips(module):
    """Under a wrapper, marks the tests wrapper_skips.SKIPS names (in
    module's TestCase classes) as skipped, and says so on stderr."""
    if not WRAPPER:
        return
    from wrapper_skips import SKIPS
    for name, reason in SKIPS.items():
        cls_name, _, test_name = name.partition(".")
        cls = getattr(module, cls_name, None)
        if cls is None or not hasattr(cls, test_name):
            continue
        print(f"*** {WRAPPER[0]}: SKIPPED TEST {cls_name}.{test_name}: {reason}", file=sys.stderr, flush=True)
        setattr(cls, test_name, unittest.skip(f"under {WRAPPER[0]}: {reason}")(getattr(cls, test_name)))


def limit_nofile(n):
    """A preexec_fn that sets RLIMIT_NOFILE to n in the child."""
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
    return apply


class EchodTestCase(unittest.TestCase):
    """Base class: knows the binary and checks clean stops."""

    binary = None  # set by main()

    def start(self, *args, **kwargs):
        """An Echod that is killed when the test ends, whatever happens."""
        d = Echod(self.binary, *args, **kwargs)
        self.addCleanup(d.__exit__, None, None, None)
        return d

    def client(self, d, timeout=10.0):
        """d.connect(), closed when the test ends."""
        s = d.connect(timeout)
        self.addCleanup(s.close)
        return s

    def socket_activated(self, *args):
        """echod ARGS under systemd's own systemd-socket-activate, on a free
        127.0.0.1 port: it listens, and on the first connection execs echod
        in its place with the socket on fd 3 and LISTEN_PID set. Returns
        (the process, with stderr piped; the port; that first connection).
        The process is killed (if still running) and its stderr closed when
        the test ends."""
        port = free_port()
        proc = subprocess.Popen(["systemd-socket-activate", "-l", f"127.0.0.1:{port}", self.binary, *args],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(10)))
        deadline = time.monotonic() + 10
        while True:
            try:
                client = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except ConnectionRefusedError:
                self.assertLess(time.monotonic(), deadline, "systemd-socket-activate did not listen")
                time.sleep(0.02)
        self.addCleanup(client.close)
        return proc, port, client

    def assert_clean_stop(self, d, timeout=10.0):
        """SIGTERM; echod must exit 0 with a summary line and no sanitizer report."""
        rc = d.stop(timeout)
        self.assertEqual(rc, 0, f"echod exit status {rc}:\n{d.stderr_text()}")
        self.assert_no_sanitizer_report(d)
        self.assertTrue(any("stopped" in line for line in d.lines),
                        f"no summary line:\n{d.stderr_text()}")

    def assert_no_sanitizer_report(self, d):
        self.assertEqual(d.sanitizer_reports(), [], d.stderr_text())

    def assert_one_line_error(self, args, status, *expected):
        """echod --port 0 ARGS must fail at once, without starting: exit
        status, exactly one line on stderr containing each of expected (and
        not too long), nothing on stdout. Returns the line."""
        started = time.monotonic()
        try:
            r = run_echod(self.binary, "--port", "0", *args, timeout=5)
        except subprocess.TimeoutExpired:
            self.fail(f"echod {args} started instead of failing")
        self.assertLess(time.monotonic() - started, 5 * WRAPPER_SLOWDOWN)
        self.assertEqual(r.returncode, status, f"{args}: stderr {r.stderr!r}")
        self.assertEqual(r.stdout, "", f"{args}: wrote to stdout")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"{args}: stderr {r.stderr[:300]!r}")
        self.assertTrue(r.stderr.endswith("\n"), f"{args}: stderr {r.stderr[:300]!r}")
        for part in expected:
            self.assertIn(part, lines[0])
        self.assertLess(len(lines[0]), 300, lines[0][:300])
        self.assertNotIn("listening", lines[0])
        return lines[0]

    def assert_echo(self, sock, data, timeout=30.0, max_fragment=1 << 16, seed=0):
        received = echo_roundtrip(sock, data, timeout, max_fragment=max_fragment, seed=seed)
        diff = first_difference(data, received)
        self.assertIsNone(diff, diff)

    def assert_echoes(self, d, data=b"ping", timeout=10.0):
        """A fresh connection to d echoes data byte-exact."""
        with d.connect(timeout) as s:
            s.sendall(data)
            got = recv_exactly(s, len(data), time.monotonic() + timeout)
            self.assertEqual(got, data)


def main():
    """Runs the calling module's tests: python3 test_x.py /path/to/echod."""
    if len(sys.argv) < 2:
        print(f"usage: {sys.argv[0]} /path/to/echod [unittest args]", file=sys.stderr)
        sys.exit(2)
    binary = os.path.abspath(sys.argv.pop(1))
    if not os.access(binary, os.X_OK):
        print(f"{binary}: not an executable", file=sys.stderr)
        sys.exit(2)
    EchodTestCase.binary = binary
    apply_wrapper_skips(sys.modules["__main__"])
    started = time.monotonic()
    program = unittest.main(module="__main__", verbosity=2, exit=False)
    result = program.result
    print(f"\n{os.path.basename(sys.argv[0])}: {result.testsRun} tests, "
          f"{len(result.failures)} failures, {len(result.errors)} errors, "
          f"{len(result.skipped)} skipped, {len(result.expectedFailures)} expected failures, "
          f"{len(result.unexpectedSuccesses)} unexpected successes "
          f"in {time.monotonic() - started:.1f} s")
    sys.exit(0 if result.wasSuccessful() else 1)
