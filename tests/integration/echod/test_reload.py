"""SIGHUP: echod reads its --config file again and applies what can change
live (log-level, idle-timeout, max-connections, stats-interval,
metrics-file, faults); options bound at start are named in one warning and
kept; a file that no longer reads or parses is one error line and changes
nothing. Under --workers the parent reads the file first and forwards the
signal. Each test shows the behaviour change, not only the log line.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_reload.py /path/to/echod
"""
import os
import signal
import socket
import tempfile
import time

import harness
from harness import EchodTestCase, children, fd_count, metrics, recv_exactly, recv_until_closed, wait_until

RELOAD_DONE = r"notice: reloaded |error: reload: |no config file to re-read"


class ReloadTestCase(EchodTestCase):
    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.conf = os.path.join(self.dir, "echod.conf")

    def write_config(self, text):
        """Replaces the config file at once (as an editor or a package
        manager does: a new file renamed over the old)."""
        if os.path.isdir(self.conf):
            os.rmdir(self.conf)
        temp = self.conf + ".new"
        with open(temp, "w") as f:
            f.write(text)
        os.replace(temp, self.conf)

    def start_with(self, text, *args, **kwargs):
        self.write_config(text)
        return self.start("--config", self.conf, *args, **kwargs)

    def reload(self, d, text=None):
        """Writes text (if given) to the config file, sends SIGHUP, waits
        for the reload's notice or error line and returns the lines it
        logged (a stats line asked for after the SIGHUP marks the end: the
        signals are handled in order)."""
        if text is not None:
            self.write_config(text)
        # A line echod wrote just before (a refusal's warning, say) may not
        # have reached d.lines yet: a stats line asked for now comes after
        # it on the same pipe, so once that is read, so is everything before.
        mark = len(d.lines)
        d.signal(signal.SIGUSR1)
        d.wait_for_line(r"notice: stats: ", start=mark)
        mark = len(d.lines)
        d.signal(signal.SIGHUP)
        d.wait_for_line(RELOAD_DONE, start=mark)
        d.signal(signal.SIGUSR1)
        d.wait_for_line(r"notice: stats: ", start=mark)
        return [line for line in d.lines[mark:] if "stats: " not in line]

    def assert_served(self, d, tag=b"served"):
        """A new connection is served (echoed); returns it, open."""
        s = self.client(d)
        s.sendall(tag)
        self.assertEqual(recv_exactly(s, len(tag), time.monotonic() + 10), tag)
        return s

    def assert_refused(self, d):
        """A new connection is accepted and closed at once, unechoed."""
        with d.connect() as s:
            try:
                s.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                return
            _, dropped = recv_until_closed(s, time.monotonic() + 10)
            self.assertEqual(dropped, 0, "a connection over the limit was echoed to")

    def assert_echo(self, s, data):
        s.sendall(data)
        self.assertEqual(recv_exactly(s, len(data), time.monotonic() + 10), data)


