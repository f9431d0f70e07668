"""--proxy-protocol: every connection starts with a PROXY protocol header
(HAProxy's proxy-protocol.txt, v1 text or v2 binary), which echod consumes
and never echoes; the bytes after it are echoed; debug logs name the client
it carries. Bad, over-long, missing or late headers (5 s) close the
connection unechoed, counted in echod_proxy_errors_total. It composes with
small rings, backpressure, the drain, --idle-timeout, --fault, --workers and
socket activation. And the real thing: Debian's haproxy in front of echod
(send-proxy-v2, then send-proxy), echobench through it verifying every byte.

Without haproxy, the test installs it with apt-get when it runs as root;
when it cannot, the HAProxy tests are skipped, loudly, with the reason.
Times are checked from below only (a header left incomplete is not closed
before 5 s), with generous upper bounds; the rest are bytes and counts.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_proxy_protocol.py /path/to/echod

echobench is taken from beside echod (the same build directory).
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

import debian
import harness
from harness import (EchodTestCase, echobench_beside, fill_until_blocked, metrics, random_bytes, recv_exactly,
                     recv_to_the_end, tcp_sockets, wait_until)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
HEADER_TIMEOUT = 5.0  # echod's bound on a header's arrival


def v2_header(ver_cmd, family, body):
    """A v2 header: signature, version/command, family/protocol, length, body."""
    return V2_SIGNATURE + struct.pack("!BBH", ver_cmd, family, len(body)) + body


def ipv4_block(src, dst, sport, dport):
    return socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst) + struct.pack(
        "!HH", sport, dport)


def ipv6_block(src, dst, sport, dport):
    return socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) + struct.pack(
        "!HH", sport, dport)


def tlv(kind, value):
    return struct.pack("!BH", kind, len(value)) + value


def accepted_lines(d, suffix=r"\(PROXY v\d[^)]*\)"):
    """echod's debug lines for connections accepted with a PROXY header."""
    rx = re.compile(r"accepted (.+?) " + suffix)
    return [line for line in d.lines if rx.search(line)]


class ProxyTestCase(EchodTestCase):
    """echod with --proxy-protocol -v and a metrics file rewritten every
    0.2 s. Tests close their clients before assert_clean_stop: an open
    connection would hold the drain."""

    def start_proxy(self, *args, **kwargs):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.metrics_path = os.path.join(tmp.name, "echod.prom")
        d = self.start("--proxy-protocol", "-v", "--metrics-file", self.metrics_path, "--stats-interval", "0.2",
                       *args, **kwargs)
        wait_until(lambda: os.path.exists(self.metrics_path), 10, "the metrics file")
        return d

    def proxy_errors(self):
        return metrics(self.metrics_path)["echod_proxy_errors_total"]

    def wait_for_proxy_errors(self, n):
        wait_until(lambda: self.proxy_errors() >= n, 10, f"echod_proxy_errors_total to reach {n}")
        time.sleep(0.5)  # and no more than n: two more rewrites of the file
        self.assertEqual(self.proxy_errors(), n)

    def echo_after(self, d, header, data, timeout=20.0, **connect):
        """Connects, sends header + data in one write, returns what comes back
        of len(data) bytes (a writer thread, so a large data cannot block)."""
        s = self.client(d)
        errors = []

        def writer():
            try:
                s.sendall(header + data)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        try:
            got = recv_exactly(s, len(data), time.monotonic() + timeout)
        finally:
            t.join(timeout)
        self.assertEqual(errors, [])
        return s, got

    def assert_closed_unechoed(self, s, timeout=20.0):
        """The connection ends (FIN or RST) without a byte coming back."""
        how, got = recv_to_the_end(s, time.monotonic() + timeout)
        self.assertEqual(got, b"", f"echoed {got[:80]!r} ({how})")
        return how


