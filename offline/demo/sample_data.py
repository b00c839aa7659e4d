"""Sample data for the demo and the end-to-end tests: real PNG and JPEG files, tags, properties files and the
awkward cases a real image bucket holds, each with the outcome the pipeline is expected to reach.

Images are drawn and encoded with Pillow (a test and demo dependency, requirements-dev.txt), deterministic for
a seed with the pinned version. Every picture is unique (its colours and features come from the user's seed),
so two users never share a fingerprint.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from PIL import Image, ImageDraw, PngImagePlugin

Pixel = tuple[int, int, int]
Picture = Image.Image
"""An RGB picture."""
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
    picture = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(picture)
    draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    for side in (-1, 1):
        ex, ey = cx + side * eye_dx, cy - eye_dy
        draw.ellipse((ex - eye_r, ey - eye_r, ex + eye_r, ey + eye_r), fill=eye)
    mouth_y = cy + ry * 0.45
    draw.rectangle((cx - mouth_w, mouth_y - 1.5, cx + mouth_w, mouth_y + 1.5), fill=eye)
    return picture


def uniform_picture(colour: Pixel = (128, 128, 128), size: int = PICTURE_SIZE) -> Picture:
    """A picture of one colour: a valid image in which no face can be found."""
    return Image.new("RGB", (size, size), colour)


def png_bytes(picture: Picture, person: str | None = None) -> bytes:
    """An 8-bit truecolour PNG; `person` (a tEXt chunk) names who it shows for the emulated Rekognition's
    user matching (offline/gateways/rekognition_users.py)."""
    info = PngImagePlugin.PngInfo()
    if person:
        info.add_text("person", person)
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=9, pnginfo=info)
    return out.getvalue()


def jpeg_bytes(picture: Picture, quality: int = 80) -> bytes:
    """A baseline JFIF JPEG, YCbCr without chroma subsampling (4:4:4)."""
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=quality, subsampling=0)
    return out.getvalue()


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


# rekognitionMode users: this many images of one user build its one user vector.
SEVERAL_IMAGES = 3
SEVERAL_IMAGES_CASE = "several images, one user"


def build_sample_set(bucket: str, images: int = 200, seed: int = 7, *, users_mode: bool = False) -> SampleSet:
    """`images` face images for as many users (PNG and JPEG, some with a properties file, some with awkward
    keys), plus one of each awkward case of a real bucket. `users_mode` (rekognitionMode users) adds a user
    with several images and another person's face tagged with that user. Deterministic for a given seed."""
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
    if users_mode:
        objects.extend(user_cases(seed))
    return SampleSet(bucket, objects)


def user_cases(seed: int) -> list[SampleObject]:
    """rekognitionMode users: SEVERAL_IMAGES photos of one user (one Rekognition user holds their faces), and
    a photo of someone else tagged with the same user (AssociateFaces refuses it: LOW_MATCH_CONFIDENCE)."""
    user = f"family-{seed:x}"
    case = SEVERAL_IMAGES_CASE
    objects = [
        SampleObject(f"users/{user}/photo-{n}.png", png_bytes(face_picture(seed * 104_729 + n)), "indexed",
                     "registered", {"UserId": user}, "image/png", user, case)
        for n in range(SEVERAL_IMAGES)
    ]  # fmt: skip
    stranger = png_bytes(face_picture(seed * 104_729 + 99), person=f"not-{user}")
    objects.append(
        SampleObject(f"users/{user}/someone-else.png", stranger, "invalid", "user-low-match-confidence",
                     {"UserId": user}, "image/png", user, "another person's face for the user")
    )  # fmt: skip
    return objects


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
