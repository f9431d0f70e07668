"""--metrics-listen: GET and HEAD of /metrics over HTTP/1.x, on a listener
of echod's own loop (or, under --workers, of the parent, with the sums);
404, 405 and 400, keep-alive, the 8 KiB and 5 s bounds, the cap on HTTP
connections, bind failures; and the real Prometheus (Debian's package,
installed with apt-get when missing and root, else skipped loudly) scraping
echod every second.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_metrics_http.py /path/to/echod
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import debian
import harness
from harness import (WRAPPER_SLOWDOWN, EchodTestCase, children, echobench_beside, parse_metrics, recv_exactly,
                     recv_to_the_end, run_echobench, wait_until)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEADLINE_S = 5.0    # a request must be whole within this (http_deadline_ms)
MAX_HEAD = 8192     # request line and headers (max_http_head)
MAX_CLIENTS = 64    # HTTP connections at once (max_http_clients)


def request(address, method="GET", path="/metrics", body=None, headers=None, timeout=10.0):
    """One request on a fresh connection: (status, headers, body)."""
    conn = http.client.HTTPConnection(*address, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def raw_exchange(address, data, timeout=10.0):
    """Sends data on a fresh connection and reads until echod closes it:
    ("eof" or "reset", everything received)."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(data)
        return recv_to_the_end(s, time.monotonic() + timeout * WRAPPER_SLOWDOWN)


def read_response(sock, deadline):
    """One response (head and Content-Length bytes of body) from sock, for a
    GET: (status, head text, body)."""
    head = b""
    while b"\r\n\r\n" not in head:
        head += recv_exactly(sock, 1, deadline)
    text = head.decode()
    length = int(next(line.split(":", 1)[1] for line in text.split("\r\n") if line.lower().startswith("content-length:")))
    return int(text.split(" ", 2)[1]), text, recv_exactly(sock, length, deadline)


def socket_inodes(port):
    """The inodes of the TCP sockets (IPv4) whose local port is port."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for row in f.readlines()[1:]:
            cols = row.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(int(cols[9]))
    return inodes


def fd_socket_inodes(pid):
    """The inodes of the sockets among pid's file descriptors."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:["):-1]))
    return inodes


def metrics_of(address):
    status, headers, body = request(address)
    assert status == 200, status
    return parse_metrics(body.decode())


