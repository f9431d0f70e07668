"""png.py, the screenshot reader of the browser test: round trips through
each filter type and colour type, the blank checks, and clear errors.

    python3 test_png.py

Standard library only; no browser, no processes.
"""
import os
import random
import struct
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import png  # noqa: E402


def noisy_rows(width, height, channels, seed):
    """Smooth gradients plus noise: every filter's predictor gets exercised,
    and values near 0 and 255 make the modulo-256 arithmetic wrap."""
    rng = random.Random(seed)
    return [[tuple((x * 37 + y * 11 + c * 90 + rng.randrange(-3, 4)) % 256 for c in range(channels))
             for x in range(width)] for y in range(height)]


def raw_png(width, height, colour_type, lines, palette=None, depth=8, interlace=0):
    """A PNG with unfiltered lines (bytes each) of any colour type."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = png.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, interlace))
    if palette:
        data += chunk(b"PLTE", b"".join(bytes(p) for p in palette))
    body = b"".join(b"\0" + line for line in lines)
    return data + chunk(b"IDAT", zlib.compress(body)) + chunk(b"IEND", b"")


class RoundTrip(unittest.TestCase):
    def test_each_filter_type_rgb_and_rgba(self):
        for alpha in (False, True):
            rows = noisy_rows(23, 7, 4 if alpha else 3, seed=alpha)
            expected = [[p[:3] for p in row] for row in rows]
            for filters in ((0,), (1,), (2,), (3,), (4,), (0, 1, 2, 3, 4), None):
                with self.subTest(alpha=alpha, filters=filters):
                    image = png.decode(png.encode(23, 7, rows, alpha=alpha, filters=filters))
                    self.assertEqual((image.width, image.height), (23, 7))
                    self.assertEqual(image.rows, expected)

    def test_greyscale_grey_alpha_and_palette(self):
        grey = png.decode(raw_png(3, 1, 0, [bytes([0, 128, 255])]))
        self.assertEqual(grey.rows, [[(0, 0, 0), (128, 128, 128), (255, 255, 255)]])
        grey_alpha = png.decode(raw_png(2, 1, 4, [bytes([7, 255, 9, 0])]))
        self.assertEqual(grey_alpha.rows, [[(7, 7, 7), (9, 9, 9)]])
        palette = [(255, 0, 0), (31, 119, 180)]
        indexed = png.decode(raw_png(3, 1, 3, [bytes([1, 0, 1])], palette=palette))
        self.assertEqual(indexed.rows, [[palette[1], palette[0], palette[1]]])


class Checks(unittest.TestCase):
    def test_blank_and_drawn(self):
        white = (255, 255, 255)
        blank = png.Image(100, 100, [[white] * 100 for _ in range(100)])
        self.assertIn("differ from the background", png.blank_check(blank))
        drawn = png.Image(100, 100, [[white] * 100 for _ in range(100)])
        for y in range(100):  # a diagonal line in #1f77b4, grey shades beside it
            drawn.rows[y][y] = (31, 119, 180)
            for x in range(y + 1, min(100, y + 25)):
                drawn.rows[y][x] = (200 + x % 25, 200 + x % 25, 200 + x % 25)
        self.assertIsNone(png.blank_check(drawn, 100, 100, colour="#1f77b4"), png.describe(drawn, "#1f77b4"))
        self.assertEqual(png.count_near(drawn, "#2080b0", tolerance=10), 100)
        self.assertIn("size 100 x 100", png.blank_check(drawn, 100, 50))
        self.assertIn("pixels within 24 of #ff7f0e", png.blank_check(drawn, colour="#ff7f0e"))


class Errors(unittest.TestCase):
    def test_clear_errors(self):
        good = png.encode(2, 2, noisy_rows(2, 2, 3, seed=1))
        cases = {
            b"GIF89a": "bad signature",
            good[:-20]: "truncated",
            good[:20] + bytes([good[20] ^ 1]) + good[21:]: "bad CRC",
            raw_png(8, 1, 0, [b"\0"], depth=1): "bit depth 1",
            raw_png(1, 1, 2, [b"\0\0\0"], interlace=1): "interlaced",
            raw_png(2, 2, 2, [bytes(6)]): "needs 14",
        }
        for data, message in cases.items():
            with self.subTest(message=message):
                with self.assertRaisesRegex(png.PngError, message):
                    png.decode(data)


if __name__ == "__main__":
    unittest.main(verbosity=2)
