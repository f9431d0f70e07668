"""tools/bench --report: one echobench --compare page for the whole matrix,
a section per cell with echod and the floor overlaid. A functional check
with very short cells; the figures themselves are not looked at.

    python3 test_bench_report.py TOOLS_BENCH ECHOBENCH ECHOD FLOOR_ECHO

Standard library only; tools/bench bounds and stops everything it starts.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

BENCH = ECHOBENCH = ECHOD = FLOOR = None
SVG_NS = "{http://www.w3.org/2000/svg}"
CELLS = ["small", "pipelined", "bulk", "many"]


class BenchReport(unittest.TestCase):
    def test_matrix_page(self):
        with tempfile.TemporaryDirectory(prefix="echod-bench-report-") as tmp:
            page_path = os.path.join(tmp, "matrix.html")
            r = subprocess.run([sys.executable, BENCH, "--echobench", ECHOBENCH, "--echod", ECHOD,
                                "--floor", FLOOR, "--duration", "0.3", "--warmup", "0.1", "--rounds", "1",
                                "--report", page_path],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=240)
            out = r.stdout.decode(errors="replace")
            self.assertEqual(r.returncode, 0, out + r.stderr.decode(errors="replace"))
            self.assertIn(f"# report: {page_path} (8 runs", out)
            with open(page_path, encoding="utf-8") as f:
                page = f.read()
            self.assertEqual(os.listdir(tmp), ["matrix.html"])  # tools/bench's own files are gone
        self.assertEqual(page.count("<section>"), len(CELLS))
        spectra = [ET.fromstring(m.group(0)) for m in re.finditer(r'<svg\b[^>]*id="spectrum-\d+".*?</svg>', page, re.S)]
        self.assertEqual(len(spectra), len(CELLS))
        for cell, svg in zip(CELLS, spectra):
            labels = [line.find(SVG_NS + "title").text for line in svg.iter(SVG_NS + "polyline")
                      if "series" in line.get("class", "").split()]
            # Each server in the same colour in every section: echod first, the floor second.
            self.assertEqual(labels, [f"{cell}-echod", f"{cell}-floor"], cell)


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
