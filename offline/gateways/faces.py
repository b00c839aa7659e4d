"""The deterministic face detector of the emulated gateways: is this a PNG or JPEG that decodes (Pillow), and
does it hold a face?

Rule: a valid image holds one face unless it is of a single colour (the sample data's faceless case).
Pillow is a test and demo dependency (requirements-dev.txt); the Lambda handlers never import this module.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8"


class InvalidImage(ValueError):
    """The bytes are not an image we can decode; the text says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    faces: int


def analyse_image(data: bytes) -> ImageInfo:
    if not data.startswith((PNG_SIGNATURE, JPEG_SIGNATURE)):
        raise InvalidImage(f"not a PNG or JPEG (first bytes {data[:8]!r})")
    expected = "PNG" if data.startswith(PNG_SIGNATURE) else "JPEG"
    try:
        with Image.open(io.BytesIO(data), formats=(expected,)) as image:
            image.load()  # decodes every pixel: truncated or corrupt data fails here
            width, height = image.size
            extrema = image.getextrema()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidImage(f"{expected} does not decode: {exc}") from exc
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    uniform = all(low == high for low, high in bands)
    return ImageInfo(expected, width, height, 0 if uniform else 1)
