"""Out of file descriptors: with RLIMIT_NOFILE 32 and 60 clients, the
connections echod serves keep echoing, the others are closed or wait (never
a hang of served ones), the loop does not spin, and once descriptors free up
new connections are served again.

    PYTHONPATH=tests/pylib python3 tests/integration/echod/test_fdlimit.py /path/to/echod
"""
import selectors
import time

import harness
from harness import (EchodTestCase, cpu_share, fd_count, limit_nofile, random_bytes,
                     wait_until)

LIMIT = 32
CLIENTS = 60


class OutOfDescriptors(EchodTestCase):
    def classify(self, clients, timeout):
        """Sends a distinct message on each client and waits (at most
        timeout) until each is echoed or closed. Returns (served, closed,
        waiting) lists of (index, socket)."""
        sel = selectors.DefaultSelector()
        state = {}
        for i, s in enumerate(clients):
            msg = f"client {i:03d}".encode()
            try:
                s.sendall(msg)
            except (ConnectionResetError, BrokenPipeError):
                state[i] = "closed"
                continue
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, (i, msg, bytearray()))
        deadline = time.monotonic() + timeout
        while len(sel.get_map()) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                i, msg, got = key.data
                try:
                    chunk = key.fileobj.recv(64)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    self.assertEqual(bytes(got), b"", f"client {i}: partial echo then close")
                    state[i] = "closed"
                    sel.unregister(key.fileobj)
                    continue
                got += chunk
                self.assertTrue(msg.startswith(bytes(got)), f"client {i}: wrong echo {bytes(got)!r}")
                if bytes(got) == msg:
                    state[i] = "served"
                    sel.unregister(key.fileobj)
        for key in list(sel.get_map().values()):
            state[key.data[0]] = "waiting"
        sel.close()
        for s in clients:
            s.setblocking(True)
        return ([(i, s) for i, s in enumerate(clients) if state[i] == kind]
                for kind in ("served", "closed", "waiting"))

    def test_at_the_limit(self):
        d = self.start(preexec_fn=limit_nofile(LIMIT))
        base = fd_count(d.pid)
        self.assertLess(base, LIMIT - 4, "echod needs almost all of its fds for itself")
        clients = [self.client(d, timeout=5) for _ in range(CLIENTS)]

        served, closed, waiting = self.classify(clients, timeout=3)
        self.assertTrue(served, "no client served")
        self.assertLessEqual(len(served), LIMIT - base + 1)
        self.assertTrue(closed or waiting, "all 60 served with 32 descriptors?")
        self.assertTrue(d.running())
        if closed:
            # Closed for want of a descriptor: said (once a second at most).
            d.wait_for_line(r"warn: accept: too many open files \(EMFILE\); \d+ connections open, \d+ accept errors")

        # The loop does not spin while clients it cannot accept are about.
        share = cpu_share(d.pid, 1.0)
        self.assertLess(share, 0.3, f"echod used {share:.0%} of a CPU at the fd limit")

        # Served connections keep being served, with real amounts of data.
        for i, s in served:
            self.assert_echo(s, random_bytes(100_000, seed=i), timeout=20)

        # Free the descriptors: what waited is now served or closed, never hung.
        for _, s in served:
            s.close()
        wait_until(lambda: fd_count(d.pid) <= base + len(waiting), 10,
                   "echod to release the served connections' descriptors")
        late_served, _, still_waiting = self.classify([s for _, s in waiting], timeout=5)
        self.assertEqual(still_waiting, [], "clients left waiting after descriptors freed up")
        for _, s in closed + waiting:
            s.close()
        wait_until(lambda: fd_count(d.pid) == base, 10,
                   f"fds back to baseline {base} (now {fd_count(d.pid)})")

        # Accepting resumes: as many new clients as fit are served.
        fresh = [self.client(d, timeout=5) for _ in range(LIMIT - base - 2)]
        served, closed, waiting = self.classify(fresh, timeout=5)
        self.assertEqual((len(closed), len(waiting)), (0, 0),
                         f"after the fds came back: {len(closed)} closed, {len(waiting)} waiting")
        for _, s in served:
            s.close()
        self.assert_clean_stop(d)

    def test_repeated_bursts(self):
        # Hitting the limit again and again leaves echod working and its
        # descriptor count where it started.
        d = self.start(preexec_fn=limit_nofile(LIMIT))
        base = fd_count(d.pid)
        for burst in range(5):
            clients = [d.connect(timeout=5) for _ in range(40)]
            try:
                served, _, _ = self.classify(clients, timeout=2)
                self.assertTrue(served, f"burst {burst}: nobody served")
            finally:
                for s in clients:
                    s.close()
            wait_until(lambda: fd_count(d.pid) == base, 10, f"burst {burst}: fds back to baseline")
            self.assert_echoes(d, b"between bursts")
        self.assert_clean_stop(d)


if __name__ == "__main__":
    harness.main()
