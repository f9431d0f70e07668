#!/usr/bin/env python3
"""The man pages format without a single warning: `groff -ww -man -Tutf8`
(every warning on, as lintian's groff check) and `man --warnings -l` (as a
user reads them) print nothing on stderr, and no words run together in
the text man prints (a macro such as .BR given a sentence joins its words
without a space, and groff does not warn). First a page with a known fault
must make groff warn, so a silent groff cannot pass the test. groff comes
with groff-base and man with man-db (tools/setup installs both); without
them the test skips (exit 77), loudly.
Usage: test_man_pages.py PAGE..."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

BROKEN = ".TH BROKEN 1\n.SH NAME\nbroken \\- a page with an undefined string \\*[nosuchstring]\n"


def run_together(text):
    """Words of 30 or more characters that are not a path or URL (/), an
    option or its value (-, =) or an identifier (_): words run together."""
    return [w for w in text.split() if len(w) >= 30 and not w.startswith("-") and not set(w) & set("/=_")]


JOINED = ".TH JOINED 1\n.SH NAME\njoined \\- a page\n.SH DESCRIPTION\n.BR SEE ), this sentence runs together on one line\n"


def groff_warnings(page):
    run = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-z", page], capture_output=True, text=True,
                         timeout=30)
    return run.returncode, run.stderr.strip()


def man_warnings(page):
    # man-db: --warnings passes -ww to groff; MANWIDTH keeps the layout fixed.
    env = dict(os.environ, MANWIDTH="80", MAN_DISABLE_SECCOMP="1", LC_ALL="C.UTF-8")
    run = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page], capture_output=True, text=True,
                         timeout=30, env=env)
    warnings = run.stderr.strip()
    # Hyphenation and bold (backspaces) would split or double words.
    text = re.sub(r".\x08", "", run.stdout).replace("\u2010\n", "")
    joined = run_together(text)
    if joined:
        warnings = "\n".join(filter(None, [warnings, "words run together: " + ", ".join(joined)]))
    return run.returncode, warnings


def main():
    pages = sys.argv[1:]
    missing = [p for p in ("groff", "man") if shutil.which(p) is None]
    if missing:
        print(f"*** SKIPPED: {' and '.join(missing)} not installed (tools/setup installs groff-base and man-db)",
              file=sys.stderr)
        sys.exit(77)

    with tempfile.NamedTemporaryFile("w", suffix=".1") as broken:
        broken.write(BROKEN)
        broken.flush()
        if not groff_warnings(broken.name)[1]:
            sys.exit("groff -ww printed no warning for an undefined string: the check below would prove nothing")
    with tempfile.NamedTemporaryFile("w", suffix=".1") as joined:
        joined.write(JOINED)
        joined.flush()
        if "words run together" not in man_warnings(joined.name)[1]:
            sys.exit("a sentence given to .BR was not found run together: the check below would prove nothing")

    failures = []
    for page in pages:
        for what, check in (("groff -ww -man -Tutf8", groff_warnings), ("man --warnings -l", man_warnings)):
            status, warnings = check(page)
            if status != 0 or warnings:
                failures.append(f"{what} {page}: exit {status}\n{warnings}")
    if failures:
        print(*failures, sep="\n", file=sys.stderr)
        sys.exit(1)
    print(f"{len(pages)} man pages: no warning from groff -ww nor man --warnings")


if __name__ == "__main__":
    main()
