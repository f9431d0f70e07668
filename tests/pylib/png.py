"""A small PNG reader (and writer) for checking screenshots: standard
library only (zlib, struct).

    image = png.read("shot.png")
    image.width, image.height, image.rows   # rows: lists of (r, g, b) tuples
    png.blank_check(image)                  # None, or why the image looks blank

Reads 8-bit greyscale, greyscale + alpha, RGB, RGBA and palette images
(colour types 0, 4, 2, 6, 3), non-interlaced, with all five filter types;
anything else is a PngError that names what is unsupported. Alpha is
dropped: a browser screenshot is opaque. Identical pixels share one tuple,
so a mostly-white 1280 x 2000 screenshot costs tens of MB, not hundreds.
encode() writes RGB or RGBA with a chosen filter per row: the reader's
round-trip test, and cropping a screenshot.
"""
import collections
import itertools
import operator
import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> bytes per pixel at depth 8
COLOUR_TYPE_NAMES = {0: "greyscale", 2: "RGB", 3: "palette", 4: "greyscale+alpha", 6: "RGBA"}
_LOW_BYTE = (255).__and__


class PngError(ValueError):
    pass


class Image:
    """width, height, and rows: height lists of width (r, g, b) tuples."""

    def __init__(self, width, height, rows):
        self.width = width
        self.height = height
        self.rows = rows

    def pixels(self):
        return itertools.chain.from_iterable(self.rows)


# ---------------------------------------------------------------- reading


def chunks(data):
    """(type, body) for each chunk of a PNG file's bytes; checks signature and CRCs."""
    if not data.startswith(SIGNATURE):
        raise PngError("not a PNG file (bad signature)")
    pos = len(SIGNATURE)
    while pos < len(data):
        if pos + 8 > len(data):
            raise PngError(f"truncated chunk header at byte {pos}")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise PngError(f"truncated {kind!r} chunk at byte {pos}")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) != crc:
            raise PngError(f"bad CRC in {kind!r} chunk at byte {pos}")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise PngError("no IEND chunk")


def unfilter(filter_type, line, prev, bpp):
    """One scanline's bytes without its filter (PNG spec, section 9). prev is
    the previous line unfiltered (zeros for the first)."""
    if filter_type == 0:
        return line
    if filter_type == 1:  # Sub: each byte plus the one bpp to its left
        out = bytearray(len(line))
        for c in range(bpp):
            out[c::bpp] = bytes(map(_LOW_BYTE, itertools.accumulate(line[c::bpp])))
        return bytes(out)
    if filter_type == 2:  # Up
        return bytes(map(_LOW_BYTE, map(operator.add, line, prev)))
    out = bytearray(line)
    n = len(line)
    if filter_type == 3:  # Average
        for i in range(bpp):
            out[i] = (out[i] + (prev[i] >> 1)) & 255
        for i in range(bpp, n):
            out[i] = (out[i] + ((out[i - bpp] + prev[i]) >> 1)) & 255
        return bytes(out)
    if filter_type == 4:  # Paeth
        for i in range(bpp):
            out[i] = (out[i] + prev[i]) & 255  # a = c = 0: the predictor is b
        for i in range(bpp, n):
            a, b, c = out[i - bpp], prev[i], prev[i - bpp]
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            if pa <= pb and pa <= pc:
                p = a
            elif pb <= pc:
                p = b
            else:
                p = c
            out[i] = (out[i] + p) & 255
        return bytes(out)
    raise PngError(f"unknown filter type {filter_type}")


def decode(data):
    """An Image from a PNG file's bytes."""
    header = palette = None
    idat = []
    for kind, body in chunks(data):
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            palette = [tuple(body[i:i + 3]) for i in range(0, len(body) - 2, 3)]
        elif kind == b"IDAT":
            idat.append(body)
    if header is None:
        raise PngError("no IHDR chunk")
    width, height, depth, colour_type, compression, filter_method, interlace = header
    if colour_type not in CHANNELS:
        raise PngError(f"unknown colour type {colour_type}")
    if depth != 8:
        raise PngError(f"bit depth {depth} ({COLOUR_TYPE_NAMES[colour_type]}) is not supported, only 8")
    if compression != 0 or filter_method != 0:
        raise PngError(f"unknown compression {compression} or filter method {filter_method}")
    if interlace != 0:
        raise PngError("interlaced (Adam7) images are not supported")
    if colour_type == 3 and not palette:
        raise PngError("palette image without a PLTE chunk")
    if width == 0 or height == 0:
        raise PngError(f"empty image ({width} x {height})")
    bpp = CHANNELS[colour_type]
    stride = width * bpp
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise PngError(f"IDAT does not decompress: {e}") from None
    if len(raw) != height * (stride + 1):
        raise PngError(f"IDAT holds {len(raw)} bytes, {width} x {height} {COLOUR_TYPE_NAMES[colour_type]} "
                       f"needs {height * (stride + 1)}")

    shared = {}  # one tuple per distinct colour
    intern = shared.setdefault
    rows = []
    prev = bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = unfilter(raw[start], raw[start + 1:start + 1 + stride], prev, bpp)
        prev = line
        if colour_type == 2:
            pixels = zip(line[0::3], line[1::3], line[2::3])
        elif colour_type == 6:
            pixels = zip(line[0::4], line[1::4], line[2::4])
        elif colour_type == 0:
            pixels = zip(line, line, line)
        elif colour_type == 4:
            grey = line[0::2]
            pixels = zip(grey, grey, grey)
        else:
            if max(line) >= len(palette):
                raise PngError(f"row {y}: palette index {max(line)} beyond the {len(palette)}-entry PLTE")
            pixels = (palette[i] for i in line)
        rows.append([intern(p, p) for p in pixels])
    return Image(width, height, rows)


