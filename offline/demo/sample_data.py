"""Sample data for the demo and the end-to-end tests: real PNG and JPEG files, tags, properties files and the
awkward cases a real image bucket holds, each with the outcome the pipeline is expected to reach.

Images are drawn and encoded here (PNG with zlib + struct, JPEG with a small baseline encoder) so nothing
beyond the standard library is needed. Every picture is unique (its colours and features come from the
user's seed), so two users never share a fingerprint.
"""

from __future__ import annotations

import json
import math
import random
import struct
import zlib
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import mul
from typing import Any, Literal
from urllib.parse import urlencode

Pixel = tuple[int, int, int]
Picture = list[list[Pixel]]
Outcome = Literal["indexed", "skipped", "invalid", "failed", "not_imported", "deleted"]

PICTURE_SIZE = 96
"""Pixels per side: above Rekognition's 80 px minimum, small enough to encode a few hundred quickly."""


# ---------------------------------------------------------------------------------------------- pictures
def face_picture(seed: int, size: int = PICTURE_SIZE) -> Picture:
    """A cartoon face (head, eyes, mouth) whose colours and proportions depend on `seed`."""
    rng = random.Random(seed)
    background = (rng.randrange(40, 220), rng.randrange(40, 220), rng.randrange(40, 220))
    skin = (rng.randrange(150, 250), rng.randrange(100, 200), rng.randrange(70, 160))
    eye = (rng.randrange(0, 80), rng.randrange(0, 80), rng.randrange(0, 120))
    cx, cy = size / 2 + rng.uniform(-4, 4), size / 2 + rng.uniform(-4, 4)
    rx, ry = size * rng.uniform(0.28, 0.36), size * rng.uniform(0.36, 0.44)
    eye_dy, eye_dx, eye_r = ry * 0.25, rx * 0.4, size * rng.uniform(0.04, 0.06)
    mouth_w = rx * rng.uniform(0.3, 0.6)
    rows: Picture = []
    for y in range(size):
        row: list[Pixel] = []
        for x in range(size):
            colour = background
            if ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1:
                colour = skin
                for side in (-1, 1):
                    if math.hypot(x - (cx + side * eye_dx), y - (cy - eye_dy)) <= eye_r:
                        colour = eye
                if abs(y - (cy + ry * 0.45)) <= 1.5 and abs(x - cx) <= mouth_w:
                    colour = eye
            row.append(colour)
        rows.append(row)
    return rows


def uniform_picture(colour: Pixel = (128, 128, 128), size: int = PICTURE_SIZE) -> Picture:
    """A picture of one colour: a valid image in which no face can be found."""
    return [[colour] * size for _ in range(size)]


# ---------------------------------------------------------------------------------------------- PNG
def png_bytes(picture: Picture) -> bytes:
    """Encode an RGB picture as an 8-bit truecolour PNG (filter type 0 on every row)."""
    height, width = len(picture), len(picture[0])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(channel for pixel in row for channel in pixel) for row in picture)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------------------------------------- JPEG
# Baseline JPEG (ITU T.81), YCbCr 4:4:4, the example quantisation and Huffman tables of Annex K.
_ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
    7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
    39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip
_LUMA_Q = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17,
    22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78,
    87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
_CHROMA_Q = (17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
             47, 66, 99, 99, 99, 99, 99, 99) + (99,) * 32  # fmt: skip
_DC_LUMA = ((0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0), tuple(range(12)))
_DC_CHROMA = ((0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0), tuple(range(12)))
_AC_LUMA = (
    (0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D),
    bytes.fromhex(
        "01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435"
        "363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798"
        "999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4"
        "f5f6f7f8f9fa"
    ),
)
_AC_CHROMA = (
    (0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77),
    bytes.fromhex(
        "000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a"
        "35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a9293949596"
        "9798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4"
        "f5f6f7f8f9fa"
    ),
)
_COS = [[math.cos((2 * x + 1) * u * math.pi / 16) * (math.sqrt(0.5) if u == 0 else 1.0) for x in range(8)]
        for u in range(8)]  # fmt: skip