class LiveOptions(ReloadTestCase):
    def test_max_connections_lowered_keeps_open_ones_refuses_new_ones(self):
        d = self.start_with("max-connections = 3\n")
        held = [self.assert_served(d, b"a"), self.assert_served(d, b"b")]
        lines = self.reload(d, "max-connections = 1\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {self.conf}: max-connections 3 -> 1"])
        for s in held:  # above the new limit, and still served
            self.assert_echo(s, b"still here")
        self.assert_refused(d)
        lines = self.reload(d, "max-connections = 5\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {self.conf}: max-connections 1 -> 5"])
        self.assert_served(d, b"c")
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b1 refused over --max-connections\b")

    def test_log_level(self):
        d = self.start_with("log-level = info\n")
        self.assert_served(d).close()
        self.reload(d)  # nothing changed; and the close above is logged by now if ever
        self.assertFalse([line for line in d.lines if "debug:" in line], d.stderr_text())
        lines = self.reload(d, "log-level = debug\n")
        self.assertIn(f"echod: notice: reloaded {self.conf}: log-level info -> debug", lines)
        self.assert_served(d).close()
        d.wait_for_line(r"debug: closed after echoing 6 bytes")
        # warn, as -q: the info line of the drain is gone, the notices stay.
        self.reload(d, "log-level = warn\n")
        mark = len(d.lines)
        self.assertEqual(d.stop(), 0)
        self.assertFalse([line for line in d.lines[mark:] if "info:" in line or "debug:" in line],
                         d.stderr_text())
        self.assertTrue(d.summary_line(), d.stderr_text())

    def test_idle_timeout_turned_on_closes_open_idle_connections(self):
        d = self.start_with("# no idle timeout\n")
        silent = self.client(d)
        self.assert_echo(silent, b"once")
        lines = self.reload(d, "idle-timeout = 0.3\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {self.conf}: idle-timeout 0 -> 0.3"])
        outcome, _ = recv_until_closed(silent, time.monotonic() + 10)
        self.assertEqual(outcome, "eof")
        # And off again: a new silent connection stays (the stats line shows it open).
        self.reload(d, "idle-timeout = 0\n")
        quiet = self.assert_served(d)
        d.wait_for_stats(r"stats: 1 connections")
        self.assert_echo(quiet, b"still open")
        self.assert_clean_stop(d)
        self.assertRegex(d.summary_line(), r"\b1 closed idle\b")

    def test_stats_interval_starts_the_periodic_line(self):
        d = self.start_with("stats-interval = 0\n")
        lines = self.reload(d, "stats-interval = 0.1\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {self.conf}: stats-interval 0 -> 0.1"])
        mark = len(d.lines)
        # Periodic lines, not asked for: at least two more.
        wait_until(lambda: sum("stats: " in line for line in d.lines[mark:]) >= 2, 10, "periodic stats lines")
        self.reload(d, "stats-interval = 0\n")
        self.assert_clean_stop(d)

    def test_metrics_file_next_write_goes_to_the_new_path(self):
        first = os.path.join(self.dir, "first.prom")
        second = os.path.join(self.dir, "second.prom")
        d = self.start_with(f"metrics-file = {first}\nstats-interval = 0.1\n")
        wait_until(lambda: os.path.exists(first), 10, "the first metrics file")
        self.assert_served(d).close()
        lines = self.reload(d, f"metrics-file = {second}\nstats-interval = 0.1\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {self.conf}: metrics-file '{first}' -> '{second}'"])
        wait_until(lambda: os.path.exists(second), 10, "the second metrics file")
        self.assertEqual(metrics(second)["echod_connections_accepted_total"], 1)
        # A metrics file that cannot be written: an error, the old file kept.
        missing = os.path.join(self.dir, "no", "such.prom")
        lines = self.reload(d, f"metrics-file = {missing}\nstats-interval = 0.1\n")
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^echod: error: reload: --metrics-file: .*no/such\.prom: .*; nothing changed$")
        os.unlink(second)
        wait_until(lambda: os.path.exists(second), 10, "the second metrics file, rewritten")
        self.assert_clean_stop(d)

    def test_faults_apply_to_new_connections_open_ones_keep_theirs(self):
        d = self.start_with("# honest\n")
        old = self.assert_served(d, b"before")
        lines = self.reload(d, "fault = close=4\n")
        self.assertIn(f"echod: notice: reloaded {self.conf}: fault none -> close=4", lines)
        self.assertTrue(any("warn: faults on: close=4" in line for line in lines), lines)
        # A new connection gets 4 bytes back, then FIN.
        with d.connect() as s:
            s.sendall(b"0123456789")
            self.assertEqual(recv_exactly(s, 4, time.monotonic() + 10), b"0123")
            outcome, extra = recv_until_closed(s, time.monotonic() + 10)
            self.assertEqual((outcome, extra), ("eof", 0))
        # The connection open before the reload stays honest.
        self.assert_echo(old, b"0123456789" * 10)
        lines = self.reload(d, "# honest again\n")
        self.assertIn(f"echod: notice: reloaded {self.conf}: fault close=4 -> none", lines)
        self.assert_echo(self.assert_served(d), b"0123456789" * 10)
        self.assert_clean_stop(d)

    def test_command_line_still_wins(self):
        d = self.start_with("max-connections = 5\n", "--max-connections", "1")
        held = self.assert_served(d)
        lines = self.reload(d, "max-connections = 100\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {self.conf}: nothing changed"])
        self.assert_refused(d)
        held.close()
        self.assert_clean_stop(d)


