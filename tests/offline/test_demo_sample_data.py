"""The demo's sample data: real images the gateways' detector agrees with, and the expected outcomes."""

from __future__ import annotations

import math

import pytest

from offline.demo.sample_data import build_sample_set, face_picture, jpeg_bytes, png_bytes
from offline.gateways.faces import InvalidImage, analyse_image, decode_jpeg


def test_every_image_expected_indexed_holds_one_face_and_is_unique():
    sample = build_sample_set("images", images=24, seed=3)
    indexed = list(sample.images())
    assert len(indexed) == 24 + 1  # the faces, plus one of the "same image twice" pair
    fingerprints = set()
    for obj in indexed:
        info = analyse_image(obj.body)
        assert info.faces == 1 and info.format == ("JPEG" if obj.key.endswith(".jpg") else "PNG"), obj.key
        fingerprints.add((obj.user_id, obj.body))
    assert len(fingerprints) == len(indexed)
    assert any(" " in obj.key or "+" in obj.key for obj in indexed)
    assert any(not obj.key.isascii() for obj in indexed)


def test_the_awkward_cases_are_what_they_claim():
    sample = build_sample_set("images", images=1)
    by_case = {obj.case: obj for obj in sample.objects}
    with pytest.raises(InvalidImage):
        analyse_image(by_case["corrupt PNG (truncated)"].body)
    assert analyse_image(by_case["no face (one colour)"].body).faces == 0
    assert by_case["empty file"].body == b""
    assert by_case["Ignore=True"].tags["Ignore"] == "True"
    assert "UserId" not in by_case["UserId missing"].tags
    twin = [obj for obj in sample.objects if obj.duplicate_of]
    assert len(twin) == 1 and sample.by_key()[twin[0].duplicate_of].body == twin[0].body
    assert set(sample.expected()) == {"indexed", "skipped", "invalid", "not_imported"}


def test_the_same_seed_builds_the_same_set():
    first = build_sample_set("b", images=4, seed=11)
    again = build_sample_set("b", images=4, seed=11)
    assert [(o.key, o.body, o.tags) for o in first.objects] == [
        (o.key, o.body, o.tags) for o in again.objects
    ]


def test_jpeg_round_trip_keeps_the_picture_close():
    picture = face_picture(1)
    info = decode_jpeg(jpeg_bytes(picture))
    assert (info.width, info.height) == (96, 96) and not info.uniform
    assert len(info.blocks[1]) == 12 * 12
    # The luma DC of the first block is the block's mean brightness (minus 128) times 8.
    block = [picture[y][x] for y in range(8) for x in range(8)]
    mean = sum(0.299 * r + 0.587 * g + 0.114 * b for r, g, b in block) / 64 - 128
    assert abs(info.blocks[1][0][0] / 8 - mean) < 4
    assert analyse_image(png_bytes(picture)).faces == 1


def test_jpeg_decodes_back_to_the_picture():
    """Inverse-DCT every decoded luma block: the encoder (flat-block shortcut and full DCT) is a real JPEG."""
    picture = face_picture(2)
    info = decode_jpeg(jpeg_bytes(picture, quality=90))
    cos = [[math.cos((2 * x + 1) * u * math.pi / 16) for u in range(8)] for x in range(8)]
    scale = [math.sqrt(0.5)] + [1.0] * 7
    errors = []
    for index, block in enumerate(info.blocks[1]):
        by, bx = divmod(index, info.blocks_per_line[1])
        for y in range(8):
            for x in range(8):
                value = (
                    sum(
                        scale[u] * scale[v] * block[v * 8 + u] * cos[x][u] * cos[y][v]
                        for u in range(8)
                        for v in range(8)
                    )
                    / 4
                    + 128
                )
                r, g, b = picture[by * 8 + y][bx * 8 + x]
                errors.append(abs(value - (0.299 * r + 0.587 * g + 0.114 * b)))
    assert sum(errors) / len(errors) < 3 and max(errors) < 60