class MetricsHttp(EchodTestCase):
    def start_http(self, *args, listen="127.0.0.1:0"):
        d = self.start("--metrics-listen", listen, *args)
        address = d.metrics_address()
        self.assertIsNotNone(address, d.stderr_text())
        # Before the ready line, so a script that waits for that has both.
        lines = [i for i, line in enumerate(d.lines) if "metrics on http://" in line or "listening on" in line]
        self.assertIn("metrics on http://", d.lines[lines[0]], d.stderr_text())
        self.assertIn(": notice: ", d.lines[lines[0]])  # at every log level
        return d, address

    def test_get_serves_what_the_metrics_file_holds(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "echod.prom")
            d, address = self.start_http("--metrics-file", path)
            self.assert_echoes(d, b"hello, metrics")
            wait_until(lambda: metrics_of(address)["echod_connections"] == 0, 10, "the echo connection closed")
            # SIGUSR1 writes the file from a snapshot; nothing moves after it.
            mark = len(d.lines)
            d.signal(signal.SIGUSR1)
            d.wait_for_line("stats:", start=mark)
            status, headers, body = request(address)
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
            self.assertEqual(int(headers["Content-Length"]), len(body))
            self.assertIn("GMT", headers["Date"])
            with open(path) as f:
                self.assertEqual(body.decode(), f.read())
            samples = parse_metrics(body.decode())
            self.assertEqual(samples["echod_received_bytes_total"], len(b"hello, metrics"))
            self.assertEqual(samples["echod_connections_accepted_total"], 1)
            self.assert_clean_stop(d)

    def test_head_answers_the_get_head_without_a_body(self):
        d, address = self.start_http()
        _, get_headers, get_body = request(address)
        status, headers, body = request(address, "HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"")
        self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
        self.assertEqual(int(headers["Content-Length"]), len(get_body))
        # On the wire: the head, then nothing until the close.
        how, data = raw_exchange(address, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual(how, "eof")
        self.assertTrue(data.startswith(b"HTTP/1.1 200 OK\r\n"), data)
        self.assertTrue(data.endswith(b"\r\n\r\n"), data)
        self.assertEqual(data.count(b"\r\n\r\n"), 1, data)
        self.assert_clean_stop(d)

    def test_another_path_is_404_another_method_405(self):
        d, address = self.start_http()
        for path in ("/", "/metrics/", "/metric", "/favicon.ico", "/metrics/../metrics"):
            status, _, body = request(address, path=path)
            self.assertEqual(status, 404, path)
            self.assertIn(b"/metrics", body)
        self.assertEqual(request(address, path="/metrics?name[]=echod_connections")[0], 200)
        for method in ("POST", "PUT", "DELETE", "OPTIONS", "get", "BREW"):
            status, headers, _ = request(address, method)
            self.assertEqual(status, 405, method)
            self.assertEqual(headers["Allow"], "GET, HEAD")
        # A body is never read: the answer, then the close.
        status, headers, _ = request(address, "POST", body=b"x" * 1000)
        self.assertEqual(status, 405)
        self.assertEqual(headers["Connection"], "close")
        self.assert_clean_stop(d)

    def test_a_malformed_request_is_400_and_closed(self):
        d, address = self.start_http()
        cases = {
            b"GARBAGE\r\n\r\n": 400,
            b"GET /metrics\r\n\r\n": 400,  # HTTP/0.9
            b"GET  /metrics HTTP/1.1\r\nHost: x\r\n\r\n": 400,
            b"GET /metrics HTTP/1.1\r\n\r\n": 400,  # no Host
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n": 400,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n": 400,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n": 400,
            b"GET /metrics HTTP/1.1\rHost: x\r\n\r\n": 400,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n": 400,
            b"GET /metrics HTTP/2.0\r\n\r\n": 505,
            b"\x00\xff\x00\xff\r\n\r\n": 400,
        }
        for data, expected in cases.items():
            how, answer = raw_exchange(address, data)
            self.assertEqual(how, "eof", data)
            self.assertTrue(answer.startswith(f"HTTP/1.1 {expected} ".encode()), (data, answer))
            self.assertIn(b"\r\nConnection: close\r\n", answer)
        # Answered at once, without the blank line: the request line decides.
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(b"NOT AN HTTP REQUEST\n")
            started = time.monotonic()
            how, answer = recv_to_the_end(s, started + 10 * WRAPPER_SLOWDOWN)
            self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer)
            self.assertLess(time.monotonic() - started, DEADLINE_S - 1)
        self.assert_echoes(d)
        self.assert_clean_stop(d)

    def test_keep_alive_carries_request_after_request(self):
        d, address = self.start_http()
        conn = http.client.HTTPConnection(*address, timeout=10)
        self.addCleanup(conn.close)
        sock = None
        for i in range(5):
            conn.request("HEAD" if i % 2 else "GET", "/metrics")
            response = conn.getresponse()
            response.read()
            self.assertEqual(response.status, 200)
            self.assertEqual(response.headers["Connection"], "keep-alive")
            sock = sock or conn.sock
            self.assertIs(conn.sock, sock, "http.client reconnected: echod closed a keep-alive connection")
        # Pipelined: three requests in one write, three answers in order.
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            deadline = time.monotonic() + 10 * WRAPPER_SLOWDOWN
            self.assertEqual([read_response(s, deadline)[0] for _ in range(3)], [200, 404, 200])
            self.assertEqual(recv_to_the_end(s, deadline), ("eof", b""))
        # HTTP/1.0 closes unless asked to keep the connection.
        how, answer = raw_exchange(address, b"GET /metrics HTTP/1.0\r\n\r\n")
        self.assertEqual(how, "eof")
        self.assertIn(b"\r\nConnection: close\r\n", answer)
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            deadline = time.monotonic() + 10 * WRAPPER_SLOWDOWN
            status, head, _ = read_response(s, deadline)
            self.assertIn("\r\nConnection: keep-alive\r\n", head)
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            self.assertEqual(read_response(s, deadline)[0], 200)
        self.assert_clean_stop(d)

    def test_a_head_over_8_kib_is_answered_431_and_closed(self):
        d, address = self.start_http()
        start = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: "
        end = b"\r\n\r\n"
        exact = start + b"a" * (MAX_HEAD - len(start) - len(end)) + end
        self.assertEqual(len(exact), MAX_HEAD)
        with socket.create_connection(address, timeout=10) as s:
            s.sendall(exact)
            self.assertEqual(read_response(s, time.monotonic() + 10 * WRAPPER_SLOWDOWN)[0], 200)

        over = start + b"a" * (MAX_HEAD - len(start) - len(end) + 1) + end
        how, answer = raw_exchange(address, over)
        self.assertEqual(how, "eof")
        self.assertTrue(answer.startswith(b"HTTP/1.1 431 "), answer[:100])
        # A flood is cut off too (after the 431, echod reads and drops a
        # moment, then closes): never buffered, never a stall.
        with socket.create_connection(address, timeout=10) as s:
            flood = threading.Thread(target=lambda: self._send_quietly(s, b"GET /" + b"a" * (16 << 20)), daemon=True)
            flood.start()
            how, answer = recv_to_the_end(s, time.monotonic() + 20 * WRAPPER_SLOWDOWN)
            self.assertIn(how, ("eof", "reset"))
            self.assertTrue(answer == b"" or answer.startswith(b"HTTP/1.1 431 "), answer[:100])
            flood.join(20)
        self.assert_echoes(d)
        self.assert_clean_stop(d)

    @staticmethod
    def _send_quietly(sock, data):
        try:
            sock.sendall(data)
        except OSError:
            pass  # echod closed: expected

    def test_a_request_not_whole_within_5_s_is_closed(self):
        d, address = self.start_http()
        idle = socket.create_connection(address, timeout=30)
        partial = socket.create_connection(address, timeout=30)
        trickle = socket.create_connection(address, timeout=30)
        kept = socket.create_connection(address, timeout=30)
        for s in (idle, partial, trickle, kept):
            self.addCleanup(s.close)
        started = time.monotonic()
        partial.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        kept.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        read_response(kept, started + 10)
        kept_answered = time.monotonic()
        stop = threading.Event()

        def trickler():
            # A byte every 0.2 s never extends the deadline.
            for b in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
                if stop.wait(0.2):
                    return
                try:
                    trickle.send(bytes([b]))
                except OSError:
                    return
        t = threading.Thread(target=trickler, daemon=True)
        t.start()
        self.addCleanup(stop.set)

        results = {}

        def watch(name, s, since):
            how, data = recv_to_the_end(s, since + (DEADLINE_S + 10) * WRAPPER_SLOWDOWN)
            results[name] = (how, data, time.monotonic() - since)
        watchers = [threading.Thread(target=watch, args=args) for args in
                    (("idle", idle, started), ("partial", partial, started), ("trickle", trickle, started),
                     ("kept", kept, kept_answered))]
        for w in watchers:
            w.start()
        for w in watchers:
            w.join((DEADLINE_S + 15) * WRAPPER_SLOWDOWN)
        stop.set()
        self.assertEqual(sorted(results), ["idle", "kept", "partial", "trickle"], results)
        for name, (how, data, elapsed) in results.items():
            self.assertEqual(how, "eof", name)
            self.assertGreaterEqual(elapsed, DEADLINE_S - 0.5, name)
            if name in ("idle", "kept"):
                self.assertEqual(data, b"", name)  # nothing was asked: nothing to answer
            else:
                self.assertTrue(data == b"" or data.startswith(b"HTTP/1.1 408 "), (name, data[:100]))
        self.assert_clean_stop(d)

    def test_http_connections_are_capped(self):
        d, address = self.start_http()
        held = [socket.create_connection(address, timeout=10) for _ in range(MAX_CLIENTS)]
        for s in held:
            self.addCleanup(s.close)
        # The next one is accepted and closed at once, long before any deadline.
        with socket.create_connection(address, timeout=10) as extra:
            started = time.monotonic()
            how, data = recv_to_the_end(extra, started + 10 * WRAPPER_SLOWDOWN)
            self.assertEqual(data, b"")
            self.assertLess(time.monotonic() - started, DEADLINE_S - 1)
        d.wait_for_line(f"metrics: {MAX_CLIENTS} HTTP connections open: refusing more")
        self.assert_echoes(d)  # the echo is not capped with them
        for s in held[:8]:
            s.close()
        wait_until(lambda: self._answers(address), 10 * WRAPPER_SLOWDOWN, "an answer once connections closed",
                   interval=0.1)
        self.assert_clean_stop(d)

    @staticmethod
    def _answers(address):
        try:
            return request(address, timeout=2)[0] == 200
        except OSError:
            return False

    def test_ipv6(self):
        try:
            with socket.socket(socket.AF_INET6) as s:
                s.bind(("::1", 0))
        except OSError as e:
            self.skipTest(f"no IPv6 loopback: {e}")
        d, address = self.start_http(listen="[::1]:0")
        self.assertEqual(address[0], "::1")
        self.assertTrue(any(f"metrics on http://[::1]:{address[1]}/metrics" in line for line in d.lines))
        self.assertEqual(request(address)[0], 200)
        self.assert_clean_stop(d)

    def test_bind_failure_is_one_line_and_exit_1(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            for extra in ([], ["--workers", "2"]):
                line = self.assert_one_line_error(["--metrics-listen", f"127.0.0.1:{port}", *extra], 1,
                                                  "--metrics-listen", f"127.0.0.1:{port}", "address already in use")
                self.assertNotIn("workers started", line)
        self.assert_one_line_error(["--metrics-listen", "localhost:9100"], 2, "--metrics-listen",
                                   "'localhost:9100' is not ADDR:PORT")
        self.assert_one_line_error(["--metrics-listen", "::1:9100"], 2, "--metrics-listen", "is not ADDR:PORT")

    def test_workers_the_parent_serves_the_sums(self):
        d, address = self.start_http("--workers", "2")
        wait_until(lambda: len(children(d.pid)) == 2, 10 * WRAPPER_SLOWDOWN, "2 workers")
        wait_until(lambda: sum("listening on" in line for line in d.lines) >= 2, 10 * WRAPPER_SLOWDOWN,
                   "every ready line")
        self.assertEqual(sum("metrics on http://" in line for line in d.lines), 1, d.stderr_text())
        echobench = echobench_beside(self.binary)
        runs = [("10", "1000", "100"), ("7", "777", "33")]  # connections, messages, size
        expected = 0
        for connections, messages, size in runs:
            r = run_echobench(echobench, "-p", d.port, "-c", connections, "-n", messages, "-s", size,
                              "--warmup", "0", "--json", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            result = json.loads(r.stdout)
            self.assertEqual(result["messages"], int(messages))
            expected += int(messages) * int(size)

        def summed():
            m = metrics_of(address)
            return (m["echod_received_bytes_total"] == expected and m["echod_sent_bytes_total"] == expected
                    and m["echod_connections_accepted_total"] == 17)
        # Workers report every second: bounded well above that.
        wait_until(summed, 10 * WRAPPER_SLOWDOWN, f"{expected} bytes received and sent, summed over the workers",
                   interval=0.1)
        self.assert_clean_stop(d)

    def test_workers_a_restarted_worker_holds_no_scraper_socket(self):
        d, address = self.start_http("--workers", "2")
        wait_until(lambda: len(children(d.pid)) == 2, 10 * WRAPPER_SLOWDOWN, "2 workers")
        scraper = socket.create_connection(address, timeout=30)
        self.addCleanup(scraper.close)
        scraper.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = time.monotonic()
        self.assertEqual(read_response(scraper, answered + 10)[0], 200)
        # A worker forked now (a restart) must not inherit the parent's
        # listener or this connection.
        wait_until(lambda: sum("listening on" in line for line in d.lines) >= 2, 10 * WRAPPER_SLOWDOWN,
                   "every ready line")
        victim = children(d.pid)[0]
        os.kill(victim, signal.SIGKILL)
        # Its successor's ready line: by then it has closed what it inherited.
        wait_until(lambda: sum("listening on" in line for line in d.lines) >= 3, 10 * WRAPPER_SLOWDOWN,
                   "the killed worker restarted")
        inodes = socket_inodes(address[1])
        self.assertGreaterEqual(len(inodes), 2, "the listener and the scraper's connection")
        for worker in children(d.pid):
            held = inodes & fd_socket_inodes(worker)
            self.assertEqual(held, set(), f"worker {worker} holds metrics sockets")
        # So the parent's close at the idle deadline reaches the scraper.
        how, data = recv_to_the_end(scraper, answered + (DEADLINE_S + 10) * WRAPPER_SLOWDOWN)
        self.assertEqual((how, data), ("eof", b""))
        self.assertGreaterEqual(time.monotonic() - answered, DEADLINE_S - 0.5)
        self.assert_clean_stop(d)


class Prometheus(EchodTestCase):
    """The real scraper: Debian's prometheus, started here with a config
    of its own, scraping echod every second; its HTTP API must report the
    bytes echod received."""

    def start_prometheus(self, binary, target, tmp):
        config = os.path.join(tmp, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n"
                    "  scrape_interval: 1s\n"
                    "  scrape_timeout: 1s\n"
                    "scrape_configs:\n"
                    "  - job_name: echod\n"
                    "    static_configs:\n"
                    f"      - targets: ['{target}']\n")
        port = harness.free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(self.stop_prometheus, proc)
        return proc, f"http://127.0.0.1:{port}", os.path.join(tmp, "prometheus.log")

    @staticmethod
    def stop_prometheus(proc):
        """SIGTERM by PID, then SIGKILL if it lingers."""
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    @staticmethod
    def api(base, path, **params):
        url = f"{base}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)

    def test_prometheus_scrapes_what_echod_received(self):
        binary, reason = debian.ensure_program("prometheus")
        if binary is None:
            print(f"\n*** SKIPPED: Prometheus test: {reason}", file=sys.stderr, flush=True)
            self.skipTest(reason)
        d = self.start("--metrics-listen", "127.0.0.1:0")
        host, port = d.metrics_address()
        data = harness.random_bytes(123457, seed=13)
        with self.client(d) as s:
            self.assert_echo(s, data)
        with tempfile.TemporaryDirectory() as tmp:
            proc, base, log = self.start_prometheus(binary, f"{host}:{port}", tmp)
            state = {}

            def reported():
                if proc.poll() is not None:
                    raise AssertionError(f"prometheus exited ({proc.returncode}):\n{open(log).read()[-2000:]}")
                try:
                    answer = self.api(base, "/api/v1/query", query="echod_received_bytes_total")
                    state["query"] = answer
                    results = answer["data"]["result"]
                    return results and results[0]["value"][1] == str(len(data)) and results[0]
                except OSError as e:  # not up yet
                    state["error"] = repr(e)
                    return False
            try:
                result = wait_until(reported, 60 * WRAPPER_SLOWDOWN, "Prometheus to report echod's bytes",
                                    interval=0.5)
            except AssertionError:
                try:
                    targets = self.api(base, "/api/v1/targets")
                except OSError as e:
                    targets = repr(e)
                raise AssertionError(f"last query: {state}\ntargets: {targets}\n"
                                     f"prometheus log:\n{open(log).read()[-2000:]}") from None
            self.assertEqual(result["metric"]["job"], "echod")
            self.assertEqual(result["metric"]["instance"], f"{host}:{port}")
            up = self.api(base, "/api/v1/query", query='up{job="echod"}')["data"]["result"]
            self.assertEqual(up[0]["value"][1], "1")
            self.stop_prometheus(proc)
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
