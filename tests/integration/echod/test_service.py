"""echod as a service: several listen addresses, the stats line (SIGUSR1,
--stats-interval) and the Prometheus metrics file.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_service.py /path/to/echod
"""
import os
import re
import signal
import socket
import subprocess
import tempfile
import time

import harness
from harness import EchodTestCase, metrics, recv_exactly, wait_until

READY = re.compile(r"listening on (\[[^\]]+\]|[0-9.]+):(\d+)")


def ready_addresses(d, count, timeout=10.0):
    """The (host, port) of the first `count` ready lines."""
    found = []

    def enough():
        found[:] = [READY.search(line) for line in d.lines if READY.search(line)]
        return len(found) >= count
    wait_until(enough, timeout, f"{count} ready lines")
    return [(m.group(1).strip("[]"), int(m.group(2))) for m in found[:count]]


def echo_once(host, port, data=b"hello"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(data)
        return recv_exactly(s, len(data), time.monotonic() + 10)


class SeveralListeners(EchodTestCase):
    def test_each_address_gets_a_ready_line_and_echoes(self):
        d = self.start("--listen", "127.0.0.1", "--listen", "::1")
        addresses = ready_addresses(d, 2)
        self.assertEqual([host for host, _ in addresses], ["127.0.0.1", "::1"])
        for host, port in addresses:
            with self.subTest(host=host):
                self.assertEqual(echo_once(host, port), b"hello")
        self.assert_clean_stop(d)
        self.assertFalse(any("listening on" in line for line in d.lines[2:]))

    def test_a_second_listener_that_cannot_bind_fails_the_start(self):
        with self.start() as first:
            port = first.port
            # ::1 binds, then 127.0.0.1 is taken: the start fails as a whole.
            proc = subprocess.run([self.binary, "--port", str(port), "-l", "::1", "-l", "127.0.0.1"],
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            err = proc.stderr.decode()
            self.assertIn(f"listening on [::1]:{port}", err)
            self.assertIn(f"cannot listen on 127.0.0.1:{port}", err)
            self.assertIn("address already in use", err)


class Stats(EchodTestCase):
    def test_sigusr1_logs_one_stats_line(self):
        d = self.start()
        s = self.client(d)
        s.sendall(b"x" * 1000)
        recv_exactly(s, 1000, time.monotonic() + 10)
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ")
        self.assertIn("stats: 1 connections (0 paused)", line)
        self.assertIn("1 accepted", line)
        self.assertIn("1000 bytes in, 1000 bytes out", line)
        s.close()
        self.assert_clean_stop(d)  # SIGUSR1 did not stop it

    def test_stats_interval_logs_periodically_with_rates(self):
        d = self.start("--stats-interval", "0.2", "-q")  # stats lines show at every level
        first = d.wait_for_line(r"stats: ")
        index = d.lines.index(first)
        second = d.wait_for_line(r"stats: ", start=index + 1)
        self.assertRegex(second, r"last 0\.[0-9] s: [0-9.]+ accepts/s, [0-9]+ B/s in, [0-9]+ B/s out")
        self.assert_clean_stop(d)

    def test_paused_connections_are_counted(self):
        d = self.start("--buffer-size", "16K")
        s = self.client(d)
        s.setblocking(False)
        sent = 0
        deadline = time.monotonic() + 20
        # Send without reading until the ring is full and echod stops reading.
        while time.monotonic() < deadline:
            try:
                sent += s.send(b"z" * 65536)
            except BlockingIOError:
                d.signal(signal.SIGUSR1)
                try:
                    line = d.wait_for_line(r"stats: 1 connections \(1 paused\)", timeout=0.5,
                                           start=len(d.lines))
                    break
                except AssertionError:
                    continue
        else:
            self.fail("echod never reported the connection paused:\n" + d.stderr_text())
        self.assertIn("1 rings in use", line)
        s.setblocking(True)
        recv_exactly(s, sent, time.monotonic() + 20)  # every byte still comes back
        s.close()
        self.assert_clean_stop(d)


class UdpEcho(EchodTestCase):
    def udp_roundtrip(self, host, port, payloads):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            s.settimeout(5)
            got = []
            for payload in payloads:
                s.sendto(payload, (host, port))
                data, sender = s.recvfrom(1 << 17)
                self.assertEqual(sender[1], port)
                got.append(data)
            return got

    def test_off_by_default(self):
        d = self.start()
        self.assertFalse(any("udp" in line for line in d.lines))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.3)
            s.sendto(b"anyone?", (d.host, d.port))
            with self.assertRaises((socket.timeout, ConnectionRefusedError)):
                s.recvfrom(100)
        self.assert_clean_stop(d)

    def test_each_datagram_comes_back_whole_over_ipv4_and_ipv6(self):
        d = self.start("--udp", "--listen", "127.0.0.1", "--listen", "::1")
        addresses = ready_addresses(d, 2)
        d.wait_for_line(r"udp echo on \[::1\]:")
        payloads = [b"", b"x", os.urandom(1400), os.urandom(9000), os.urandom(65507)]
        for host, port in addresses:
            with self.subTest(host=host):
                # The largest IPv6 UDP payload without jumbograms is 65527;
                # 65507 is the IPv4 limit and fits both.
                self.assertEqual(self.udp_roundtrip(host, port, payloads), payloads)
        # TCP on the same port still echoes.
        for host, port in addresses:
            self.assertEqual(echo_once(host, port), b"hello")
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ")
        self.assertIn(f"udp {2 * len(payloads)} in, {2 * len(payloads)} out, 0 dropped", line)
        self.assert_clean_stop(d)

    def test_the_ready_line_comes_after_the_udp_socket_is_serving(self):
        # Whoever reads the ready line may send a datagram at once: the UDP
        # socket on that port must already be bound and reading. The order of
        # the lines says so every time; the datagrams catch a race it misses.
        for attempt in range(30):
            with self.subTest(attempt=attempt):
                d = self.start("--udp")
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(5)
                    s.sendto(b"first", (d.host, d.port))
                    self.assertEqual(s.recvfrom(100)[0], b"first")
                udp_line = next(i for i, line in enumerate(d.lines) if "udp echo on" in line)
                ready_line = next(i for i, line in enumerate(d.lines) if "listening on" in line)
                self.assertLess(udp_line, ready_line, d.stderr_text())
                self.assert_clean_stop(d)

    def test_udp_port_taken_fails_the_start(self):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            # Below the ephemeral range and free for TCP: only UDP is taken.
            port = harness.free_port()
            taken.bind(("127.0.0.1", port))
            proc = subprocess.run([self.binary, "--port", str(port), "--udp"], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=10)
            self.assertEqual(proc.returncode, 1, proc.stderr)
            self.assertIn(f"cannot serve UDP on 127.0.0.1:{port}: bind: address already in use",
                          proc.stderr.decode())


class ConfigFile(EchodTestCase):
    EXAMPLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools", "echod.conf")

    def test_the_example_file_is_valid_and_says_the_defaults(self):
        # Every option is in it, commented out: echod reads it as empty.
        d = self.start("--config", self.EXAMPLE)
        self.assertRegex(d.ready_line, r"backlog 511, buffer 64KiB, reuseaddr on")
        self.assert_clean_stop(d)
        help_text = subprocess.run([self.binary, "--help"], capture_output=True, text=True).stdout
        with open(self.EXAMPLE) as f:
            keys = set(re.findall(r"^#([a-z-]+) =", f.read(), re.M))
        options = set(re.findall(r"--([a-z-]+)", help_text))
        self.assertEqual(keys, options - {"no-reuseaddr", "verbose", "quiet", "help", "version", "config"})

    def test_file_values_apply_and_the_command_line_wins(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "echod.conf")
            with open(path, "w") as f:
                f.write("# test\nbacklog = 64\nbuffer-size = 4K\nreuseaddr = false\nport = 1\n")
            # The harness passes --port 0 first, the file says 1: the command line wins.
            d = self.start("--config", path, "--buffer-size", "8K")
            self.assertRegex(d.ready_line, r"backlog 64, buffer 8KiB, reuseaddr off")
            self.assertNotEqual(d.port, 1)
            self.assert_echoes(d)
            self.assert_clean_stop(d)

    def test_bad_key_or_value_is_one_line_exit_2(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.conf")
            for text, message in (("port = 7007\nbakclog = 5\n", f"echod: {path}:2: 'bakclog': unknown key"),
                                  ("backlog = 0\n", f"echod: {path}:1: backlog: 0 is out of range 1..65535")):
                with self.subTest(text=text):
                    with open(path, "w") as f:
                        f.write(text)
                    proc = subprocess.run([self.binary, "--config", path], stdin=subprocess.DEVNULL,
                                          capture_output=True, text=True, timeout=10)
                    self.assertEqual(proc.returncode, 2)
                    self.assertEqual(proc.stdout, "")
                    self.assertEqual(proc.stderr, message + " (see 'echod --help')\n")
            proc = subprocess.run([self.binary, "--config", os.path.join(tmp, "missing.conf")],
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
            self.assertEqual(proc.returncode, 2)
            self.assertIn("--config: cannot read", proc.stderr)


def fds_to_3(sockets):
    """A preexec_fn that puts the sockets on fds 3, 4, ... in the child, as
    systemd does (via high numbers first, so no move clobbers another)."""
    fds = [s.fileno() for s in sockets]

    def move():
        high = [os.dup2(fd, 100 + i) for i, fd in enumerate(fds)]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
            os.set_inheritable(3 + i, True)
            os.close(fd)
    return move


def activation_wrapper(test, binary, count):
    """A script that execs echod with LISTEN_PID set to its own pid ($$ is
    kept across exec) and LISTEN_FDS=count: what systemd does."""
    tmp = tempfile.mkdtemp()
    test.addCleanup(lambda: (os.remove(path), os.rmdir(tmp)))
    path = os.path.join(tmp, "activate")
    with open(path, "w") as f:
        f.write(f'#!/bin/sh\nLISTEN_PID=$$ LISTEN_FDS={count} LISTEN_FDNAMES=echod exec "{binary}" "$@"\n')
    os.chmod(path, 0o755)
    return path


class Systemd(EchodTestCase):
    def start_with(self, binary, *args, **kwargs):
        d = harness.Echod(binary, *args, **kwargs)
        self.addCleanup(d.__exit__, None, None, None)
        return d

    def listening_socket(self, family=socket.AF_INET, host="127.0.0.1"):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, 0))
        s.listen(16)
        self.addCleanup(s.close)
        return s

    def test_socket_activation_adopts_fd_3_and_more(self):
        v4 = self.listening_socket()
        v6 = self.listening_socket(socket.AF_INET6, "::1")
        wrapper = activation_wrapper(self, self.binary, 2)
        d = self.start_with(wrapper, preexec_fn=fds_to_3([v4, v6]), pass_fds=(3, 4))
        addresses = ready_addresses(d, 2)
        self.assertEqual(addresses, [("127.0.0.1", v4.getsockname()[1]), ("::1", v6.getsockname()[1])])
        self.assertIn("socket-activated fd 3", d.ready_line)
        d.wait_for_line(r"socket-activated fd 4")
        for host, port in addresses:
            self.assertEqual(echo_once(host, port), b"hello")
        # The inherited sockets were made close-on-exec.
        for fd in (3, 4):
            with open(f"/proc/{d.pid}/fdinfo/{fd}") as f:
                flags = int(re.search(r"flags:\s+(\d+)", f.read()).group(1), 8)
            self.assertTrue(flags & 0o2000000, f"fd {fd} is not close-on-exec")
        self.assert_clean_stop(d)

    def test_under_systemd_socket_activate(self):
        # systemd's own tool: it listens, and on the first connection execs
        # echod in its place with the socket on fd 3 and LISTEN_PID set.
        proc, port, client = self.socket_activated()
        with client:
            client.sendall(b"activated")
            self.assertEqual(recv_exactly(client, 9, time.monotonic() + 10), b"activated")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        err = proc.stderr.read().decode()
        self.assertIn(f"listening on 127.0.0.1:{port} (backlog 511, buffer 64KiB, socket-activated fd 3", err)
        self.assertIn("stopped: 1 connections served, 9 bytes echoed", err)

    def test_a_datagram_socket_is_refused(self):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        self.addCleanup(udp.close)
        proc = subprocess.run([activation_wrapper(self, self.binary, 1)], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=10, preexec_fn=fds_to_3([udp]),
                              pass_fds=(3,))
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("cannot listen on inherited fd 3: not a TCP socket", proc.stderr)

    def test_variables_for_another_pid_are_ignored(self):
        d = self.start(env=dict(os.environ, LISTEN_PID="1", LISTEN_FDS="1"))
        self.assertIn("listening on 127.0.0.1:", d.ready_line)
        self.assert_echoes(d)
        self.assert_clean_stop(d)

    def test_notify_ready_then_stopping(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "notify")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
                notify.bind(path)
                notify.settimeout(10)
                d = self.start(env=dict(os.environ, NOTIFY_SOCKET=path))
                self.assertEqual(notify.recv(4096), b"READY=1")
                d.signal(signal.SIGTERM)
                self.assertEqual(notify.recv(4096), b"STOPPING=1")
                self.assertEqual(d.wait(10), 0)

    def test_notify_to_a_missing_socket_only_warns(self):
        d = self.start(env=dict(os.environ, NOTIFY_SOCKET="/nonexistent/notify"))
        d.wait_for_line(r"warn: systemd notify: sendto /nonexistent/notify: ")
        self.assert_echoes(d)
        self.assert_clean_stop(d)


class MetricsFile(EchodTestCase):
    def test_metrics_file_is_written_whole_and_updated(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "echod.prom")
            d = self.start("--metrics-file", path, "--stats-interval", "0.1")
            wait_until(lambda: os.path.exists(path), 10, "the metrics file")
            self.assertEqual(metrics(path)["echod_connections_accepted_total"], 0)
            echo_once(d.host, d.port, b"y" * 4096)
            wait_until(lambda: metrics(path).get("echod_sent_bytes_total") == 4096, 10,
                       "the metrics file to count the echo")
            m = metrics(path)
            self.assertEqual(m["echod_connections_accepted_total"], 1)
            self.assertEqual(m["echod_received_bytes_total"], 4096)
            self.assertEqual(m["echod_ring_size_bytes"], 65536)
            with open(path) as f:
                text = f.read()
            self.assertIn("# TYPE echod_connections gauge\n", text)
            self.assertIn("# TYPE echod_sent_bytes_total counter\n", text)
            self.assertFalse(os.path.exists(path + ".tmp"))
            self.assert_clean_stop(d)

    def test_a_metrics_file_that_becomes_unwritable_is_a_warning_not_a_crash(self):
        # Unwritable at start is exit 1 (test_cli.py, BadFiles); its directory
        # going away later costs a warning per interval, not the echo.
        with tempfile.TemporaryDirectory() as tmp:
            gone = os.path.join(tmp, "gone")
            os.mkdir(gone)
            path = os.path.join(gone, "echod.prom")
            d = self.start("--metrics-file", path, "--stats-interval", "0.1")
            wait_until(lambda: os.path.exists(path), 5, "the first metrics file")
            os.remove(path)
            os.rmdir(gone)
            d.wait_for_line(r"warn: --metrics-file: .*echod\.prom.*No such file or directory")
            self.assert_echoes(d)
            self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
