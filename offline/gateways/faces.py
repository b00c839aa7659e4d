"""Decode PNG and baseline JPEG files far enough to tell whether they are valid images and whether a "face"
can be found: the deterministic face detector of the emulated gateways.

Rule: a valid image holds one face unless it is of a single colour (the sample data's faceless case). PNG is
decoded completely (zlib + un-filtering); baseline JPEG is entropy-decoded to its DCT coefficients, which is
enough: a uniform image has no AC energy and one DC value per component. Other JPEG processes (progressive,
arithmetic) are checked for structure only.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class InvalidImage(ValueError):
    """The bytes are not an image we can decode; the text says why."""


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int
    faces: int


def analyse_image(data: bytes) -> ImageInfo:
    if data.startswith(PNG_SIGNATURE):
        return _analyse_png(data)
    if data.startswith(b"\xff\xd8"):
        info = decode_jpeg(data)
        return ImageInfo("JPEG", info.width, info.height, 0 if info.uniform else 1)
    raise InvalidImage(f"not a PNG or JPEG (first bytes {data[:8]!r})")


# ---------------------------------------------------------------------------------------------- PNG
def _analyse_png(data: bytes) -> ImageInfo:
    pos, header, idat, ended = 8, None, bytearray(), False
    while pos < len(data):
        if pos + 8 > len(data):
            raise InvalidImage(f"PNG truncated in a chunk header at byte {pos}")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise InvalidImage(f"PNG chunk {kind!r} truncated at byte {pos}")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            raise InvalidImage(f"PNG chunk {kind!r} at byte {pos} fails its CRC")
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            ended = True
            break
        pos += 12 + length
    if header is None or not idat or not ended:
        raise InvalidImage("PNG lacks IHDR, IDAT or IEND")
    width, height, depth, colour_type, _, _, interlace = header
    if width == 0 or height == 0:
        raise InvalidImage("PNG has a zero dimension")
    try:
        raw = zlib.decompress(bytes(idat))
    except zlib.error as exc:
        raise InvalidImage(f"PNG image data does not inflate: {exc}") from exc
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(colour_type)
    if depth != 8 or channels is None or interlace:
        return ImageInfo("PNG", width, height, 1)  # valid structure; pixel check only for 8-bit non-palette
    stride = width * channels
    if len(raw) != height * (stride + 1):
        raise InvalidImage(f"PNG image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    previous = bytearray(stride)
    first_pixel, uniform = None, True
    for y in range(height):
        line_start = y * (stride + 1)
        kind = raw[line_start]
        line = bytearray(raw[line_start + 1 : line_start + 1 + stride])
        _unfilter(kind, line, previous, channels)
        if first_pixel is None:
            first_pixel = bytes(line[:channels])
        if uniform and line != first_pixel * width:
            uniform = False
        previous = line
    return ImageInfo("PNG", width, height, 0 if uniform else 1)


def _unfilter(kind: int, line: bytearray, previous: bytearray, bpp: int) -> None:
    if kind == 0:
        return
    for i in range(len(line)):
        left = line[i - bpp] if i >= bpp else 0
        up = previous[i]
        if kind == 1:
            predictor = left
        elif kind == 2:
            predictor = up
        elif kind == 3:
            predictor = (left + up) // 2
        elif kind == 4:
            upper_left = previous[i - bpp] if i >= bpp else 0
            p = left + up - upper_left
            pa, pb, pc = abs(p - left), abs(p - up), abs(p - upper_left)
            predictor = left if pa <= pb and pa <= pc else up if pb <= pc else upper_left
        else:
            raise InvalidImage(f"PNG uses unknown filter type {kind}")
        line[i] = (line[i] + predictor) & 0xFF


# ---------------------------------------------------------------------------------------------- JPEG
@dataclass
class JpegInfo:
    width: int
    height: int
    components: list[int]
    """Component ids in frame order."""
    blocks: dict[int, list[list[int]]] = field(default_factory=dict)
    """Per component id: its 8x8 blocks of dequantised coefficients in natural order (baseline only)."""
    blocks_per_line: dict[int, int] = field(default_factory=dict)
    uniform: bool = False


_ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
    7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
    39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip


def decode_jpeg(data: bytes) -> JpegInfo:
    """Parse a JPEG; for baseline Huffman files also entropy-decode every block."""
    pos = 2
    quant: dict[int, list[int]] = {}
    huffman: dict[tuple[int, int], dict[tuple[int, int], int]] = {}
    frame: dict | None = None
    restart_interval = 0
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise InvalidImage(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            raise InvalidImage("JPEG ends before its scan")
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        body = data[pos + 4 : pos + 2 + length]
        if len(body) != length - 2:
            raise InvalidImage(f"JPEG segment 0x{marker:02X} truncated at byte {pos}")
        pos += 2 + length
        if marker == 0xDB:
            i = 0
            while i < len(body):
                precision, table_id = body[i] >> 4, body[i] & 15
                size = 128 if precision else 64
                values = body[i + 1 : i + 1 + size]
                quant[table_id] = list(values) if not precision else list(struct.unpack(f">{64}H", values))
                i += 1 + size
        elif marker == 0xC4:
            i = 0
            while i < len(body):
                table_class, table_id = body[i] >> 4, body[i] & 15
                bits = body[i + 1 : i + 17]
                count = sum(bits)
                values = body[i + 17 : i + 17 + count]
                table, code, k = {}, 0, 0
                for length_bits in range(1, 17):
                    for _ in range(bits[length_bits - 1]):
                        table[(length_bits, code)] = values[k]
                        code += 1
                        k += 1
                    code <<= 1
                huffman[(table_class, table_id)] = table
                i += 17 + count
        elif marker == 0xDD:
            (restart_interval,) = struct.unpack(">H", body[:2])
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            _, height, width, count = struct.unpack(">BHHB", body[:6])
            comps = [
                (body[6 + 3 * c], body[7 + 3 * c] >> 4, body[7 + 3 * c] & 15, body[8 + 3 * c])
                for c in range(count)
            ]
            if width == 0 or height == 0 or count not in (1, 3, 4):
                raise InvalidImage(f"JPEG frame header is invalid ({width}x{height}, {count} components)")
            frame = {"baseline": marker in (0xC0, 0xC1), "width": width, "height": height, "comps": comps}
        elif marker == 0xDA:
            if frame is None:
                raise InvalidImage("JPEG scan before its frame header")
            if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
                raise InvalidImage("JPEG lacks its end-of-image marker")
            info = JpegInfo(frame["width"], frame["height"], [c[0] for c in frame["comps"]])
            if not frame["baseline"]:
                info.uniform = False
                return info
            selectors = {
                body[1 + 2 * i]: (body[2 + 2 * i] >> 4, body[2 + 2 * i] & 15) for i in range(body[0])
            }
            _decode_baseline_scan(data, pos, frame, selectors, quant, huffman, restart_interval, info)
            return info


class _BitReader:
    def __init__(self, data: bytes, pos: int):
        self.data, self.pos, self.acc, self.n = data, pos, 0, 0

    def bit(self) -> int:
        if self.n == 0:
            if self.pos >= len(self.data):
                raise InvalidImage("JPEG scan data is truncated")
            byte = self.data[self.pos]
            if byte == 0xFF:
                following = self.data[self.pos + 1] if self.pos + 1 < len(self.data) else None
                if following == 0:
                    self.pos += 1  # stuffed zero
                else:
                    raise InvalidImage(f"JPEG scan data ends early (marker 0xFF{following or 0:02X})")
            self.pos += 1
            self.acc, self.n = byte, 8
        self.n -= 1
        return (self.acc >> self.n) & 1

    def bits(self, count: int) -> int:
        value = 0
        for _ in range(count):
            value = (value << 1) | self.bit()
        return value

    def restart(self) -> None:
        """Skip to just after the next RSTn marker."""
        self.n = 0
        while self.pos + 1 < len(self.data) and not (
            self.data[self.pos] == 0xFF and 0xD0 <= self.data[self.pos + 1] <= 0xD7
        ):
            self.pos += 1
        self.pos += 2


def _decode_huffman(reader: _BitReader, table: dict[tuple[int, int], int]) -> int:
    code = 0
    for length in range(1, 17):
        code = (code << 1) | reader.bit()
        symbol = table.get((length, code))
        if symbol is not None:
            return symbol
    raise InvalidImage("JPEG scan holds a Huffman code that is not in its table")


def _extend(value: int, size: int) -> int:
    return value - (1 << size) + 1 if size and value < (1 << (size - 1)) else value


def _decode_baseline_scan(
    data, pos, frame, selectors, quant, huffman, restart_interval, info: JpegInfo
) -> None:
    comps = frame["comps"]
    h_max = max(c[1] for c in comps)
    v_max = max(c[2] for c in comps)
    mcus_x = -(-frame["width"] // (8 * h_max))
    mcus_y = -(-frame["height"] // (8 * v_max))
    reader = _BitReader(data, pos)
    predictors = {c[0]: 0 for c in comps}
    ac_energy = False
    dc_values: dict[int, set[int]] = {c[0]: set() for c in comps}
    for comp_id, h, _, _ in comps:
        info.blocks[comp_id] = []
        info.blocks_per_line[comp_id] = mcus_x * h
    try:
        for mcu in range(mcus_x * mcus_y):
            if restart_interval and mcu and mcu % restart_interval == 0:
                reader.restart()
                predictors = dict.fromkeys(predictors, 0)
            for comp_id, h, v, table_id in comps:
                dc_table = huffman[(0, selectors[comp_id][0])]
                ac_table = huffman[(1, selectors[comp_id][1])]
                q = quant[table_id]
                for _ in range(h * v):
                    coefficients = [0] * 64
                    size = _decode_huffman(reader, dc_table)
                    predictors[comp_id] += _extend(reader.bits(size), size)
                    coefficients[0] = predictors[comp_id] * q[0]
                    dc_values[comp_id].add(predictors[comp_id])
                    k = 1
                    while k < 64:
                        symbol = _decode_huffman(reader, ac_table)
                        run, size = symbol >> 4, symbol & 15
                        if size == 0:
                            if run != 15:
                                break  # EOB
                            k += 16
                            continue
                        k += run
                        if k > 63:
                            raise InvalidImage("JPEG block has more than 64 coefficients")
                        coefficients[_ZIGZAG[k]] = _extend(reader.bits(size), size) * q[k]
                        ac_energy = True
                        k += 1
                    info.blocks[comp_id].append(coefficients)
    except KeyError as exc:
        raise InvalidImage(f"JPEG refers to a missing table {exc}") from exc
    info.uniform = not ac_energy and all(len(values) == 1 for values in dc_values.values())