class Version1(ProxyTestCase):
    def test_tcp4_the_header_is_consumed_and_the_client_logged(self):
        d = self.start_proxy()
        s, got = self.echo_after(d, b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\n", b"hello")
        self.assertEqual(got, b"hello")
        d.wait_for_line(r"accepted 192\.0\.2\.1:56324 -> 198\.51\.100\.7:7007 \(PROXY v1\)")
        # Nothing more than the data came back.
        s.shutdown(socket.SHUT_WR)
        self.assertEqual(recv_to_the_end(s, time.monotonic() + 10), ("eof", b""))
        s.close()
        self.assertEqual(self.proxy_errors(), 0)
        self.assert_clean_stop(d)

    def test_tcp6(self):
        d = self.start_proxy()
        s, got = self.echo_after(d, b"PROXY TCP6 2001:db8::1 2001:db8::2 443 7007\r\n", b"over six")
        self.assertEqual(got, b"over six")
        d.wait_for_line(r"accepted \[2001:db8::1\]:443 -> \[2001:db8::2\]:7007 \(PROXY v1\)")
        s.close()
        self.assert_clean_stop(d)

    def test_unknown_keeps_the_sockets_own_peer(self):
        d = self.start_proxy()
        for header in (b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"):
            with self.subTest(header=header):
                s, got = self.echo_after(d, header, b"unknown")
                self.assertEqual(got, b"unknown")
                port = s.getsockname()[1]
                d.wait_for_line(rf"accepted 127\.0\.0\.1:{port} -> 127\.0\.0\.1:{d.port} "
                                r"\(PROXY v1 without a client address\)")
                s.close()
        self.assertEqual(self.proxy_errors(), 0)
        self.assert_clean_stop(d)


class Version2(ProxyTestCase):
    def test_proxy_over_ipv4_with_tlvs(self):
        d = self.start_proxy()
        tlvs = tlv(0x04, b"\0\0\0") + tlv(0x05, b"unique-id") + tlv(0x02, b"") + tlv(0x20, b"\x01\0\0\0\0")
        header = v2_header(0x21, 0x11, ipv4_block("192.0.2.9", "198.51.100.7", 40000, 7007) + tlvs)
        s, got = self.echo_after(d, header, b"after the TLVs")
        self.assertEqual(got, b"after the TLVs")
        d.wait_for_line(r"accepted 192\.0\.2\.9:40000 -> 198\.51\.100\.7:7007 \(PROXY v2\)")
        s.close()
        self.assert_clean_stop(d)

    def test_proxy_over_ipv6(self):
        d = self.start_proxy()
        header = v2_header(0x21, 0x21, ipv6_block("2001:db8::9", "2001:db8::7", 50000, 7007))
        s, got = self.echo_after(d, header, b"six")
        self.assertEqual(got, b"six")
        d.wait_for_line(r"accepted \[2001:db8::9\]:50000 -> \[2001:db8::7\]:7007 \(PROXY v2\)")
        s.close()
        self.assert_clean_stop(d)

    def test_local_keeps_the_sockets_own_peer(self):
        d = self.start_proxy()
        # LOCAL with no block, and LOCAL with an address block and a TLV
        # (the receiver must skip what the length says, and ignore it).
        for body in (b"", ipv4_block("192.0.2.1", "192.0.2.2", 1, 2) + tlv(0x04, b"xx")):
            with self.subTest(body=body):
                s, got = self.echo_after(d, v2_header(0x20, 0x11 if body else 0x00, body), b"local")
                self.assertEqual(got, b"local")
                port = s.getsockname()[1]
                d.wait_for_line(rf"accepted 127\.0\.0\.1:{port} -> 127\.0\.0\.1:{d.port} "
                                r"\(PROXY v2 without a client address\)")
                s.close()
        self.assertEqual(self.proxy_errors(), 0)
        self.assert_clean_stop(d)


class Arrival(ProxyTestCase):
    def send_bytewise(self, s, data):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(0.002)  # each byte its own segment, mostly its own read

    def test_headers_in_one_byte_writes(self):
        d = self.start_proxy()
        headers = [
            (b"PROXY TCP4 203.0.113.5 198.51.100.7 1234 7007\r\n", r"203\.0\.113\.5:1234"),
            (v2_header(0x21, 0x11, ipv4_block("203.0.113.6", "198.51.100.7", 2345, 7007) + tlv(0x04, b"pad")),
             r"203\.0\.113\.6:2345"),
            (v2_header(0x21, 0x21, ipv6_block("2001:db8::5", "2001:db8::7", 3456, 7007)), r"\[2001:db8::5\]:3456"),
        ]
        for header, client in headers:
            with self.subTest(client=client):
                s = self.client(d)
                self.send_bytewise(s, header + b"ab")
                self.assertEqual(recv_exactly(s, 2, time.monotonic() + 10), b"ab")
                d.wait_for_line(rf"accepted {client} -> ")
                s.close()
        self.assertEqual(self.proxy_errors(), 0)
        self.assert_clean_stop(d)

    def test_data_in_the_same_segment_as_the_header(self):
        # A small ring (16 bytes) splits the header over several reads and
        # leaves the first data at the end of one of them; a large one takes
        # it all in one read. Either way every byte after the header comes
        # back, in order.
        for ring in ("16", "64KiB"):
            with self.subTest(ring=ring):
                d = self.start_proxy("-B", ring)
                data = random_bytes(32 * 1024 if ring == "16" else 256 * 1024, seed=13)
                for header in (b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\n",
                               v2_header(0x21, 0x11, ipv4_block("192.0.2.1", "198.51.100.7", 1, 2) +
                                         tlv(0x05, b"x" * 100))):
                    s, got = self.echo_after(d, header, data)
                    self.assertEqual(got, data)
                    s.close()
                self.assertEqual(self.proxy_errors(), 0)
                self.assert_clean_stop(d)


class BadHeaders(ProxyTestCase):
    MALFORMED = [
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 70070\r\nhello",      # port over 65535
        b"PROXY TCP4 192.0.2.01 198.51.100.7 56324 7007\r\nhello",      # a leading zero
        b"PROXY TCP5 192.0.2.1 198.51.100.7 56324 7007\r\nhello",       # protocol
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\nhello",         # LF without CR
        b"PROXY UNKNOWN\r\r\nhello",                                     # CR without LF
        v2_header(0x11, 0x11, ipv4_block("192.0.2.1", "192.0.2.2", 1, 2)) + b"hello",  # version 1
        v2_header(0x23, 0x11, ipv4_block("192.0.2.1", "192.0.2.2", 1, 2)) + b"hello",  # command 3
        v2_header(0x21, 0x51, ipv4_block("192.0.2.1", "192.0.2.2", 1, 2)) + b"hello",  # family 5
        v2_header(0x21, 0x21, ipv4_block("192.0.2.1", "192.0.2.2", 1, 2)) + b"hello",  # IPv6 in 12 bytes
        v2_header(0x21, 0x11, ipv4_block("192.0.2.1", "192.0.2.2", 1, 2) + b"\x04\x00\x09ab") + b"hello",  # TLV
    ]

    def test_malformed_headers_are_closed_unechoed_counted_and_warned_about_once_a_second(self):
        d = self.start_proxy()
        started = time.monotonic()
        for header in self.MALFORMED:
            with self.subTest(header=header):
                s = self.client(d)
                s.sendall(header)
                self.assert_closed_unechoed(s)
                s.close()
        self.wait_for_proxy_errors(len(self.MALFORMED))
        warnings = [line for line in d.lines if "PROXY header from" in line]
        self.assertGreaterEqual(len(warnings), 1, d.stderr_text())
        self.assertIn("closed unechoed", warnings[0])
        # At most one a second, however many came.
        self.assertLessEqual(len(warnings), 1 + int(time.monotonic() - started), "\n".join(warnings))
        self.assertEqual(metrics(self.metrics_path)["echod_sent_bytes_total"], 0)
        # A good header is still served.
        s, got = self.echo_after(d, b"PROXY UNKNOWN\r\n", b"still here")
        self.assertEqual(got, b"still here")
        s.close()
        self.assert_clean_stop(d)

    def test_a_missing_header_plain_bytes_is_closed_unechoed(self):
        d = self.start_proxy()
        for plain in (b"hello\n", b"GET / HTTP/1.1\r\nHost: echod\r\n\r\n", b"\x16\x03\x01\x02\x00\x01\x00"):
            with self.subTest(plain=plain):
                s = self.client(d)
                s.sendall(plain)
                self.assert_closed_unechoed(s)
                s.close()
        self.wait_for_proxy_errors(3)
        self.assert_clean_stop(d)

    def test_too_long_headers(self):
        d = self.start_proxy()
        # v1: no CRLF within 107 bytes; v2: a stated length over 4 KiB in all,
        # refused from its first 16 bytes.
        long_v1 = b"PROXY UNKNOWN " + b"x" * 200 + b"\r\n"
        long_v2 = V2_SIGNATURE + struct.pack("!BBH", 0x21, 0x11, 4096 - 16 + 1)
        for header in (long_v1, long_v2):
            with self.subTest(size=len(header)):
                s = self.client(d)
                s.sendall(header)
                self.assert_closed_unechoed(s)
                s.close()
        self.wait_for_proxy_errors(2)
        self.assert_clean_stop(d)

    def test_a_header_that_never_completes_is_closed_after_5_seconds(self):
        d = self.start_proxy()
        partial = self.client(d)
        silent = self.client(d)
        started = time.monotonic()
        partial.sendall(b"PROXY TCP4 192.0.2.1 ")
        for s in (partial, silent):
            self.assert_closed_unechoed(s, timeout=HEADER_TIMEOUT + 15)
            self.assertGreaterEqual(time.monotonic() - started, HEADER_TIMEOUT - 0.1)
            s.close()
        self.wait_for_proxy_errors(2)
        self.assertTrue(any("not complete within 5 s" in line for line in d.lines), d.stderr_text())
        self.assert_clean_stop(d)

    def test_a_connection_closed_before_any_byte_is_no_error(self):
        # A balancer's plain TCP health check: connect, close.
        d = self.start_proxy()
        self.client(d).close()
        d.wait_for_line(r"closed before a PROXY header")
        time.sleep(0.5)
        self.assertEqual(self.proxy_errors(), 0)
        self.assert_clean_stop(d)


class Composes(ProxyTestCase):
    def test_backpressure_after_the_header(self):
        ring = 64 * 1024
        d = self.start_proxy("-B", str(ring))
        s = self.client(d)
        s.sendall(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\n")
        sent = fill_until_blocked(s, ring)  # nothing read: writes must block
        got = recv_exactly(s, sent, time.monotonic() + 30)
        self.assertEqual(got, bytes(sent))
        s.close()
        self.assert_clean_stop(d)

    def test_the_drain_ends_a_connection_still_in_its_header_with_a_fin(self):
        d = self.start_proxy()
        s = self.client(d)
        s.sendall(b"PROXY TCP4 192.0.2")
        time.sleep(0.2)  # echod has read the part (if not, the drain is the same)
        d.signal(signal.SIGTERM)
        self.assertEqual(recv_to_the_end(s, time.monotonic() + 10), ("eof", b""))
        s.close()
        self.assertEqual(d.wait(10 * harness.WRAPPER_SLOWDOWN), 0, d.stderr_text())
        self.assert_no_sanitizer_report(d)

    def test_idle_timeout_closes_an_idle_connection_after_its_header(self):
        d = self.start_proxy("--idle-timeout", "0.5")
        s, got = self.echo_after(d, b"PROXY UNKNOWN\r\n", b"then idle")
        self.assertEqual(got, b"then idle")
        started = time.monotonic()
        self.assertEqual(recv_to_the_end(s, time.monotonic() + 10)[1], b"")
        self.assertGreaterEqual(time.monotonic() - started, 0.4)
        s.close()
        self.assert_clean_stop(d)

    def test_faults_count_the_echo_after_the_header(self):
        # close=10: ten bytes of the echo, then FIN; the header is not echo.
        d = self.start_proxy("--fault", "close=10")
        s = self.client(d)
        s.sendall(b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 7007\r\n" + b"0123456789abcdefghij")
        how, got = recv_to_the_end(s, time.monotonic() + 10)
        self.assertEqual(got, b"0123456789")
        s.close()
        self.assert_clean_stop(d)

    def test_workers(self):
        d = self.start_proxy("--workers", "2")
        for i in range(8):
            s, got = self.echo_after(d, f"PROXY TCP4 192.0.2.{i + 1} 198.51.100.7 {1000 + i} 7007\r\n".encode(),
                                     b"worker")
            self.assertEqual(got, b"worker")
            s.close()
        for i in range(8):
            d.wait_for_line(rf"accepted 192\.0\.2\.{i + 1}:{1000 + i} -> ")
        self.assert_clean_stop(d)

    def test_socket_activation(self):
        proc, port, client = self.socket_activated("--proxy-protocol")
        with client:
            client.sendall(b"PROXY UNKNOWN\r\nactivated")
            self.assertEqual(recv_exactly(client, 9, time.monotonic() + 10), b"activated")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as plain:
            plain.sendall(b"activated")
            self.assert_closed_unechoed(plain)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        err = proc.stderr.read().decode()
        self.assertIn("socket-activated fd 3", err)
        self.assertIn("stopped: 2 connections served, 9 bytes echoed", err)


# ---------------------------------------------------------------- HAProxy


HAPROXY, HAPROXY_MISSING = None, None

HAPROXY_CONFIG = """\
global
    maxconn 256

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend echo
    bind 127.0.0.1:{frontend}
    unique-id-format %{{+X}}o%ci:%cp_%fi:%fp_%Ts_%rt:%pid
    default_backend echods

backend echods
    server echod 127.0.0.1:{echod} {send_proxy}
"""


class HAProxy:
    """haproxy -db (foreground) with a config written to a temporary
    directory, listening on 127.0.0.1:frontend; stopped by PID."""

    def __init__(self, binary, frontend, echod_port, send_proxy):
        self.tmp = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.tmp.name, "haproxy.cfg")
        with open(self.config, "w") as f:
            f.write(HAPROXY_CONFIG.format(frontend=frontend, echod=echod_port, send_proxy=send_proxy))
        self.log = open(os.path.join(self.tmp.name, "haproxy.log"), "w+")
        self.frontend = frontend
        self.proc = subprocess.Popen([binary, "-db", "-f", self.config], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def wait_listening(self, timeout=15.0):
        # The listening socket, seen in /proc: a probe connection would
        # reach echod as one more client.
        deadline = time.monotonic() + timeout
        while not any(s["state"] == "LISTEN" and s["local_port"] == self.frontend for s in tcp_sockets(self.frontend)):
            if self.proc.poll() is not None:
                raise AssertionError(f"haproxy exited ({self.proc.returncode}):\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"haproxy did not listen within {timeout} s:\n{self.output()}")
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        self.tmp.cleanup()


class RealHAProxy(ProxyTestCase):
    """echobench -> HAProxy (send-proxy-v2, then send-proxy) -> echod."""

    @classmethod
    def setUpClass(cls):
        global HAPROXY, HAPROXY_MISSING
        if HAPROXY is None and HAPROXY_MISSING is None:
            HAPROXY, HAPROXY_MISSING = debian.ensure_program("haproxy")
        if HAPROXY_MISSING:
            print(f"\n*** SKIPPED: HAProxy tests: {HAPROXY_MISSING}", file=sys.stderr, flush=True)
            raise unittest.SkipTest(HAPROXY_MISSING)

    def through_haproxy(self, send_proxy, version):
        d = self.start_proxy()
        frontend = harness.free_port()
        haproxy = HAProxy(HAPROXY, frontend, d.port, send_proxy)
        self.addCleanup(haproxy.stop)
        haproxy.wait_listening()

        connections = 4
        bench = subprocess.Popen([echobench_beside(self.binary), "-H", "127.0.0.1", "-p", str(frontend), "-c",
                                  str(connections), "-P", "4", "-d", "2", "--warmup", "0.5", "--json"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.addCleanup(lambda: bench.poll() is None and (bench.kill(), bench.wait(10)))
        # While the run goes on: echobench's ends of its connections to
        # HAProxy (the clients HAProxy sees), and HAProxy's to echod.
        clients, outgoing = set(), set()

        def seen():
            for s in tcp_sockets():
                if s["state"] != "ESTABLISHED":
                    continue
                if s["remote_port"] == frontend:
                    clients.add(s["local_port"])
                elif s["remote_port"] == d.port:
                    outgoing.add(s["local_port"])
            return len(clients) >= connections and len(outgoing) >= connections

        wait_until(seen, 15, "echobench's connections through haproxy", interval=0.05)
        try:
            out, err = bench.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            bench.kill()
            out, err = bench.communicate(timeout=10)
            self.fail(f"echobench did not finish within 60 s: {err.decode(errors='replace')}")
        err = err.decode(errors="replace")
        self.assertNotRegex(err, harness.SANITIZER)
        self.assertEqual(bench.returncode, 0, f"echobench: {err}\nhaproxy:\n{haproxy.output()}\n"
                                              f"echod:\n{d.stderr_text()}")
        doc = json.loads(out)
        self.assertEqual(doc["errors"]["mismatch"], 0, doc["errors"])
        self.assertGreater(doc["messages"], 0)

        # echod names echobench's address, as HAProxy saw it, and the
        # frontend it connected to (which only the header can tell: echod
        # listens elsewhere); never HAProxy's own outgoing address.
        lines = accepted_lines(d, rf"\(PROXY v{version}\)")
        named = set()
        for line in lines:
            m = re.search(r"accepted 127\.0\.0\.1:(\d+) -> 127\.0\.0\.1:(\d+) ", line)
            self.assertIsNotNone(m, line)
            self.assertEqual(int(m.group(2)), frontend, line)
            named.add(int(m.group(1)))
        self.assertEqual(named, clients, f"echobench's ports {sorted(clients)}, echod named {sorted(named)} "
                                         f"(HAProxy's outgoing: {sorted(outgoing)})")
        self.assertTrue(named.isdisjoint(outgoing - clients), f"echod named HAProxy's outgoing {sorted(outgoing)}")
        self.assertEqual(self.proxy_errors(), 0)
        haproxy.stop()
        self.assert_clean_stop(d)

    def test_send_proxy_v2_with_a_tlv(self):
        self.through_haproxy("send-proxy-v2 proxy-v2-options unique-id", 2)

    def test_send_proxy_v1(self):
        self.through_haproxy("send-proxy", 1)


if __name__ == "__main__":
    harness.main()
