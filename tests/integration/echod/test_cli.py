"""echod's command line: --help, --version, usage errors (one line, exit 2,
nothing started), option syntax and overrides, the ready line at every log
level.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_cli.py /path/to/echod
"""
import os
import re
import socket
import subprocess
import tempfile
import time

import harness
from harness import HINT, EchodTestCase, recv_exactly, run_echod


class HelpAndVersion(EchodTestCase):
    def test_help_prints_usage_to_stdout_and_exits_0(self):
        for flag in ("--help", "-h"):
            with self.subTest(flag=flag):
                r = run_echod(self.binary, flag)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stderr, "")
                self.assertIn("Usage: echod", r.stdout)
                for option in ("--listen", "--port", "--backlog", "--buffer-size", "--reuseaddr",
                               "--no-reuseaddr", "--log-level", "--help", "--version"):
                    self.assertIn(option, r.stdout)

    def test_version_names_project_and_libuv(self):
        r = run_echod(self.binary, "--version")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        self.assertRegex(r.stdout, r"^echod \d+\.\d+\.\d+")
        self.assertRegex(r.stdout, r"libuv \d+\.\d+\.\d+")


class UsageErrors(EchodTestCase):
    # (arguments, the option the line must name)
    CASES = [
        (["--backlog", "0"], "--backlog"),
        (["--backlog", "65536"], "--backlog"),
        (["-b", "x"], "--backlog"),
        (["--port", "70000"], "--port"),
        (["--port", "-1"], "--port"),
        (["--port", "12ab"], "--port"),
        (["--port=", ], "--port"),
        (["--buffer-size", "15"], "--buffer-size"),
        (["--buffer-size", "1k"], "--buffer-size"),
        (["--buffer-size", "1KB"], "--buffer-size"),
        (["--buffer-size", "1G"], "--buffer-size"),
        (["--buffer-size", "1.5K"], "--buffer-size"),
        (["--buffer-size", "300M"], "--buffer-size"),
        (["--buffer-size", "257MiB"], "--buffer-size"),
        (["-B", "99999999999999999999999M"], "--buffer-size"),
        (["--listen", "localhost"], "--listen"),
        (["--listen", "127.0.0.1:7007"], "--listen"),
        (["--listen", "[::1]"], "--listen"),
        (["--log-level", "loud"], "--log-level"),
        (["--log-level", "DEBUG"], "--log-level"),
        (["--port"], "--port"),
        (["-p"], "--port"),
        (["--log-level"], "--log-level"),
        (["--foo"], "--foo"),
        (["-x"], "-x"),
        (["stray"], "stray"),
        (["--port", "0", "stray"], "stray"),
        (["--reuseaddr=1"], "--reuseaddr"),
        (["--no-reuseaddr=0"], "--no-reuseaddr"),
    ]

    def test_each_bad_option_is_one_line_exit_2(self):
        for args, named in self.CASES:
            with self.subTest(args=args):
                # --port 0 first: were a case wrongly accepted, echod would
                # start on a free port rather than 7007; the timeout bounds it.
                full = ["--port", "0", *args] if "--port" not in " ".join(args) else args
                try:
                    r = run_echod(self.binary, *full, timeout=5)
                except subprocess.TimeoutExpired:
                    self.fail(f"echod {full} started instead of failing")
                self.assertEqual(r.returncode, 2, f"{full}: stderr {r.stderr!r}")
                self.assertEqual(r.stdout, "", f"{full}: wrote to stdout")
                lines = r.stderr.splitlines()
                self.assertEqual(len(lines), 1, f"{full}: stderr {r.stderr!r}")
                self.assertTrue(r.stderr.endswith("\n"))
                line = lines[0]
                self.assertTrue(line.startswith("echod: "), line)
                self.assertIn(named, line)
                self.assertTrue(line.endswith(HINT), line)
                self.assertNotIn("listening", line)

    def test_contract_example_message_exactly(self):
        r = run_echod(self.binary, "--backlog", "0")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr, "echod: --backlog: 0 is out of range 1..65535 (see 'echod --help')\n")

    def test_error_wins_over_help(self):
        # A usage error is reported even next to --help/--version, and
        # nothing goes to stdout.
        for args in (["--help", "--foo"], ["--version", "--backlog", "0"]):
            with self.subTest(args=args):
                r = run_echod(self.binary, *args)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)


