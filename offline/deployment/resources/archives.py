"""Pulumi code archives and assets as files: a function's code extracted (our code kept, third-party
dependencies left to this interpreter), zipped again for moto, or read as one object's bytes."""

from __future__ import annotations

import io
import shutil
import sysconfig
import zipfile
from pathlib import Path
from typing import Any

import pulumi

from offline.deployment.resources import CreatorError

# Third-party packages come from this interpreter's site-packages, not from the archive: the archive's
# dependency bundles are built for the Lambda runtime and architecture (manylinux arm64 by default), which
# this machine may not be able to load.
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])


def _keep_from_archive(top: str) -> bool:
    """Whether a top-level archive entry is our code (kept) or a third-party dependency (from the venv)."""
    if top == "handlers":
        return True
    if top.endswith((".dist-info", ".egg-info", ".libs", ".data")) or top in ("bin", "__pycache__"):
        return False
    stem = top.split(".")[0]
    return not any(SITE_PACKAGES.glob(f"{stem}*")) or not stem


def materialize(archive: Any, dest: Path, skipped: set[str], base: Path, top_level: bool = True) -> None:
    """Write a Pulumi asset/archive to `dest` (a directory), leaving out third-party dependencies."""
    path = getattr(archive, "path", None)
    if path:
        path = str(base / path)  # an absolute path stays as it is
    assets = getattr(archive, "assets", None)
    if assets is not None:  # AssetArchive: name -> asset or archive
        for name, item in assets.items():
            top = name.split("/")[0]
            if top_level and not _keep_from_archive(top):
                skipped.add(top)
                continue
            if isinstance(item, pulumi.AssetArchive | pulumi.FileArchive):
                materialize(item, dest / name, skipped, base, top_level=False)
            elif isinstance(item, pulumi.FileAsset):
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(base / item.path, dest / name)
            elif isinstance(item, pulumi.StringAsset):
                (dest / name).parent.mkdir(parents=True, exist_ok=True)
                (dest / name).write_text(item.text)
            else:
                raise CreatorError(f"archive entry {name}: unsupported asset {type(item).__name__}")
        return
    if not path:
        raise CreatorError(
            f"unsupported code archive {type(archive).__name__} (remote archives are not offline)"
        )
    source = Path(path)
    if source.is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        for child in source.iterdir():
            if top_level and not _keep_from_archive(child.name):
                skipped.add(child.name)
                continue
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                shutil.copytree(
                    child, dest / child.name, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True
                )
            else:
                shutil.copyfile(child, dest / child.name)
        return
    if not zipfile.is_zipfile(source):
        raise CreatorError(f"code archive {source} is neither a directory nor a zip file")
    with zipfile.ZipFile(source) as zf:
        for member in zf.infolist():
            top = member.filename.split("/")[0]
            if top_level and not _keep_from_archive(top):
                skipped.add(top)
                continue
            target = (dest / member.filename).resolve()
            if not str(target).startswith(str(dest.resolve())):
                raise CreatorError(
                    f"code archive {source}: entry {member.filename!r} escapes the archive root"
                )
            zf.extract(member, dest)


def zip_dir(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for file in sorted(directory.rglob("*")):
            if file.is_file():
                zf.write(file, file.relative_to(directory).as_posix())
        if not zf.namelist():
            zf.writestr("EMPTY", "")
    return buffer.getvalue()


def archive_bytes(archive: Any, base: Path) -> bytes:
    """A zip (or file) of a Pulumi asset/archive, for uploading as an S3 object."""
    path = getattr(archive, "path", None)
    if path and (base / path).is_file():
        return (base / path).read_bytes()
    raise CreatorError(f"cannot upload asset {type(archive).__name__} offline")
