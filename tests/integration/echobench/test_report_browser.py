"""echobench's HTML report in a real browser: headless Chromium takes a
screenshot of the report of a short run against echod, and of a --compare
page of two runs, and the PNG must not be blank: the size asked for, some
2% of pixels off the background, 20 colours or more, and pixels in the
first series' colour (#1f77b4), which proves an SVG polyline was drawn.

    python3 test_report_browser.py ECHOBENCH ECHOD [--keep DIR] [unittest args]
    python3 test_report_browser.py --selfcheck [--keep DIR]

--selfcheck renders a small HTML fixture (an inline SVG polyline in
#1f77b4) instead of echobench's reports: it checks the screenshot and PNG
machinery alone, with no echod or echobench. --keep DIR copies every page
and screenshot there. The echobench runs also start with the fixture, so a
failing report is told apart from a broken browser.

Without Chromium (see chromium.py; ECHOD_CHROMIUM overrides its path) the
test prints "*** SKIPPED: chromium is not installed (...)" and exits 77,
meson's code for a skip; tools/test-summary lets only this test skip, and
says so in its summary line. Standard library only. Every subprocess has a
time bound; echod is stopped by the harness, Chromium by its process group.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "pylib"))
import chromium  # noqa: E402
import png  # noqa: E402
import harness  # noqa: E402
from harness import Echod  # noqa: E402

SKIP_STATUS = 77  # meson: the test was skipped
FIRST_SERIES = "#1f77b4"
# The report's window: wide enough for its charts side by side or stacked,
# tall enough for all three.
WIDTH, HEIGHT = 1280, 2000
SCREENSHOT_TIMEOUT = 60.0
ECHOBENCH_TIMEOUT = 60.0
# What a rendered page has and a blank one has not (png.blank_check).
MIN_FOREGROUND = 0.02
MIN_COLOURS = 20
MIN_SERIES_PIXELS = 50

ECHOBENCH = None
ECHOD = None
KEEP = None  # --keep DIR

SERIES = re.compile(r"<polyline\b[^>]*\bclass=\"series\b")
# Anything the browser would fetch: the report must be one file, and the
# test sends nothing beyond loopback.
EXTERNAL = re.compile(r"<script\b[^>]*\bsrc=|<link\b|<img\b[^>]*\bsrc=\"(?!data:)|@import|url\(\s*['\"]?https?:",
                      re.IGNORECASE)

FIXTURE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fixture</title>
<style>body { font-family: sans-serif; margin: 24px; } .plot { fill: #f6f6f6; }
.grid { stroke: #d0d0d0; } .series { fill: none; stroke-width: 2; }</style></head>
<body><h1>echobench report (fixture)</h1><p>Throughput over time, 4 connections.</p>
<svg width="720" height="360" viewBox="0 0 720 360" xmlns="http://www.w3.org/2000/svg">
<rect class="plot" x="60" y="20" width="640" height="300"/>
<g class="grid"><line x1="60" y1="95" x2="700" y2="95"/><line x1="60" y1="170" x2="700" y2="170"/>
<line x1="60" y1="245" x2="700" y2="245"/></g>
<polyline class="series s0" stroke="#1f77b4"
 points="60,300 140,120 220,150 300,90 380,110 460,70 540,95 620,60 700,80"/>
<polyline class="series s1" stroke="#ff7f0e"
 points="60,310 140,200 220,230 300,180 380,210 460,170 540,190 620,160 700,175"/>
<g font-size="12"><text x="30" y="324">0</text><text x="20" y="99">100k</text>
<text x="360" y="350">time (s)</text></g></svg></body></html>
"""


def skip_loudly(reason):
    line = f"*** SKIPPED: chromium is not installed ({reason})"
    print(line, flush=True)
    print(line, file=sys.stderr, flush=True)
    sys.exit(SKIP_STATUS)


def run_echobench(*args):
    return harness.run_echobench(ECHOBENCH, *args, timeout=ECHOBENCH_TIMEOUT)


