"""Content disarm of the images a server sends (plots in kernel output and in notebooks).

An image's bytes can carry anything (text chunks, trailing bytes, pixels that are an extract's
bytes); what a person takes from a plot is what it shows. So an image is decoded, its pixels only
are kept, its resolution bounded (:data:`MAX_SIDE`), its colours quantised (:data:`COLOURS`, no
dithering: a plot's flat colours survive, a pixel's low bits do not) and it is written again as a
fresh PNG. Its charge is the size of that PNG: what it shows, compressed.

SVG is text that can hold anything: it is rasterised with CairoSVG when that library and libcairo
are there (no file or URL is ever fetched), and dropped with a notice otherwise. Either way the
browser gets a PNG (or a notice) in its place, never the SVG's text.
"""

from __future__ import annotations

import base64
import binascii
import io
import re

from PIL import Image, UnidentifiedImageError

MAX_SIDE = 1600  # pixels: a bigger image is scaled down to fit
MAX_PIXELS = 40_000_000  # an image declaring more is not decoded (a decompression bomb)
COLOURS = 64  # palette size after quantising
MAX_SVG_BYTES = 4 * 1024 * 1024
RASTER_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp")
SVG_TYPE = "image/svg+xml"
IMAGE_TYPES = (*RASTER_TYPES, SVG_TYPE)


class Dropped(Exception):
    """The image cannot be shown safely; the message says why."""


def disarm(raw: bytes) -> bytes:
    """A fresh PNG of what ``raw`` (PNG, JPEG, GIF, WebP or BMP bytes) shows; :class:`Dropped` if it cannot be."""
    try:
        with Image.open(io.BytesIO(raw)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Dropped(f"{width}×{height} pixels, over the limit of {MAX_PIXELS:,}")
            image.seek(0)  # an animation shows its first frame only
            pixels = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise Dropped(f"it cannot be decoded ({type(exc).__name__})") from None
    pixels.thumbnail((MAX_SIDE, MAX_SIDE))
    if pixels.getextrema()[3][0] == 255:  # opaque: three channels quantise better
        pixels = pixels.convert("RGB")
    quantised = pixels.quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    quantised.save(out, format="PNG", optimize=False, compress_level=9)
    return out.getvalue()


def disarm_base64(text: str) -> str:
    """:func:`disarm` of a base64 image as Jupyter sends it, as base64 again."""
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Dropped("it is not base64") from None
    return base64.b64encode(disarm(raw)).decode("ascii")


def _svg_size(svg: bytes) -> tuple[float, float] | None:
    from defusedxml import ElementTree

    root = ElementTree.fromstring(svg)
    def number(value):
        m = re.fullmatch(r"\s*([0-9.]+)\s*(px|pt)?\s*", value or "")
        return float(m.group(1)) * (4 / 3 if m.group(2) == "pt" else 1) if m else None
    width, height = number(root.get("width")), number(root.get("height"))
    if (not width or not height) and root.get("viewBox"):
        parts = root.get("viewBox").replace(",", " ").split()
        if len(parts) == 4:
            width, height = float(parts[2]), float(parts[3])
    return (width, height) if width and height else None


def png_notice(text: str) -> str:
    """A small PNG (base64) saying ``text`` (what replaces an image that cannot be shown)."""
    from PIL import ImageDraw

    image = Image.new("L", (8 * len(text) + 8, 20), 255)
    ImageDraw.Draw(image).text((4, 4), text, fill=0)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def svg_notice(text: str) -> str:
    """A small SVG saying ``text`` (what replaces an SVG that cannot be drawn)."""
    from xml.sax.saxutils import escape

    return ('<svg xmlns="http://www.w3.org/2000/svg" width="720" height="24"><text x="4" y="16" font-size="12">'
            f"{escape(text)}</text></svg>")


def rasterise_svg(svg: str | bytes) -> bytes:
    """A disarmed PNG of an SVG; :class:`Dropped` without CairoSVG or for an SVG it cannot draw."""
    data = svg.encode("utf-8") if isinstance(svg, str) else svg
    if len(data) > MAX_SVG_BYTES:
        raise Dropped(f"an SVG of {len(data):,} bytes, over the limit of {MAX_SVG_BYTES:,}")
    try:
        import cairosvg
    except (ImportError, OSError):
        raise Dropped("SVG cannot be drawn here (CairoSVG or libcairo is missing)") from None
    try:
        size = _svg_size(data)
        if size is None:
            raise Dropped("an SVG without a size")
        scale = min(1.0, MAX_SIDE / max(size))
        # unsafe=False: no XML entities, and CairoSVG fetches nothing but data: URLs (an SVG naming a
        # file or an address gets an empty picture in its place)
        png = cairosvg.svg2png(bytestring=data, unsafe=False,
                               output_width=max(1, int(size[0] * scale)), output_height=max(1, int(size[1] * scale)))
    except Dropped:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of a third-party renderer on hostile input drops the image
        raise Dropped(f"the SVG cannot be drawn ({type(exc).__name__})") from None
    return disarm(png)
