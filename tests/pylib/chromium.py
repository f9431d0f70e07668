"""Headless Chromium for screenshots of echobench's HTML report: the browser
test and tools/report-screenshot. Standard library only.

    path, reason = chromium.find()        # (None, why) when there is none
    chromium.screenshot("report.html", "shot.png", 1280, 2000, timeout=60)

Chromium comes from Debian (tools/setup --browser installs it). The
environment variable ECHOD_CHROMIUM overrides where it is looked for: a
path to a binary, used as it is (a path that is not an executable counts
as "not installed", which is how the test's skip path is tried).

Each screenshot runs one Chromium with a fresh, empty profile
(--user-data-dir, removed afterwards), no first-run, sync, component or
background traffic, and no QUIC: a file:// page needs no network at all.
Chromium runs in a session (and process group) of its own, so that its
helpers (zygote, renderer, GPU process) are stopped with it, by the
process group of the PID started here, never by name.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

DEFAULT_PATH = "/usr/bin/chromium"
ENV = "ECHOD_CHROMIUM"
# The flags, plus QUIC off (no UDP either) and no scrollbars in the
# picture. --no-sandbox: CI runs as root, where Chromium's sandbox refuses.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
]


class ScreenshotError(RuntimeError):
    pass


def find():
    """(path, None) for the Chromium binary to use, or (None, reason)."""
    override = os.environ.get(ENV)
    if override:
        if os.path.isfile(override) and os.access(override, os.X_OK):
            return override, None
        return None, f"{ENV}={override} is not an executable"
    if os.access(DEFAULT_PATH, os.X_OK):
        return DEFAULT_PATH, None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found, None
    return None, f"no {DEFAULT_PATH} and no chromium on PATH; tools/setup --browser installs it"


def to_url(url_or_path):
    """A URL as it is; a file path as a file:// URL."""
    if "://" in url_or_path:
        return url_or_path
    return Path(url_or_path).resolve().as_uri()


def _stop_group(pgid):
    """SIGKILL whatever is left of the process group (Chromium's helpers)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(path, lines=15):
    """The last lines of Chromium's stderr, indented, without its D-Bus
    complaints (there is no session bus in CI; they bury the real error)."""
    try:
        with open(path, errors="replace") as f:
            text = f.read()
    except OSError:
        return "    (no stderr)"
    kept = [line for line in text.splitlines() if line.strip() and "dbus/" not in line][-lines:]
    return "\n".join("    " + line for line in kept) or "    (empty, apart from D-Bus errors)"


def screenshot(url_or_path, png_path, width, height, timeout=60.0, virtual_time_budget_ms=2000, binary=None):
    """Renders url_or_path (a URL, or an HTML file's path) in a width x
    height window and writes the PNG to png_path. Returns the seconds it
    took. virtual_time_budget_ms lets timers and layout settle before the
    picture (None: no budget). ScreenshotError when Chromium is missing,
    times out, fails, or writes no PNG; the message ends with the tail of
    Chromium's stderr."""
    if binary is None:
        binary, reason = find()
        if binary is None:
            raise ScreenshotError(f"chromium not found: {reason}")
    png_path = os.path.abspath(png_path)
    if os.path.exists(png_path):
        os.remove(png_path)  # a stale picture must not pass for a new one
    profile = tempfile.mkdtemp(prefix="echod-chromium-profile-")
    stderr_path = os.path.join(profile, "stderr.txt")
    cmd = [binary, *FLAGS, f"--user-data-dir={profile}/profile", f"--screenshot={png_path}",
           f"--window-size={width},{height}"]
    if virtual_time_budget_ms is not None:
        cmd.append(f"--virtual-time-budget={int(virtual_time_budget_ms)}")
    cmd.append(to_url(url_or_path))
    started = time.monotonic()
    try:
        with open(stderr_path, "wb") as err:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _stop_group(proc.pid)
                proc.wait(10)
                raise ScreenshotError(f"chromium did not finish within {timeout:g} s (killed): "
                                      f"{' '.join(cmd)}\n  stderr:\n{_tail(stderr_path)}") from None
            finally:
                # The main process has exited (or was killed); its helpers
                # may not have yet. The group outlives its leader only while
                # members remain, so this kills nothing but Chromium's own.
                _stop_group(proc.pid)
        elapsed = time.monotonic() - started
        if rc != 0 or not os.path.isfile(png_path) or os.path.getsize(png_path) == 0:
            raise ScreenshotError(f"chromium wrote no screenshot to {png_path} (exit status {rc}): {' '.join(cmd)}\n"
                                  f"  stderr:\n{_tail(stderr_path)}")
        return elapsed
    finally:
        # Killed helpers may still be closing files in the profile: retry.
        for _ in range(20):
            shutil.rmtree(profile, ignore_errors=True)
            if not os.path.exists(profile):
                break
            time.sleep(0.1)