class KeptUntilRestart(ReloadTestCase):
    def test_bound_options_warned_and_kept_live_ones_applied(self):
        d = self.start_with("listen = 127.0.0.1\nbacklog = 64\nmax-connections = 3\n")
        self.assert_served(d)
        lines = self.reload(d, "listen = 127.0.0.2\nbacklog = 5\nmax-connections = 1\n")
        self.assertEqual(lines, [
            "echod: warn: reload: listen 127.0.0.1 -> 127.0.0.2, backlog 64 -> 5: cannot change live, "
            "kept until restart",
            f"echod: notice: reloaded {self.conf}: max-connections 3 -> 1",
        ])
        # The old address still serves (up to the new limit); the new one is not listened on.
        self.assert_refused(d)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.2", d.port), timeout=10).close()
        self.assert_clean_stop(d)


class BadFiles(ReloadTestCase):
    def assert_nothing_changed(self, d, lines, *expected):
        self.assertEqual(len(lines), 1, lines)
        self.assertTrue(lines[0].startswith("echod: error: reload: "), lines)
        self.assertTrue(lines[0].endswith("; nothing changed"), lines)
        for part in expected:
            self.assertIn(part, lines[0])
        self.assertTrue(d.running())
        # Still max-connections 1, from the good file: one served, the next refused.
        s = self.assert_served(d)
        self.assert_refused(d)
        s.close()
        wait_until(lambda: fd_count(d.pid) == self.base_fds, 10, "the connection closed")

    def test_every_bad_file_is_one_error_line_and_changes_nothing(self):
        d = self.start_with("max-connections = 1\n")
        self.base_fds = fd_count(d.pid)
        conf = self.conf
        self.assert_nothing_changed(d, self.reload(d, "max-connections = 5\nbacklog = 0\n"),
                                    f"{conf}:2: backlog: 0 is out of range 1..65535")
        self.assert_nothing_changed(d, self.reload(d, "max-connections = 5\nno such key\n"), f"{conf}:2: ")
        self.assert_nothing_changed(d, self.reload(d, ""), f"cannot read '{conf}': is empty")
        self.assert_nothing_changed(d, self.reload(d, "\0" * 4096), f"{conf}:1: a NUL byte")
        self.assert_nothing_changed(d, self.reload(d, "# padding\n" * 200_000 + "max-connections = 5\n"),
                                    f"cannot read '{conf}': is larger than 1MiB")
        os.unlink(conf)
        self.assert_nothing_changed(d, self.reload(d), f"cannot read '{conf}': No such file or directory")
        os.mkdir(conf)
        self.assert_nothing_changed(d, self.reload(d), f"cannot read '{conf}': is a directory")
        os.rmdir(conf)
        os.symlink("/dev/zero", conf)
        self.assert_nothing_changed(d, self.reload(d), f"cannot read '{conf}': is not a regular file")
        os.unlink(conf)
        # Fixed: applied.
        lines = self.reload(d, "max-connections = 2\n")
        self.assertEqual(lines, [f"echod: notice: reloaded {conf}: max-connections 1 -> 2"])
        self.assert_clean_stop(d)

    def test_no_config_file(self):
        d = self.start("--max-connections", "1")
        lines = self.reload(d)
        self.assertEqual(lines, ["echod: notice: SIGHUP: started without --config, no config file to re-read; "
                                 "nothing changed"])
        s = self.assert_served(d)
        self.assert_refused(d)
        s.close()
        self.assert_clean_stop(d)


