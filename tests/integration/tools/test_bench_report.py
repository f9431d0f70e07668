"""tools/bench --report: one echobench --compare page for the whole matrix,
a section per cell with echod and the floor overlaid; and the cells with
their own needs, churn (echobench --messages-per-connection 1, counted in
connections and CPU per connection) and 10k (10,000 connections: the
descriptor limit raised and echod's --max-connections above its default,
said in the output). Functional checks with very short cells; the figures
themselves are not looked at, only that they are there.

    python3 test_bench_report.py TOOLS_BENCH ECHOBENCH ECHOD FLOOR_ECHO

Standard library only; tools/bench bounds and stops everything it starts.
"""
import os
import re
import resource
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

BENCH = ECHOBENCH = ECHOD = FLOOR = None
SVG_NS = "{http://www.w3.org/2000/svg}"
CELLS = ["small", "pipelined", "bulk", "many"]
NOFILE_10K = 10000 + 1024  # tools/bench's NOFILE_HEADROOM over the cell's connections


def nofile_10k_possible():
    """Whether tools/bench can raise RLIMIT_NOFILE enough for 10k (root may raise the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return os.geteuid() == 0 or hard == resource.RLIM_INFINITY or hard >= NOFILE_10K


class BenchReport(unittest.TestCase):
    def run_bench(self, tmp, *args):
        """tools/bench with very short rounds and --report; returns (stdout, the page)."""
        page_path = os.path.join(tmp, "matrix.html")
        r = subprocess.run([sys.executable, BENCH, "--echobench", ECHOBENCH, "--echod", ECHOD, "--floor", FLOOR,
                            "--warmup", "0.1", "--rounds", "1", "--report", page_path, *args],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=240)
        out = r.stdout.decode(errors="replace")
        self.assertEqual(r.returncode, 0, out + r.stderr.decode(errors="replace"))
        with open(page_path, encoding="utf-8") as f:
            page = f.read()
        self.assertEqual(os.listdir(tmp), ["matrix.html"])  # tools/bench's own files are gone
        self.assertIn(f"# report: {page_path} (", out)
        return out, page

    def assert_sections(self, page, cells, chart="spectrum"):
        """A section per cell, in order, each with echod's and the floor's line in its latency spectrum (or
        in another chart: cells lists the sections that have it)."""
        if chart == "spectrum":
            self.assertEqual(page.count("<section>"), len(cells))
        found = [ET.fromstring(m.group(0))
                 for m in re.finditer(rf'<svg\b[^>]*id="{chart}-\d+".*?</svg>', page, re.S)]
        self.assertEqual(len(found), len(cells), chart)
        for cell, svg in zip(cells, found):
            labels = [line.find(SVG_NS + "title").text for line in svg.iter(SVG_NS + "polyline")
                      if "series" in line.get("class", "").split()]
            # Each server in the same colour in every section: echod first, the floor second.
            self.assertEqual(labels, [f"{cell}-echod", f"{cell}-floor"], (chart, cell))

    def table_rows(self, out, cell):
        """The table's rows of one cell: {server: [columns]}."""
        return {line.split()[0]: line.split() for line in out.splitlines()
                if len(line.split()) > 2 and line.split()[1] == cell}

    def test_matrix_page(self):
        with tempfile.TemporaryDirectory(prefix="echod-bench-report-") as tmp:
            out, page = self.run_bench(tmp, "--cells", ",".join(CELLS), "--duration", "0.3")
        self.assertIn(f"({2 * len(CELLS)} runs", out)
        self.assert_sections(page, CELLS)

    def test_churn_and_10k(self):
        if not nofile_10k_possible():
            self.skipTest(f"RLIMIT_NOFILE cannot reach {NOFILE_10K} here")
        with tempfile.TemporaryDirectory(prefix="echod-bench-report-") as tmp:
            # 1.5 s: long enough for the CPU samples in the middle of the window.
            out, page = self.run_bench(tmp, "--cells", "churn,10k", "--duration", "1.5")
        cells = ["churn", "10k"]
        self.assertIn(f"({2 * len(cells)} runs", out)
        self.assert_sections(page, cells)
        # Only churn connects in its measured window: its section alone has the connect latency chart.
        self.assert_sections(page, ["churn"], chart="connect-spectrum")
        # 10k says what it changed for the run.
        self.assertRegex(out, r"(?m)^# 10k: for the whole run, echod gets --max-connections 20000 \(its default "
                              r"is 10000\), and the servers and echobench get RLIMIT_NOFILE \d+ ")
        tenk = self.table_rows(out, "10k")
        self.assertEqual(set(tenk), {"echod", "floor"}, out)
        for row in tenk.values():
            self.assertEqual(row[-1], "none", out)  # no errors: echod took all 10,000
        # churn counts connections: its own header, connections/s and CPU per connection.
        self.assertRegex(out, r"(?m)^server +cell +conns/s .* CPU/conn ")
        churn = self.table_rows(out, "churn")
        self.assertEqual(set(churn), {"echod", "floor"}, out)
        for row in churn.values():
            self.assertRegex(row[2], r"^[\d,]+$", out)  # conns/s
            self.assertRegex(row[10], r"[um]s$", out)  # CPU/conn, measured
            self.assertEqual(row[-1], "none", out)
        self.assertRegex(out, r"(?m)^# churn: connect latency .*: echod p50 \S+us p99 \S+; floor p50 ")


def main():
    global BENCH, ECHOBENCH, ECHOD, FLOOR
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    BENCH, ECHOBENCH, ECHOD, FLOOR = sys.argv[1:5]
    suite = unittest.TestLoader().loadTestsFromTestCase(BenchReport)
    return 0 if unittest.TextTestRunner(verbosity=2).run(suite).wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