def read(path):
    """An Image from a PNG file."""
    with open(path, "rb") as f:
        return decode(f.read())


# ---------------------------------------------------------------- checks


def background(image):
    """The most common colour, taken as the background."""
    return collections.Counter(image.pixels()).most_common(1)[0][0]


def foreground_fraction(image):
    """The fraction of pixels that differ from the background colour."""
    counts = collections.Counter(image.pixels())
    return 1 - counts.most_common(1)[0][1] / (image.width * image.height)


def distinct_colours(image):
    return len(set(image.pixels()))


def parse_colour(colour):
    """"#1f77b4" -> (31, 119, 180); a tuple is returned as it is."""
    if isinstance(colour, str):
        text = colour.lstrip("#")
        if len(text) != 6:
            raise ValueError(f"{colour!r} is not #rrggbb")
        return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))
    return tuple(colour)


def count_near(image, colour, tolerance=24):
    """Pixels whose every channel is within tolerance of colour (#rrggbb or
    (r, g, b)). Anti-aliased edges blend into the background; the middle of
    a 1.5 px line stays close to its stroke colour."""
    r0, g0, b0 = parse_colour(colour)
    counts = collections.Counter(image.pixels())
    return sum(n for (r, g, b), n in counts.items()
               if abs(r - r0) <= tolerance and abs(g - g0) <= tolerance and abs(b - b0) <= tolerance)


def blank_check(image, width=None, height=None, min_foreground=0.02, min_colours=20, colour=None,
                min_colour_pixels=50, tolerance=24):
    """None when the image looks like a rendered page, else a description of
    what is wrong: the size (if given) differs, too few pixels differ from
    the background, too few distinct colours, or (colour given) too few
    pixels near colour."""
    problems = []
    if (width is not None and image.width != width) or (height is not None and image.height != height):
        problems.append(f"size {image.width} x {image.height}, asked for {width} x {height}")
    fraction = foreground_fraction(image)
    if fraction < min_foreground:
        problems.append(f"{fraction:.2%} of pixels differ from the background "
                        f"{background(image)}, need {min_foreground:.0%}")
    n = distinct_colours(image)
    if n < min_colours:
        problems.append(f"{n} distinct colours, need {min_colours}")
    if colour is not None:
        near = count_near(image, colour, tolerance)
        if near < min_colour_pixels:
            problems.append(f"{near} pixels within {tolerance} of {colour}, need {min_colour_pixels}")
    return "; ".join(problems) or None


def describe(image, colour=None, tolerance=24):
    """One line about the image, for logs."""
    text = (f"{image.width} x {image.height}, {foreground_fraction(image):.1%} non-background, "
            f"{distinct_colours(image)} colours")
    if colour is not None:
        text += f", {count_near(image, colour, tolerance)} pixels near {colour}"
    return text


# ---------------------------------------------------------------- writing


def filter_line(filter_type, line, prev, bpp):
    """The inverse of unfilter()."""
    if filter_type == 0:
        return line
    left = bytes(bpp) + line[:-bpp]
    if filter_type == 1:
        return bytes(map(_LOW_BYTE, map(operator.sub, line, left)))
    if filter_type == 2:
        return bytes(map(_LOW_BYTE, map(operator.sub, line, prev)))
    upper_left = bytes(bpp) + prev[:-bpp]
    out = bytearray(len(line))
    for i, (x, a, b, c) in enumerate(zip(line, left, prev, upper_left)):
        if filter_type == 3:
            p = (a + b) >> 1
        elif filter_type == 4:
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            p = a if pa <= pb and pa <= pc else b if pb <= pc else c
        else:
            raise ValueError(f"unknown filter type {filter_type}")
        out[i] = (x - p) & 255
    return bytes(out)


# A filtered byte's cost for choosing a filter: its distance from 0 modulo
# 256 (the spec's minimum-sum-of-absolute-differences heuristic), as a
# translate table so that sum() runs in C.
_COST = bytes(min(b, 256 - b) for b in range(256))


def encode(width, height, rows, alpha=False, filters=None, level=9):
    """PNG bytes of an 8-bit RGB (or, alpha, RGBA) image. rows: height
    sequences of width (r, g, b[, a]) tuples. Row y uses filter type
    filters[y % len(filters)]; without filters, whichever of None, Sub and
    Up looks smallest (Average and Paeth are pure Python loops: slow on a
    screenshot)."""
    bpp = 4 if alpha else 3
    stride = width * bpp
    prev = bytes(stride)
    out = []
    for y, row in enumerate(rows):
        line = bytes(itertools.chain.from_iterable(row))
        if len(line) != stride:
            raise ValueError(f"row {y} has {len(line)} bytes, not {stride}")
        if filters:
            f = filters[y % len(filters)]
            filtered = filter_line(f, line, prev, bpp)
        else:
            f, filtered = min(((f, filter_line(f, line, prev, bpp)) for f in (0, 1, 2)),
                              key=lambda choice: sum(choice[1].translate(_COST)))
        out.append(bytes([f]) + filtered)
        prev = line
    if len(out) != height:
        raise ValueError(f"{len(out)} rows, not {height}")

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6 if alpha else 2, 0, 0, 0)
    return (SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(out), level))
            + chunk(b"IEND", b""))