class BrowserTestCase(unittest.TestCase):
    def setUp(self):
        self.dir = self.enterContext(tempfile.TemporaryDirectory(prefix="echod-report-browser-"))

    def keep(self, *paths):
        if KEEP:
            os.makedirs(KEEP, exist_ok=True)
            for p in paths:
                if os.path.exists(p):
                    shutil.copy(p, os.path.join(KEEP, f"{self.id().rsplit('.', 1)[-1]}-{os.path.basename(p)}"))

    def check_html(self, html, min_series=1):
        self.assertTrue(os.path.isfile(html), f"{html} was not written")
        with open(html, encoding="utf-8") as f:
            text = f.read()
        self.assertIn("<svg", text, "no inline <svg> in the page")
        series = len(SERIES.findall(text))
        self.assertGreaterEqual(series, min_series, f'{series} <polyline class="series ..."> in the page')
        external = EXTERNAL.findall(text)
        self.assertEqual(external, [], "the page loads something from outside itself")

    def check_screenshot(self, page, width=WIDTH, height=HEIGHT):
        """Screenshots page (an HTML file) and asserts the PNG is not blank."""
        shot = os.path.join(self.dir, os.path.splitext(os.path.basename(page))[0] + ".png")
        try:
            seconds = chromium.screenshot(page, shot, width, height, timeout=SCREENSHOT_TIMEOUT)
        finally:
            self.keep(page, shot)
        started = time.monotonic()
        image = png.read(shot)
        decoded = time.monotonic() - started
        about = png.describe(image, FIRST_SERIES)
        print(f"\n  {os.path.basename(page)}: screenshot in {seconds:.1f} s, decoded in {decoded:.1f} s: {about}",
              file=sys.stderr, flush=True)
        problem = png.blank_check(image, width, height, min_foreground=MIN_FOREGROUND, min_colours=MIN_COLOURS,
                                  colour=FIRST_SERIES, min_colour_pixels=MIN_SERIES_PIXELS)
        self.assertIsNone(problem, f"{os.path.basename(shot)} looks blank ({about})")


class Fixture(BrowserTestCase):
    """The browser and the PNG checks alone, on a page written here."""

    def test_fixture_renders(self):
        page = os.path.join(self.dir, "fixture.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(FIXTURE)
        self.check_html(page, min_series=2)
        self.check_screenshot(page, 800, 600)

    def test_blank_page_is_caught(self):
        page = os.path.join(self.dir, "blank.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write("<!doctype html><html><body></body></html>\n")
        with self.assertRaisesRegex(AssertionError, "looks blank"):
            self.check_screenshot(page, 320, 240)


class Report(BrowserTestCase):
    """echobench --report after a short run against echod."""

    def test_report(self):
        page = os.path.join(self.dir, "report.html")
        with Echod(ECHOD) as d:
            r = run_echobench("-H", d.host, "-p", d.port, "-c", 4, "-d", 1, "--warmup", 0.5, "--report", page)
        self.assertEqual(r.returncode, 0, f"echobench --report: exit {r.returncode}: "
                                          f"{r.stderr.decode(errors='replace')}")
        self.check_html(page)
        self.check_screenshot(page)


class Compare(BrowserTestCase):
    """echobench --report --compare over two runs' --histogram-out files."""

    def test_compare(self):
        runs = [os.path.join(self.dir, name) for name in ("a.json", "b.json")]
        with Echod(ECHOD) as d:
            for path in runs:
                r = run_echobench("-H", d.host, "-p", d.port, "-c", 4, "-d", 1, "--warmup", 0.5,
                                  "--histogram-out", path)
                self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
        page = os.path.join(self.dir, "compare.html")
        r = run_echobench("--report", page, "--compare", *runs)
        self.assertEqual(r.returncode, 0, f"echobench --report --compare: exit {r.returncode}: "
                                          f"{r.stderr.decode(errors='replace')}")
        self.check_html(page, min_series=2)
        self.check_screenshot(page)


def main():
    global ECHOBENCH, ECHOD, KEEP
    argv = sys.argv[1:]
    if "--keep" in argv:
        i = argv.index("--keep")
        if i + 1 >= len(argv):
            sys.exit("--keep needs a directory")
        KEEP = os.path.abspath(argv[i + 1])
        del argv[i:i + 2]
    selfcheck = "--selfcheck" in argv
    if selfcheck:
        argv.remove("--selfcheck")
        tests = ["Fixture"]
    else:
        if len(argv) < 2:
            print(__doc__.split("\n\n")[1], file=sys.stderr)
            sys.exit(2)
        ECHOBENCH, ECHOD = (os.path.abspath(p) for p in argv[:2])
        for p in (ECHOBENCH, ECHOD):
            if not os.access(p, os.X_OK):
                sys.exit(f"{p}: not an executable")
        argv = argv[2:]
        tests = [a for a in argv if not a.startswith("-")] or ["Fixture", "Report", "Compare"]
        argv = [a for a in argv if a.startswith("-")]

    binary, reason = chromium.find()
    if binary is None:
        skip_loudly(reason)
    print(f"chromium: {binary}", file=sys.stderr, flush=True)
    started = time.monotonic()
    program = unittest.main(module="__main__", argv=[sys.argv[0], *argv, *tests], verbosity=2, exit=False)
    result = program.result
    print(f"\n{os.path.basename(sys.argv[0])}: {result.testsRun} tests, {len(result.failures)} failures, "
          f"{len(result.errors)} errors, {len(result.skipped)} skipped in {time.monotonic() - started:.1f} s")
    sys.exit(0 if result.wasSuccessful() and result.testsRun else 1)


if __name__ == "__main__":
    main()