class Systemd(ReloadTestCase):
    def test_reloading_then_ready(self):
        path = os.path.join(self.dir, "notify")
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind(path)
            notify.settimeout(10)
            d = self.start_with("max-connections = 2\n", env=dict(os.environ, NOTIFY_SOCKET=path))
            self.assertEqual(notify.recv(4096), b"READY=1")
            for text in ("max-connections = 1\n", "max-connections = 0\n"):  # applied, then failed
                self.reload(d, text)
                reloading = notify.recv(4096).decode()
                self.assertRegex(reloading, r"^RELOADING=1\nMONOTONIC_USEC=[1-9][0-9]*$")
                usec = int(reloading.split("=")[-1])
                self.assertLessEqual(usec, time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000)
                self.assertEqual(notify.recv(4096), b"READY=1")
            d.signal(signal.SIGTERM)
            self.assertEqual(notify.recv(4096), b"STOPPING=1")
            self.assertEqual(d.wait(10), 0)


class Workers(ReloadTestCase):
    def start_workers(self, n, text):
        d = self.start_with(text, "--workers", str(n))
        # Every worker listening, and the parent's line: the start-up's lines are all out.
        wait_until(lambda: sum("listening on" in line for line in d.lines) == n
                   and any("workers started" in line for line in d.lines), 10, f"{n} workers")
        return d

    def reload_workers(self, d, n, text):
        """reload(), then waits for every worker's own line."""
        mark = len(d.lines)
        lines = self.reload(d, text)
        wait_until(lambda: sum("reloaded" in line for line in d.lines[mark:] if "worker " in line) == n, 10,
                   f"{n} workers to reload:\n" + d.stderr_text())
        return lines

    def test_every_worker_applies_the_new_limit(self):
        d = self.start_workers(2, "max-connections = 100\n")
        lines = self.reload_workers(d, 2, "max-connections = 1\n")
        self.assertIn(f"echod: notice: reloaded {self.conf}: max-connections 100 -> 1", lines)
        # 40 connections over 2 workers (SO_REUSEPORT: both get some): each
        # worker serves one, refuses the rest.
        clients = [self.client(d) for _ in range(40)]
        served = []
        for s in clients:
            try:
                s.sendall(b"p")
                if s.recv(1) == b"p":
                    served.append(s)
            except (ConnectionResetError, BrokenPipeError):
                pass
        self.assertEqual(len(served), 2, d.stderr_text())
        for s in clients:
            s.close()
        self.assert_clean_stop(d)

    def test_a_bad_file_is_one_line_and_reaches_no_worker(self):
        d = self.start_workers(2, "max-connections = 1\n")
        lines = self.reload(d, "max-connections = 0\n")
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], r"^echod: error: reload: .*echod\.conf:1: max-connections: .*; nothing changed$")
        # Untouched: each worker still serves one connection, not more.
        clients = [self.client(d) for _ in range(40)]
        served = 0
        for s in clients:
            try:
                s.sendall(b"p")
                served += s.recv(1) == b"p"
            except (ConnectionResetError, BrokenPipeError):
                pass
        self.assertEqual(served, 2)
        self.assertFalse([line for line in d.lines if "worker " in line and "reload" in line], d.stderr_text())
        for s in clients:
            s.close()
        self.assert_clean_stop(d)

    def test_a_worker_restarted_after_a_reload_starts_with_the_new_options(self):
        d = self.start_workers(2, "# honest\n")
        self.reload_workers(d, 2, "fault = close=2\n")
        victim = children(d.pid)[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: len(children(d.pid)) == 2 and victim not in children(d.pid), 10, "a new worker")
        # Every new connection, on either worker, gets 2 bytes and FIN.
        for _ in range(20):
            with d.connect() as s:
                s.sendall(b"abcdef")
                self.assertEqual(recv_exactly(s, 2, time.monotonic() + 10), b"ab")
                self.assertEqual(recv_until_closed(s, time.monotonic() + 10), ("eof", 0))
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
