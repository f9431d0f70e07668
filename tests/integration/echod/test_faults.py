"""Half-close and faults: a client that shuts down its sending side gets
every byte back and then EOF (not RST); clients that reset or vanish cost
only their own connection: echod stays up, does not spin, gives their
descriptors back, and a bystander connection keeps echoing throughout.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_faults.py /path/to/echod
"""
import socket
import subprocess
import sys
import threading
import time

import harness
from harness import (EchodTestCase, close_with_reset, cpu_share, fd_count, fill_until_blocked,
                     random_bytes, recv_until_eof, send_until_blocked, unread_limit, wait_until)

MIB = 1 << 20

# A client in its own process: connects, writes without reading, says so,
# and keeps writing until it is killed.
VANISHING_CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
s.sendall(b"x" * (256 << 10))
print("sent", flush=True)
while True:
    s.sendall(b"y" * 65536)
"""


class HalfClose(EchodTestCase):
    def half_close_roundtrip(self, d, data, max_fragment):
        """Writer thread: data in fragments, then SHUT_WR. Reader: all bytes,
        then an orderly EOF (a reset raises ConnectionResetError)."""
        with d.connect() as s:
            errors = []

            def writer():
                try:
                    view = memoryview(data)
                    for pos in range(0, len(view), max_fragment):
                        s.sendall(view[pos:pos + max_fragment])
                    s.shutdown(socket.SHUT_WR)
                except Exception as e:
                    errors.append(e)

            t = threading.Thread(target=writer, daemon=True)
            t.start()
            got = recv_until_eof(s, time.monotonic() + 60, limit=len(data))
            t.join(10)
            self.assertFalse(errors, errors)
            diff = harness.first_difference(data, got)
            self.assertIsNone(diff, diff)
            # echod has shut down its side and closed: its end is gone while
            # ours is still open.
            wait_until(lambda: not [r for r in harness.tcp_sockets(s.getsockname()[1])
                                    if r["local_port"] == d.port and r["state"] != "TIME_WAIT"],
                       10, "echod's end of the connection to close")

    def test_small_then_shut_wr(self):
        d = self.start()
        base = fd_count(d.pid)
        self.half_close_roundtrip(d, b"hello, half-closed world", 1 << 16)
        wait_until(lambda: fd_count(d.pid) == base, 10, "fds back to baseline")
        self.assert_clean_stop(d)

    def test_nothing_then_shut_wr(self):
        d = self.start()
        self.half_close_roundtrip(d, b"", 1)
        self.assert_clean_stop(d)

    def test_more_than_the_ring_then_shut_wr(self):
        # 2 MiB through a 16 KiB ring: when the FIN arrives echod is still
        # holding (and backpressuring) data it must write out first.
        d = self.start("--buffer-size", "16K")
        self.half_close_roundtrip(d, random_bytes(2 * MIB, seed=20), 100_000)
        self.assert_clean_stop(d)

    def test_shut_wr_while_not_reading(self):
        # The client sends more than fits anywhere, half-closes, and only
        # then starts reading: the FIN waits behind a full ring.
        d = self.start("--buffer-size", "64K")
        data = random_bytes(unread_limit(64 << 10), seed=21)
        with d.connect() as s:
            sent = send_until_blocked(s, len(data), stall=0.3, data=data)
            self.assertLess(sent, len(data))
            t = threading.Thread(target=lambda: (s.sendall(memoryview(data)[sent:]),
                                                 s.shutdown(socket.SHUT_WR)), daemon=True)
            t.start()
            got = recv_until_eof(s, time.monotonic() + 60, limit=len(data))
            t.join(10)
            self.assertFalse(t.is_alive())
            diff = harness.first_difference(data, got)
            self.assertIsNone(diff, diff)
        self.assert_clean_stop(d)

    def test_shut_wr_while_ring_holds_data(self):
        # A 16 MiB ring takes all 10 MiB while the client reads nothing, so
        # when echod reads the FIN, megabytes still wait in its ring (the
        # kernel buffers toward the client are full): they must all come
        # back before echod's FIN.
        d = self.start("--buffer-size", "16M")
        data = random_bytes(10 * MIB, seed=23)
        with d.connect(timeout=20) as s:
            t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)), daemon=True)
            t.start()
            t.join(20)
            self.assertFalse(t.is_alive(), "echod did not take 10 MiB into a 16 MiB ring")
            port = s.getsockname()[1]

            def fin_read():
                # echod's end got the FIN (CLOSE_WAIT, or later states if
                # echod closed already: the echo check tells) and read all.
                rows = [r for r in harness.tcp_sockets(port) if r["local_port"] == d.port]
                return not rows or (rows[0]["state"] != "ESTABLISHED" and rows[0]["rx_queue"] == 0)
            wait_until(fin_read, 20, "echod to read all data and the FIN")
            got = recv_until_eof(s, time.monotonic() + 30, limit=len(data))
            diff = harness.first_difference(data, got)
            self.assertIsNone(diff, diff)
        self.assert_clean_stop(d)

    def test_half_close_ipv6(self):
        d = self.start("-l", "::1")
        self.half_close_roundtrip(d, random_bytes(300_000, seed=22), 7000)
        self.assert_clean_stop(d)


class Faults(EchodTestCase):
    def setUp(self):
        self.d = self.start("--buffer-size", "32K")
        self.base_fds = fd_count(self.d.pid)
        self.bystander = self.d.connect()
        self.addCleanup(self.bystander.close)
        self.round = 0
        self.check_bystander()

    def check_bystander(self):
        self.round += 1
        self.assert_echo(self.bystander, random_bytes(50_000, seed=self.round), timeout=20)

    def check_survived(self, what):
        """echod is up, echoes on a new connection and on the bystander."""
        self.assertTrue(self.d.running(), f"echod died after {what}:\n{self.d.stderr_text()}")
        self.assert_echoes(self.d, f"after {what}".encode())
        self.check_bystander()

    def check_quiet_and_clean(self):
        # Every faulty connection is gone (only the bystander remains)...
        wait_until(lambda: fd_count(self.d.pid) == self.base_fds + 1, 10,
                   f"fds back to baseline + bystander (now {fd_count(self.d.pid)}, "
                   f"baseline {self.base_fds})")
        # ...and nothing keeps the loop busy.
        share = cpu_share(self.d.pid, 0.5)
        self.assertLess(share, 0.3, f"echod used {share:.0%} of a CPU while idle")
        self.bystander.close()
        self.assert_clean_stop(self.d)

    def test_reset_while_echo_in_flight(self):
        for i in range(20):
            s = self.d.connect()
            # Data in both directions: echod is writing when the RST comes.
            s.sendall(random_bytes(200_000, seed=i))
            close_with_reset(s)
        self.check_survived("resets with data in flight")
        self.check_quiet_and_clean()

    def test_reset_while_backpressured(self):
        # The client fills everything (echod's ring full, a write pending,
        # reading stopped), then resets.
        for i in range(3):
            s = self.d.connect()
            fill_until_blocked(s, 32 << 10)
            close_with_reset(s)
            self.check_survived(f"reset of a backpressured client ({i})")
        self.check_quiet_and_clean()

    def test_close_with_unread_echo(self):
        # An ordinary close() while echoed bytes sit unread in the client's
        # receive queue makes the client's kernel send RST.
        for i in range(20):
            s = self.d.connect()
            s.sendall(b"z" * 100_000)
            s.close()
        self.check_survived("closes with unread input")
        self.check_quiet_and_clean()

    def test_reset_right_after_connect(self):
        # Accepting a connection that is already dead must not hurt.
        for _ in range(50):
            close_with_reset(self.d.connect())
        self.check_survived("resets right after connect")
        self.check_quiet_and_clean()

    def test_connect_and_close_without_data(self):
        for _ in range(50):
            self.d.connect().close()
        self.check_survived("empty connections")
        self.check_quiet_and_clean()

    def test_half_close_then_reset(self):
        for i in range(10):
            s = self.d.connect()
            s.sendall(random_bytes(300_000, seed=100 + i))
            s.shutdown(socket.SHUT_WR)
            close_with_reset(s)
        self.check_survived("half-close then reset")
        self.check_quiet_and_clean()

    def test_client_process_vanishes(self):
        # A client process killed mid-stream: the kernel cleans up its socket.
        for i in range(3):
            child = subprocess.Popen([sys.executable, "-c", VANISHING_CLIENT, self.d.host, str(self.d.port)],
                                     stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
            try:
                line = child.stdout.readline()  # bounded: the child's own socket timeout
                self.assertEqual(line.strip(), b"sent")
            finally:
                child.kill()
                child.wait(10)
                child.stdout.close()
            self.check_survived(f"a vanished client ({i})")
        self.check_quiet_and_clean()


if __name__ == "__main__":
    harness.main()
