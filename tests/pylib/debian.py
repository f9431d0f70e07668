"""Debian packages a test runs against (prometheus, haproxy): found on the
machine, or installed with apt-get when missing and this is root (as
tools/setup does, without recommends), or else the reason, for the test's
loud skip. Standard library only.

    path, reason = debian.ensure_program("prometheus")
    if path is None:
        self.skipTest(reason)
"""
import os
import shutil
import subprocess

# apt-get waits this long for dpkg's lock (another test may be installing
# its own package at the same time) before it gives up.
LOCK_TIMEOUT_S = 120


def _find(program):
    found = shutil.which(program)
    if found:
        return found
    for directory in ("/usr/bin", "/usr/sbin"):
        path = os.path.join(directory, program)
        if os.access(path, os.X_OK):
            return path
    return None


def _tail(text, lines=5):
    return " | ".join(line for line in text.strip().splitlines()[-lines:])


def ensure_program(program, package=None, timeout=600):
    """(path, None) for program, installing Debian's package (default: the
    program's name) with apt-get first if it is missing and this is root;
    (None, reason) when it cannot be had."""
    package = package or program
    path = _find(program)
    if path:
        return path, None
    if os.geteuid() != 0:
        return None, f"{program} is not installed and installing it needs root (apt-get install {package})"
    if _find("apt-get") is None:
        return None, f"{program} is not installed and there is no apt-get to install {package}"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = f"DPkg::Lock::Timeout={LOCK_TIMEOUT_S}"
    for command in (["apt-get", "-o", lock, "update", "-qq"],
                    ["apt-get", "-o", lock, "install", "-y", "-qq", "--no-install-recommends", package]):
        try:
            r = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"{' '.join(command)} took over {timeout} s"
        if r.returncode != 0 and command[3] == "install":
            return None, f"{' '.join(command)} failed (exit {r.returncode}): {_tail(r.stderr)}"
    path = _find(program)
    if path is None:
        return None, f"{package} was installed but there is no {program} program"
    return path, None
