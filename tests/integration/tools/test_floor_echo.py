#!/usr/bin/env python3
"""A floor echoes: every byte back in order, across partial writes (a small
buffer and a peer that reads late), and exits 0 on SIGTERM. No timing is
checked. For floor_echo, and for floor_uv_echo in each --io mode (the
ARGs, given before the test's own).

    test_floor_echo.py PATH/TO/floor_echo
    test_floor_echo.py PATH/TO/floor_uv_echo --io poll"""
import os
import re
import signal
import socket
import subprocess
import sys
import threading

READY = re.compile(r"listening on 127\.0\.0\.1:(\d+)")


def start(command, *args):
    proc = subprocess.Popen([*command, "--port", "0", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    line = proc.stderr.readline().decode(errors="replace")
    m = READY.search(line)
    if not m:
        proc.kill()
        proc.wait(5)
        sys.exit(f"no ready line: {line!r}")
    return proc, int(m.group(1))


def echo(port, payload):
    """Send payload from a thread, half-close, read everything back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        def send():
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        chunks = []
        while True:
            chunk = s.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        sender.join(10)
        return b"".join(chunks)


def main():
    command = sys.argv[1:]
    name = " ".join([os.path.basename(command[0]), *command[1:]])
    failures = []
    for args in ((), ("--buffer-size", "16"), ("--buffer-size=4096",)):
        proc, port = start(command, *args)
        try:
            for payload in (b"hello\n", os.urandom(4 << 20)):
                got = echo(port, payload)
                if got != payload:
                    failures.append(f"{args}: sent {len(payload)} bytes, got {len(got)} back (or different)")
            # Several connections at once, each its own stream.
            payloads = [os.urandom(100_000) for _ in range(8)]
            results = [None] * len(payloads)
            threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, echo(port, payloads[i])))
                       for i in range(len(payloads))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            if results != payloads:
                failures.append(f"{args}: concurrent connections did not all echo")
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                rc = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait(5)
        if rc != 0:
            failures.append(f"{args}: exit status {rc} after SIGTERM, want 0")
    r = subprocess.run([*command, "--port", "nope"], stderr=subprocess.PIPE, timeout=10)
    if r.returncode != 2:
        failures.append(f"bad --port: exit {r.returncode}, want 2")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print(f"{name} echoes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
