"""--listen unix:PATH: echo over a Unix stream socket (the same connection:
backpressure, half-close, faults, idle timeout, drain), the socket file's
life (a stale one replaced, a live one or any other file refused, removed
at exit only if still echod's), beside IP listeners, under socket
activation, and echobench -H unix:PATH against it.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_unix_socket.py /path/to/echod
"""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time

import harness
from harness import (EchodTestCase, echobench_beside, random_bytes, recv_exactly, recv_to_the_end,
                     recv_until_eof, run_echobench, send_until_blocked, wait_until)

MIB = 1 << 20


def unix_client(path, timeout=10.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def stale_socket_file(path):
    """Leaves a socket file at path that nobody accepts on (what an echod
    killed with SIGKILL leaves behind): connect() to it is refused."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except ConnectionRefusedError:
            return
    raise AssertionError(f"{path} is not stale")


class UnixSocketCase(EchodTestCase):
    def setUp(self):
        # Short: a socket path holds at most 107 bytes.
        self.dir = tempfile.mkdtemp(prefix="echod-unix-")
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self.path = os.path.join(self.dir, "echod.sock")

    def start_unix(self, *args, **kwargs):
        d = self.start("--listen", f"unix:{self.path}", *args, **kwargs)
        self.assertEqual(d.unix_paths, [self.path], d.stderr_text())
        return d

    def unix_client(self, timeout=10.0):
        s = unix_client(self.path, timeout)
        self.addCleanup(s.close)
        return s

    def assert_listen_error(self, *expected, args=()):
        """echod --listen unix:PATH must fail at once: exit 1, one line."""
        r = harness.run_echod(self.binary, "--port", "0", "--listen", f"unix:{self.path}", *args, timeout=10)
        self.assertEqual(r.returncode, 1, r.stderr)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(f"echod: error: cannot listen on unix:{self.path}: ", lines[0])
        for part in expected:
            self.assertIn(part, lines[0])
        return lines[0]


class Echo(UnixSocketCase):
    def test_echo_and_the_ready_line(self):
        d = self.start_unix()
        self.assertRegex(d.ready_line,
                         rf"listening on unix:{re.escape(self.path)} \(backlog 511, buffer 64KiB, pid {d.pid}\)$")
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))
        s = self.unix_client(timeout=30)
        self.assert_echo(s, random_bytes(4 * MIB, seed=31), timeout=30)
        self.assert_echo(s, b"x")
        s.close()
        self.assert_clean_stop(d)

    def test_many_connections_and_the_debug_log(self):
        d = self.start_unix("-v")
        clients = [self.unix_client() for _ in range(50)]
        for i, s in enumerate(clients):
            s.sendall(f"connection {i}".encode())
        for i, s in enumerate(clients):
            msg = f"connection {i}".encode()
            self.assertEqual(recv_exactly(s, len(msg), time.monotonic() + 10), msg)
        # A Unix socket's peer is named by its pid.
        d.wait_for_line(rf"accepted pid {os.getpid()} \(uid {os.getuid()}\) -> unix:{re.escape(self.path)}$")
        for s in clients:
            s.close()
        d.wait_for_line(r"closed after echoing 13 bytes")
        self.assert_clean_stop(d)

    def test_backpressure_every_byte_back(self):
        # A client that does not read: echod's ring fills, it stops reading
        # (the stats say paused), the client's writes block; once it reads,
        # echod resumes and every byte comes back in order.
        d = self.start_unix("--buffer-size", "16K")
        total = 64 * MIB
        data = random_bytes(total, seed=32)
        s = self.unix_client(timeout=30)
        sent = send_until_blocked(s, total, stall=0.5, data=data)
        self.assertLess(sent, total, "every byte went out without reading one: no backpressure")
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ")
        self.assertIn("stats: 1 connections (1 paused)", line)
        self.assertIn("1 rings in use", line)

        errors = []

        def writer():
            try:
                s.sendall(memoryview(data)[sent:])
            except Exception as e:  # reported below
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        got = recv_exactly(s, total, time.monotonic() + 60)
        t.join(10)
        self.assertFalse(errors, errors)
        diff = harness.first_difference(data, got)
        self.assertIsNone(diff, diff)
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ", start=d.lines.index(line) + 1)
        self.assertIn("(0 paused)", line)
        s.close()
        self.assert_clean_stop(d)

    def test_half_close_all_bytes_then_eof(self):
        d = self.start_unix()
        s = self.unix_client(timeout=30)
        data = random_bytes(3 * MIB + 7, seed=33)
        t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)), daemon=True)
        t.start()
        got = recv_until_eof(s, time.monotonic() + 30)  # a reset would raise
        t.join(10)
        self.assertEqual(len(got), len(data))
        self.assertEqual(got, data)
        self.assert_clean_stop(d)

    def test_idle_timeout(self):
        d = self.start_unix("--idle-timeout", "0.3", "-v")
        s = self.unix_client()
        self.assert_echo(s, b"before")
        self.assertEqual(recv_to_the_end(s, time.monotonic() + 5)[0], "eof")
        d.wait_for_line(r"closing a connection idle for")
        self.assert_clean_stop(d)

    def test_drain_half_closes_then_waits_for_the_peer(self):
        d = self.start_unix()
        s = self.unix_client()
        self.assert_echo(s, b"held open")
        d.signal(signal.SIGTERM)
        self.assertEqual(recv_until_eof(s, time.monotonic() + 5), b"")  # echod's FIN
        d.wait_for_line(r"draining 1 connection")
        self.assertTrue(d.running(), "echod exited before its peer closed")
        s.close()
        self.assertEqual(d.wait(10), 0, d.stderr_text())
        self.assertFalse(os.path.exists(self.path), "the socket file outlived echod")


class Proxy(UnixSocketCase):
    def test_a_proxy_header_over_a_unix_socket(self):
        # HAProxy's `server ... unix@PATH send-proxy`: the header is read and
        # never echoed; one that carries no address logs the socket's peer.
        d = self.start_unix("--proxy-protocol", "-v")
        with unix_client(self.path) as s:
            s.sendall(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\nhello")
            self.assertEqual(recv_exactly(s, 5, time.monotonic() + 5), b"hello")
        d.wait_for_line(r"accepted 192\.0\.2\.1:56324 -> 198\.51\.100\.7:7007 \(PROXY v1\)")
        with unix_client(self.path) as s:
            s.sendall(b"PROXY UNKNOWN\r\nhi")
            self.assertEqual(recv_exactly(s, 2, time.monotonic() + 5), b"hi")
        d.wait_for_line(rf"accepted pid {os.getpid()} \(uid {os.getuid()}\) -> unix:{re.escape(self.path)} "
                        r"\(PROXY v1 without a client address\)")
        with unix_client(self.path) as s:
            s.sendall(b"no header")
            self.assertEqual(recv_to_the_end(s, time.monotonic() + 5)[1], b"")
        d.wait_for_line(rf"PROXY header from pid {os.getpid()} \(uid {os.getuid()}\) -> unix:{re.escape(self.path)}: ")
        self.assert_clean_stop(d)


class Faults(UnixSocketCase):
    def test_slice_and_reset(self):
        # reset= on a Unix socket: no RST exists there; echod closes.
        d = self.start_unix("--fault", "slice=7", "--fault", "reset=100")
        s = self.unix_client()
        s.sendall(bytes(range(200)))
        how, got = recv_to_the_end(s, time.monotonic() + 10)
        self.assertEqual(got, bytes(range(100)))
        self.assertIn(how, ("eof", "reset"))
        d.signal(signal.SIGUSR1)
        line = d.wait_for_line(r"stats: ")
        self.assertRegex(line, r"\breset 1\b")
        s.close()
        self.assert_clean_stop(d)

    def test_a_stalled_connection_sees_its_peer_leave(self):
        # After stall= nothing moves; only poll() can tell that the peer
        # closed, and echod must notice within a few checks (250 ms each).
        d = self.start_unix("--fault", "stall=10", "-v")
        s = self.unix_client()
        s.sendall(b"0123456789abcdef")
        self.assertEqual(recv_exactly(s, 10, time.monotonic() + 5), b"0123456789")
        s.close()
        d.wait_for_line(r"a stalled connection's peer closed", timeout=5)
        d.wait_for_line(r"closed after echoing 10 bytes", timeout=5)
        self.assert_clean_stop(d)

    def test_a_stalled_connection_sees_its_peer_half_close(self):
        d = self.start_unix("--fault", "stall=10", "-v")
        s = self.unix_client()
        s.sendall(b"0123456789abcdef")
        self.assertEqual(recv_exactly(s, 10, time.monotonic() + 5), b"0123456789")
        s.shutdown(socket.SHUT_WR)
        d.wait_for_line(r"a stalled connection's peer closed", timeout=5)
        self.assertEqual(recv_to_the_end(s, time.monotonic() + 5), ("eof", b""))
        self.assert_clean_stop(d)


class SocketFile(UnixSocketCase):
    def test_a_stale_socket_file_is_replaced(self):
        stale_socket_file(self.path)
        d = self.start_unix()
        self.assertIn("replaced a stale socket file", d.ready_line)
        self.assert_echo(self.unix_client(), b"over the stale file")
        self.assert_clean_stop(d)
        self.assertFalse(os.path.exists(self.path))

    def test_a_live_socket_is_refused(self):
        d = self.start_unix()
        line = self.assert_listen_error("bind: address already in use (EADDRINUSE)",
                                        "a server accepts connections on it")
        self.assertNotIn("listening", line)
        # The first echod still owns and serves it.
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))
        self.assert_echo(self.unix_client(), b"still here")
        self.assert_clean_stop(d)

    def test_a_live_socket_of_another_server_is_left_alone(self):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(self.path)
            server.listen(4)
            self.assert_listen_error("address already in use")
            server.settimeout(5)
            probe, _ = server.accept()  # echod's look: a connection, closed at once
            probe.settimeout(5)
            self.assertEqual(probe.recv(1), b"")
            probe.close()
            with unix_client(self.path):  # still this server's
                peer, _ = server.accept()
                peer.close()
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))

    def test_a_regular_file_is_refused_and_left_alone(self):
        with open(self.path, "w") as f:
            f.write("precious\n")
        self.assert_listen_error("address already in use", "a regular file is there, not a socket (left alone)")
        with open(self.path) as f:
            self.assertEqual(f.read(), "precious\n")

    def test_a_directory_or_a_symbolic_link_is_refused_and_left_alone(self):
        os.mkdir(self.path)
        os.mkdir(os.path.join(self.path, "inside"))
        self.assert_listen_error("a directory is there, not a socket (left alone)")
        self.assertTrue(os.path.isdir(os.path.join(self.path, "inside")))
        os.rmdir(os.path.join(self.path, "inside"))
        os.rmdir(self.path)
        # A link to a stale socket: the link is what is in the way.
        target = os.path.join(self.dir, "target.sock")
        stale_socket_file(target)
        os.symlink(target, self.path)
        self.assert_listen_error("a symbolic link is there, not a socket (left alone)")
        self.assertTrue(os.path.islink(self.path))
        self.assertTrue(stat.S_ISSOCK(os.lstat(target).st_mode))

    def test_a_missing_directory_says_so(self):
        self.path = os.path.join(self.dir, "no", "such", "dir.sock")
        self.assert_listen_error("bind: no such file or directory (ENOENT)")

    def test_removed_at_exit_only_if_still_echods(self):
        d = self.start_unix()
        self.assert_clean_stop(d)
        self.assertFalse(os.path.exists(self.path), "the socket file outlived echod")

        # Someone removed echod's file and put another there: it stays.
        d = self.start_unix()
        os.unlink(self.path)
        with open(self.path, "w") as f:
            f.write("someone else's\n")
        self.assert_clean_stop(d)
        with open(self.path) as f:
            self.assertEqual(f.read(), "someone else's\n")

    def test_removed_after_a_failed_start(self):
        # The IP listener cannot bind: echod exits 1, and the socket file it
        # had made already goes with it.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            r = harness.run_echod(self.binary, "--listen", f"unix:{self.path}", "--listen", "127.0.0.1",
                                  "--port", str(port), "--no-reuseaddr", timeout=10)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"listening on unix:{self.path}", r.stderr)
        self.assertIn(f"cannot listen on 127.0.0.1:{port}", r.stderr)
        self.assertFalse(os.path.exists(self.path), r.stderr)

    def test_a_path_too_long_is_a_usage_error(self):
        path = "/tmp/" + "x" * 103  # 108 bytes: one more than sun_path holds
        self.assert_one_line_error(["--listen", f"unix:{path}"], 2, "--listen: ",
                                   "the path is 108 bytes, more than the 107 a Unix socket address holds",
                                   harness.HINT)
        self.assertFalse(os.path.exists(path))
        self.assert_one_line_error(["--listen", "unix:"], 2, "--listen: 'unix:' needs a path (unix:PATH)")

    def test_not_with_workers(self):
        self.assert_one_line_error(["--workers", "2", "--listen", f"unix:{self.path}"], 2,
                                   "--workers: cannot be combined with a Unix socket")

    def test_the_config_file_takes_it(self):
        config = os.path.join(self.dir, "echod.conf")
        with open(config, "w") as f:
            f.write(f"listen = unix:{self.path}\n")
        d = self.start("--config", config)
        self.assertEqual(d.unix_paths, [self.path])
        self.assert_echo(self.unix_client(), b"from the file")
        self.assert_clean_stop(d)


class Mixed(UnixSocketCase):
    def test_unix_and_ip_listeners_at_once(self):
        other = os.path.join(self.dir, "second.sock")
        d = self.start("--listen", f"unix:{self.path}", "--listen", "127.0.0.1", "--listen", f"unix:{other}",
                       "--udp")
        wait_until(lambda: len(d.unix_paths) == 2 and d.port is not None, 10, "three ready lines")
        self.assertEqual(d.unix_paths, [self.path, other])
        # --udp serves the IP address alone, and says so of the others.
        d.wait_for_line(rf"no UDP echo on unix:{re.escape(self.path)}: --udp applies to IP addresses")
        d.wait_for_line(rf"udp echo on 127\.0\.0\.1:{d.port}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(5)
            udp.sendto(b"datagram", ("127.0.0.1", d.port))
            self.assertEqual(udp.recv(100), b"datagram")
        with socket.create_connection(("127.0.0.1", d.port), timeout=10) as tcp, \
                unix_client(self.path) as first, unix_client(other) as second:
            for s, data in ((tcp, b"over tcp"), (first, b"over unix"), (second, b"over the other")):
                self.assert_echo(s, data)
        self.assert_clean_stop(d)
        self.assertFalse(os.path.exists(self.path))
        self.assertFalse(os.path.exists(other))

    def test_max_connections_refuses_over_unix_too(self):
        d = self.start_unix("--max-connections", "1")
        first = self.unix_client()
        self.assert_echo(first, b"served")
        extra = self.unix_client()
        self.assertEqual(recv_to_the_end(extra, time.monotonic() + 5)[1], b"")
        d.wait_for_line(r"--max-connections 1 reached")
        self.assert_echo(first, b"still served")
        self.assert_clean_stop(d)


class Activation(UnixSocketCase):
    def test_an_inherited_unix_socket(self):
        # What systemd does for ListenStream=/run/echod.sock: the socket,
        # bound and listening, on fd 3, LISTEN_PID and LISTEN_FDS set.
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.addCleanup(listener.close)
        listener.bind(self.path)
        listener.listen(16)
        wrapper = os.path.join(self.dir, "activate")
        with open(wrapper, "w") as f:
            f.write(f'#!/bin/sh\nLISTEN_PID=$$ LISTEN_FDS=1 exec "{self.binary}" "$@"\n')
        os.chmod(wrapper, 0o755)
        fd = listener.fileno()

        def onto_fd_3():
            os.dup2(fd, 3)
            os.set_inheritable(3, True)

        d = harness.Echod(wrapper, preexec_fn=onto_fd_3, pass_fds=(3,))
        self.addCleanup(d.__exit__, None, None, None)
        self.assertRegex(d.ready_line, rf"listening on unix:{re.escape(self.path)} \(backlog 511, buffer 64KiB, "
                                       r"socket-activated fd 3, pid \d+\)")
        self.assert_echo(self.unix_client(), b"activated")
        self.assert_clean_stop(d)
        # The file is systemd's (here the test's): it stays.
        self.assertTrue(stat.S_ISSOCK(os.lstat(self.path).st_mode))

    def test_under_systemd_socket_activate(self):
        tool = shutil.which("systemd-socket-activate")
        if tool is None:
            self.skipTest("systemd-socket-activate is not installed (Debian package systemd)")
        proc = subprocess.Popen([tool, "-l", self.path, self.binary], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(proc.stderr.close)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait(10)))
        wait_until(lambda: os.path.exists(self.path), 10, "systemd-socket-activate to listen")
        with unix_client(self.path) as s:
            self.assert_echo(s, b"activated by systemd's tool")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        err = proc.stderr.read().decode()
        self.assertIn(f"listening on unix:{self.path} (backlog 511, buffer 64KiB, socket-activated fd 3", err)
        self.assertIn("stopped: 1 connections served", err)


class Echobench(UnixSocketCase):
    def setUp(self):
        super().setUp()
        self.echobench = echobench_beside(self.binary)

    def test_load_with_verification(self):
        d = self.start_unix()
        r = run_echobench(self.echobench, "-H", f"unix:{self.path}", "-c", "8", "-P", "4", "-d", "1",
                          "--warmup", "0.2", "--json", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        doc = json.loads(r.stdout)
        self.assertEqual(doc["target"], f"unix:{self.path}")
        self.assertEqual(doc["errors"], {"connect": 0, "broken": 0, "mismatch": 0, "timeout": 0})
        self.assertEqual(doc["established"], 8)
        self.assertTrue(doc["verify"])
        self.assertGreater(doc["messages"], 0)
        # Bulk too: big messages in pieces, every byte checked.
        r = run_echobench(self.echobench, "-H", f"unix:{self.path}", "-c", "2", "-s", "256KiB", "-n", "200",
                          "--warmup", "0", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(f"echobench unix:{self.path}: 2 connections (2 established", r.stdout.decode())
        self.assertIn("mismatch 0", r.stdout.decode())
        self.assert_clean_stop(d)

    def test_ping_and_interactive(self):
        d = self.start_unix()
        r = run_echobench(self.echobench, "--ping", "-H", f"unix:{self.path}", "--count", "3", "-i", "0.05")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(f"ECHOBENCH unix:{self.path}: 64-byte messages", r.stdout.decode())
        self.assertIn("3 messages sent, 3 echoed, 0% lost, 0 mismatched", r.stdout.decode())
        r = run_echobench(self.echobench, "--interactive", "-H", f"unix:{self.path}", input=b"one\ntwo\n")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertEqual(r.stdout, b"one\ntwo\n")
        self.assert_clean_stop(d)

    def test_errors_name_the_socket(self):
        missing = os.path.join(self.dir, "missing.sock")
        r = run_echobench(self.echobench, "-H", f"unix:{missing}", "-c", "2", "-d", "0.5", "--warmup", "0")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"echobench: unix:{missing}: 2 connection(s) failed to connect "
                      "(first: connect: no such file or directory)", r.stderr.decode())
        r = run_echobench(self.echobench, "--ping", "-H", f"unix:{missing}", "--count", "1")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr.decode(), f"echobench: unix:{missing}: connect: no such file or directory\n")
        r = run_echobench(self.echobench, "-H", "unix:/" + "x" * 107)
        self.assertEqual(r.returncode, 2)
        self.assertIn("--host: ", r.stderr.decode())
        self.assertIn("more than the 107 a Unix socket address holds", r.stderr.decode())


if __name__ == "__main__":
    harness.main()