class BadFiles(EchodTestCase):
    """--config and --metrics-file name a file that cannot be used: one line
    naming it, at once, and a bounded RSS (no reading /dev/zero to the end)."""

    def test_config_that_is_not_a_text_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            nul = os.path.join(tmp, "nul.conf")
            with open(nul, "wb") as f:
                f.write(b"port = 0\nbacklog = 5\0\n")
            big = os.path.join(tmp, "big.conf")
            with open(big, "wb") as f:
                f.write(b"# " + b"x" * (1024 * 1024) + b"\n")
            fifo = os.path.join(tmp, "fifo.conf")
            os.mkfifo(fifo)
            for path, reason in ((tmp, "is a directory"), ("/dev/zero", "is not a regular file"),
                                 (fifo, "is not a regular file"), (big, "is larger than 1MiB"),
                                 (nul, f"{nul}:2: a NUL byte")):
                with self.subTest(path=path):
                    self.assert_one_line_error(["--config", path], 2, "--config" if path != nul else nul,
                                               reason)

    def test_a_huge_bad_value_is_quoted_short(self):
        with tempfile.TemporaryDirectory() as tmp:
            conf = os.path.join(tmp, "echod.conf")
            with open(conf, "w") as f:
                f.write("backlog = " + "9" * 1000000 + "\n")
            line = self.assert_one_line_error(["--config", conf], 2, f"{conf}:1: backlog: ",
                                              "9" * 60 + "...")
            self.assertNotIn("9" * 61, line)
        line = self.assert_one_line_error(["--backlog", "9" * 100000], 2, "--backlog", "9" * 60 + "...")
        self.assertNotIn("9" * 61, line)

    def test_metrics_file_that_cannot_be_written(self):
        with tempfile.TemporaryDirectory() as tmp:
            missing = os.path.join(tmp, "no", "such", "m.prom")
            self.assert_one_line_error(["--metrics-file", missing], 1, "--metrics-file", missing,
                                       "No such file or directory")
            self.assert_one_line_error(["--metrics-file", tmp], 1, "--metrics-file", tmp, "is a directory")
            self.assert_one_line_error(["--metrics-file", tmp, "--workers", "2"], 1, "--metrics-file",
                                       "is a directory")
            self.assertEqual(os.listdir(tmp), [])  # no PATH.tmp left beside it