def _huffman_codes(table: tuple) -> dict[int, tuple[int, int]]:
    """symbol -> (code, length) from the JPEG (bits, values) description of a canonical Huffman table."""
    bits, values = table
    codes: dict[int, tuple[int, int]] = {}
    code, index = 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[values[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


class _BitWriter:
    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._n = 0

    def write(self, value: int, length: int) -> None:
        self._acc = (self._acc << length) | (value & ((1 << length) - 1))
        self._n += length
        while self._n >= 8:
            self._n -= 8
            byte = (self._acc >> self._n) & 0xFF
            self.out.append(byte)
            if byte == 0xFF:  # byte stuffing: a data 0xFF is followed by 0x00
                self.out.append(0)
        self._acc &= (1 << self._n) - 1

    def flush(self) -> bytes:
        if self._n:
            self.write((1 << (8 - self._n)) - 1, 8 - self._n)  # pad with 1 bits
        return bytes(self.out)


def _magnitude(value: int) -> tuple[int, int]:
    """JPEG's (size category, appended bits) for a coefficient."""
    size = abs(value).bit_length()
    return size, (value if value >= 0 else value + (1 << size) - 1)


def _scaled_table(table: tuple, quality: int) -> list[int]:
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(255, max(1, (q * scale + 50) // 100)) for q in table]


def jpeg_bytes(picture: Picture, quality: int = 80) -> bytes:
    """Encode an RGB picture as a baseline JFIF JPEG (sides padded to multiples of 8 by edge repetition)."""
    height, width = len(picture), len(picture[0])
    tables = [_scaled_table(_LUMA_Q, quality), _scaled_table(_CHROMA_Q, quality)]
    planes: list[list[list[float]]] = [[], [], []]
    for row in picture:
        ys, cbs, crs = [], [], []
        for r, g, b in row:
            ys.append(0.299 * r + 0.587 * g + 0.114 * b - 128)
            cbs.append(-0.168736 * r - 0.331264 * g + 0.5 * b)
            crs.append(0.5 * r - 0.418688 * g - 0.081312 * b)
        for plane, values in zip(planes, (ys, cbs, crs), strict=True):
            plane.append(values)
    dc_codes = [_huffman_codes(_DC_LUMA), _huffman_codes(_DC_CHROMA)]
    ac_codes = [_huffman_codes(_AC_LUMA), _huffman_codes(_AC_CHROMA)]
    writer = _BitWriter()
    previous_dc = [0, 0, 0]
    for by in range(0, height, 8):
        for bx in range(0, width, 8):
            for component, plane in enumerate(planes):
                kind = 0 if component == 0 else 1
                block = [
                    [plane[min(by + y, height - 1)][min(bx + x, width - 1)] for x in range(8)]
                    for y in range(8)
                ]
                first = block[0][0]
                if all(value == first for line in block for value in line):
                    # A flat block (most of a cartoon) has only its DC term, 8 x the value: no DCT needed.
                    quantised = [round(8 * first / tables[kind][0])] + [0] * 63
                else:
                    # Separable 2-D DCT-II: rows, then columns.
                    rows = [[sum(map(mul, line, _COS[u])) / 2 for u in range(8)] for line in block]
                    columns = list(zip(*rows, strict=True))
                    coefficients = [
                        [sum(map(mul, columns[u], _COS[v])) / 2 for u in range(8)] for v in range(8)
                    ]
                    quantised = [
                        round(coefficients[i // 8][i % 8] / tables[kind][i]) for i in _ZIGZAG
                    ]  # zig-zag order
                diff = quantised[0] - previous_dc[component]
                previous_dc[component] = quantised[0]
                size, bits = _magnitude(diff)
                writer.write(*dc_codes[kind][size])
                writer.write(bits, size)
                run = 0
                for value in quantised[1:]:
                    if value == 0:
                        run += 1
                        continue
                    while run > 15:
                        writer.write(*ac_codes[kind][0xF0])  # ZRL: sixteen zeros
                        run -= 16
                    size, bits = _magnitude(value)
                    writer.write(*ac_codes[kind][(run << 4) | size])
                    writer.write(bits, size)
                    run = 0
                if run:
                    writer.write(*ac_codes[kind][0x00])  # EOB
    scan = writer.flush()

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload

    def dht(table_class: int, table_id: int, table: tuple) -> bytes:
        return bytes([(table_class << 4) | table_id, *table[0], *table[1]])

    dqt = b"".join(bytes([i]) + bytes(tables[i][k] for k in _ZIGZAG) for i in range(2))
    sof = struct.pack(">BHHB", 8, height, width, 3) + bytes([1, 0x11, 0, 2, 0x11, 1, 3, 0x11, 1])
    sos = bytes([3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
    return (
        b"\xff\xd8"
        + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
        + segment(0xDB, dqt)
        + segment(0xC0, sof)
        + segment(
            0xC4,
            dht(0, 0, _DC_LUMA) + dht(1, 0, _AC_LUMA) + dht(0, 1, _DC_CHROMA) + dht(1, 1, _AC_CHROMA),
        )
        + segment(0xDA, sos)
        + scan
        + b"\xff\xd9"
    )


# ---------------------------------------------------------------------------------------------- dataset
@dataclass(frozen=True)
class SampleObject:
    """One object written to the image bucket and the state the pipeline must leave it in."""

    key: str
    body: bytes
    expect: Outcome
    reason: str
    """The reason code expected with that state (`registered`, `ignored`, `user-id-missing`, ...)."""
    tags: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    user_id: str | None = None
    case: str = "face"
    """What the object demonstrates (face, ignored, corrupt, ...): the report groups by it."""
    duplicate_of: str | None = None
    """Same bytes and user as that key: one of the two is indexed, the other skipped as a duplicate."""
    http_reason: str | None = None
    """The reason with `--gateway http`, where it differs (the API's refusal is recorded by HTTP status)."""

    def expected_reason(self, gateway: str) -> str:
        return self.http_reason if gateway == "http" and self.http_reason else self.reason

    @property
    def tagging(self) -> str:
        return urlencode(self.tags)


@dataclass
class SampleSet:
    bucket: str
    objects: list[SampleObject]

    def expected(self) -> Counter[str]:
        return Counter(obj.expect for obj in self.objects)

    def by_key(self) -> dict[str, SampleObject]:
        return {obj.key: obj for obj in self.objects}

    def images(self) -> Iterator[SampleObject]:
        """The objects the pipeline is expected to register."""
        return (obj for obj in self.objects if obj.expect == "indexed")


# Keys that a real bucket holds and that break naive encodings: spaces, `+`, `%`, unicode, quotes, commas.
_AWKWARD_NAMES = ("holiday photo", "a+b=c", "café ünïcödé", "100% 'quoted', \"comma\"", "日本語")


def build_sample_set(bucket: str, images: int = 200, seed: int = 7) -> SampleSet:
    """`images` face images for as many users (PNG and JPEG, some with a properties file, some with awkward
    keys), plus one of each awkward case of a real bucket. Deterministic for a given seed."""
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    rng = random.Random(seed)
    objects: list[SampleObject] = []
    for index in range(images):
        user = f"user-{seed:x}-{index:05d}"
        picture = face_picture(seed * 1_000_003 + index)
        as_jpeg = index % 2 == 1
        body = jpeg_bytes(picture) if as_jpeg else png_bytes(picture)
        suffix = ".jpg" if as_jpeg else ".png"
        name = (
            f"{_AWKWARD_NAMES[(index // 10) % len(_AWKWARD_NAMES)]} {index}"
            if index % 10 == 3
            else f"face-{index}"
        )
        key = f"users/{user}/{name}{suffix}"
        tags = {"UserId": user}
        if index % 4 == 0:
            properties_key = f"properties/{user}.json"
            properties = {"name": f"User {index}", "team": rng.choice(["red", "green", "blue"])}
            objects.append(_properties_file(properties_key, json.dumps(properties).encode()))
            tags["Properties"] = f"s3://{bucket}/{properties_key}"
        objects.append(
            SampleObject(key, body, "indexed", "registered", tags, _content_type(suffix), user, "face")
        )
    objects.extend(_awkward_cases(bucket, seed))
    return SampleSet(bucket, objects)


def _awkward_cases(bucket: str, seed: int) -> list[SampleObject]:
    face = png_bytes(face_picture(seed * 7919 + 1))
    jpeg_face = jpeg_bytes(face_picture(seed * 7919 + 2))
    user = f"special-{seed:x}"
    bad_json_key = "properties/broken.json"
    twin = f"special/{user}/twin-a.png"
    return [
        SampleObject("docs/readme.txt", b"not an image\n", "not_imported", "not_image", {}, "text/plain",
                     case="non-image"),
        SampleObject("special/empty.png", b"", "not_imported", "empty", {"UserId": user}, "image/png",
                     case="empty file"),
        SampleObject("special/ignored.png", face, "skipped", "ignored", {"UserId": user, "Ignore": "True"},
                     "image/png", user, "Ignore=True"),
        SampleObject("special/already-indexed.jpg", jpeg_face, "skipped", "indexed",
                     {"UserId": user, "Indexed": "true"}, "image/jpeg", user, "Indexed=True"),
        SampleObject("special/no-user.png", face, "invalid", "user-id-missing", {}, "image/png",
                     case="UserId missing"),
        SampleObject("special/long-user.png", face, "invalid", "user-id", {"UserId": "x" * 200},
                     "image/png", case="UserId invalid (200 characters)"),
        SampleObject("special/bad-ignore.png", face, "invalid", "tag-ignore",
                     {"UserId": user, "Ignore": "maybe"}, "image/png", user, "Ignore=maybe"),
        _properties_file(bad_json_key, b"{not json"),
        SampleObject("special/bad-properties.png", face, "invalid", "properties-json",
                     {"UserId": user, "Properties": f"s3://{bucket}/{bad_json_key}"}, "image/png", user,
                     "properties file not JSON"),
        SampleObject("special/missing-properties.png", face, "invalid", "properties-missing",
                     {"UserId": user, "Properties": f"s3://{bucket}/properties/nowhere.json"}, "image/png",
                     user, "properties file missing"),
        SampleObject("special/text-named.jpg", b"plain text, named like a JPEG\n", "invalid", "format",
                     {"UserId": user}, "image/jpeg", user, "not an image (.jpg)"),
        SampleObject("special/corrupt.png", face[: len(face) // 2], "invalid", "invalid-image-format",
                     {"UserId": user}, "image/png", user, "corrupt PNG (truncated)", http_reason="http-422"),
        SampleObject("special/blank.png", png_bytes(uniform_picture()), "invalid", "no-face",
                     {"UserId": f"{user}-blank"}, "image/png", f"{user}-blank", "no face (one colour)",
                     http_reason="http-422"),
        SampleObject(twin, face, "indexed", "registered", {"UserId": f"{user}-twin"}, "image/png",
                     f"{user}-twin", "same image twice"),
        SampleObject(f"special/{user}/twin-b.png", face, "skipped", "duplicate", {"UserId": f"{user}-twin"},
                     "image/png", f"{user}-twin", "same image twice", duplicate_of=twin),
    ]  # fmt: skip


def _properties_file(key: str, body: bytes) -> SampleObject:
    return SampleObject(
        key, body, "not_imported", "not_image", {}, "application/json", case="properties file"
    )


def _content_type(suffix: str) -> str:
    return {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}[suffix]


def upload_sample_set(s3_client: Any, sample: SampleSet, threads: int = 8) -> dict[str, str]:
    """Put every object with its tags (a few at a time: each put is a round trip); returns key -> version id
    ("" when the bucket is unversioned)."""

    def put(obj: SampleObject) -> tuple[str, str]:
        extra = {"Tagging": obj.tagging} if obj.tags else {}
        response = s3_client.put_object(
            Bucket=sample.bucket, Key=obj.key, Body=obj.body, ContentType=obj.content_type, **extra
        )
        return obj.key, response.get("VersionId") or ""

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return dict(pool.map(put, sample.objects))
