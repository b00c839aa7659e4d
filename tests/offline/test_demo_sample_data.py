"""The demo's sample data: real images the gateways' detector agrees with, and the expected outcomes."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from offline.demo.sample_data import build_sample_set, face_picture, jpeg_bytes, png_bytes
from offline.gateways.faces import InvalidImage, analyse_image


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


def _decoded_luma(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("L")


def test_jpeg_round_trip_keeps_the_picture_close():
    picture = face_picture(1)
    data = jpeg_bytes(picture)
    with Image.open(io.BytesIO(data)) as decoded:
        assert (decoded.format, decoded.size) == ("JPEG", (96, 96))
        assert not decoded.info.get("progressive")  # baseline
    assert analyse_image(data).faces == 1
    # The first 8x8 block keeps its mean brightness.
    original, decoded_luma = picture.convert("L"), _decoded_luma(data)
    block = [(x, y) for y in range(8) for x in range(8)]
    mean = sum(original.getpixel(xy) for xy in block) / 64
    assert abs(sum(decoded_luma.getpixel(xy) for xy in block) / 64 - mean) < 4
    assert analyse_image(png_bytes(picture)).faces == 1


def test_jpeg_decodes_back_to_the_picture():
    """Every pixel's brightness comes back close: the encoder writes a real JPEG of the picture."""
    picture = face_picture(2)
    original = picture.convert("L").get_flattened_data()
    decoded = _decoded_luma(jpeg_bytes(picture, quality=90)).get_flattened_data()
    errors = [abs(a - b) for a, b in zip(original, decoded, strict=True)]
    assert sum(errors) / len(errors) < 3 and max(errors) < 60


def test_png_is_lossless():
    picture = face_picture(3)
    with Image.open(io.BytesIO(png_bytes(picture))) as decoded:
        assert decoded.format == "PNG" and decoded.mode == "RGB"
        assert list(decoded.get_flattened_data()) == list(picture.get_flattened_data())