class Syntax(EchodTestCase):
    def ready(self, *args):
        """Starts echod with args, makes sure it echoes, stops it cleanly;
        returns it and its ready line. (The round trip also means the loop
        runs before the SIGTERM: see test_echod_shutdown's
        test_sigterm_right_after_ready_line.)"""
        d = self.start(*args)
        line = d.ready_line
        self.assert_echoes(d)
        self.assert_clean_stop(d)
        return d, line

    def test_equals_and_separate_values_both_work(self):
        port = harness.free_port()
        for args in (["--port", str(port)], [f"--port={port}"], ["-p", str(port)], [f"-p{port}"]):
            with self.subTest(args=args):
                d, line = self.ready(*args)
                self.assertEqual(d.port, port)
                self.assertIn(f"listening on 127.0.0.1:{port}", line)

    def test_later_option_overrides_earlier(self):
        # The harness puts --port 0 first: a later --port wins.
        port = harness.free_port()
        d, _ = self.ready("--port", "1", "--port", str(port))
        self.assertEqual(d.port, port)
        # --listen is the exception: given again it adds an address
        # (test_echod_service.py covers several listeners).
        d, line = self.ready("-l", "::1")
        self.assertIn("listening on [::1]:", line)

    def test_size_suffixes_accepted(self):
        # The ready line reports the ring size it uses (format of echod's
        # own ready line: "buffer 1KiB").
        for value, shown in (("16", "16B"), ("1K", "1KiB"), ("1KiB", "1KiB"), ("3M", "3MiB"),
                             ("2MiB", "2MiB"), ("1000", "1000B"), ("256MiB", "256MiB")):
            with self.subTest(value=value):
                _, line = self.ready("--buffer-size", value)
                self.assertRegex(line, rf"\bbuffer {shown}\b")
        _, line = self.ready("-B16K", "--buffer-size=32K")
        self.assertRegex(line, r"\bbuffer 32KiB\b")

    def test_reuseaddr_flags_override(self):
        _, line = self.ready("--reuseaddr", "--no-reuseaddr")
        self.assertRegex(line, r"\breuseaddr off\b")
        _, line = self.ready("--no-reuseaddr", "--reuseaddr")
        self.assertRegex(line, r"\breuseaddr on\b")

    def test_backlog_bounds_accepted(self):
        for value in ("1", "65535"):
            with self.subTest(value=value):
                d, _ = self.ready("--backlog", value)
                self.assertIsNotNone(d.port)


class ReadyLineAndLevels(EchodTestCase):
    def session(self, *args):
        """Starts echod, makes one echo round trip, stops it cleanly; returns
        its whole stderr as lines."""
        d = self.start(*args)
        with d.connect() as s:
            s.sendall(b"hello")
            self.assertEqual(recv_exactly(s, 5, time.monotonic() + 10), b"hello")
            s.shutdown(socket.SHUT_WR)
            self.assertEqual(s.recv(16), b"")
        self.assert_clean_stop(d)
        return d, d.lines

    def test_ready_line_has_real_port_v4(self):
        d, lines = self.session()
        self.assertNotEqual(d.port, 0)
        self.assertIn(f"listening on 127.0.0.1:{d.port}", d.ready_line)

    def test_ready_line_ipv6_brackets(self):
        d, _ = self.session("--listen", "::1")
        self.assertEqual(d.host, "::1")
        self.assertIn(f"listening on [::1]:{d.port}", d.ready_line)

    def test_ready_and_summary_at_quiet_levels(self):
        for args in (["-q"], ["--log-level", "error"], ["--log-level=warn"], ["-v", "--quiet"]):
            with self.subTest(args=args):
                d, lines = self.session(*args)
                # Nothing but the ready line and the summary: no info or debug.
                self.assertEqual(len(lines), 2, lines)
                self.assertIn(f"listening on 127.0.0.1:{d.port}", lines[0])
                self.assertIn("stopped", lines[1])

    def test_default_level_logs_info_not_debug(self):
        _, lines = self.session()
        text = "\n".join(lines)
        self.assertRegex(text, r"SIGTERM")  # the drain is announced at info
        self.assertNotRegex(text, r"accepted")

    def test_debug_logs_accept_and_close(self):
        for args in (["-v"], ["--log-level", "debug"], ["-q", "--verbose"]):
            with self.subTest(args=args):
                d, lines = self.session(*args)
                text = "\n".join(lines)
                self.assertRegex(text, rf"accepted 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{d.port}")
                self.assertRegex(text, r"closed after echoing 5 bytes")

    def test_debug_log_ipv6_addresses(self):
        d, lines = self.session("-v", "-l", "::1")
        self.assertRegex("\n".join(lines), rf"accepted \[::1\]:\d+ -> \[::1\]:{d.port}")

    def test_ready_line_is_printed_once_listening(self):
        # The port in the ready line accepts connections at once.
        d = self.start("--log-level", "error")
        self.assert_echoes(d)
        self.assert_clean_stop(d)
        self.assertEqual(sum(1 for line in d.lines if re.search("listening on", line)), 1)


if __name__ == "__main__":
    harness.main()
