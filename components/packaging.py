"""Lambda code archives and third-party dependency bundles.

A function's code archive holds `handlers/__init__.py`, `handlers/common/` and `handlers/<function>/`, so the
archive root contains `handlers/...` and the handler path is `handlers.<function>.app.handler`.

Its third-party runtime dependencies (`handlers/requirements.txt` plus `handlers/<function>/requirements.txt`
when present) are installed from manylinux wheels for the Lambda runtime and architecture, never for this
machine, into `build/lambda-deps/<hash>/python` (a cache keyed by the requirements, runtime and architecture)
and shipped as a Lambda layer (the layer zip holds `python/...`, which Lambda puts on `sys.path`).

Sizes, measured with `python -m components.packaging --report` (pyarrow 26.0.1, pydantic 2.14.3,
Powertools 3.37.0, after stripping):

    bundle                               arm64 unzipped / zipped    x86_64 unzipped / zipped
    Powertools + pydantic                11.6 MB / 3.8 MB           12.0 MB / 3.9 MB
    + pyarrow (inventory_created)        151.1 MB / 50.9 MB         166.0 MB / 54.2 MB

(MB = MiB.) Decision: every bundle is a layer. All stay well under the 250 MB unzipped limit (function +
layers), so pyarrow ships whole (no fragile pruning of its shared libraries); the pyarrow layer is over the
50 MB direct-upload limit, so `lambda_function.secure_function` uploads it as an S3 object in the component's
artifacts bucket and publishes the layer from there (smaller bundles are uploaded directly).

`host_check_bundle` builds one more bundle per function for THIS machine's Python (x86_64 Linux), used only by
the archive import test; it is never deployed.

`python -m components.packaging --build-all` builds every bundle the stack files need (the Makefile's
`lambda-deps` target), so tests and `pulumi preview` run offline afterwards.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

# Where the handler sources are: next to this package, both in the source tree (components/ + handlers/) and
# when installed as `bulk_loader` (bulk_loader/components + bulk_loader/handlers, shipped as package data).
from .handler_path import HANDLERS_DIR

FUNCTIONS = ("inventory_created", "batch_qualifier", "throttled_indexer")
LAMBDA_ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
LAMBDA_RUNTIMES = ("python3.11", "python3.12", "python3.13")

# Lambda's limits (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
DIRECT_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024  # zipped, for a direct upload; bigger goes through S3
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # function + all its layers, unzipped

# These come with the Lambda Python runtime. A second copy in a layer would shadow the runtime's
# (layers precede /var/runtime on sys.path) and could pair a layer botocore with the runtime's boto3.
RUNTIME_PROVIDED = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "python_dateutil",
    "six",
    "urllib3",
)

# Files Lambda never needs at run time. pyarrow's C++ headers, Cython sources and test suite are a large
# share of its size; removing them keeps the unzipped bundle well under the 250 MB limit.
STRIP_DIR_NAMES = frozenset({"__pycache__", "tests", "test", "include"})
STRIP_SUFFIXES = (".pyc", ".pyx", ".pxd", ".pxi", ".h", ".hpp", ".cc", ".cpp")

# Fixed timestamp for zip entries so an unchanged tree gives a byte-identical archive (stable code hash).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


class PackagingError(RuntimeError):
    """A code archive or dependency bundle cannot be built or breaks a Lambda limit."""


def _repo_build_dir() -> Path:
    """`BULK_LOADER_BUILD_DIR`, else `build/` of the source tree we run from, else `./build`."""
    override = os.environ.get("BULK_LOADER_BUILD_DIR")
    if override:
        return Path(override).resolve()
    source_root = Path(__file__).resolve().parent.parent
    if (source_root / "Pulumi.yaml").exists():
        return source_root / "build"
    return Path.cwd() / "build"


def requirements_files(function: str, handlers_dir: Path = HANDLERS_DIR) -> list[Path]:
    """The requirements files of one function: the shared one, then its own if it has one."""
    files = [handlers_dir / "requirements.txt"]
    own = handlers_dir / function / "requirements.txt"
    if own.exists():
        files.append(own)
    return [f for f in files if f.exists()]


@dataclass(frozen=True)
class DepsBundle:
    """Third-party dependencies for one (requirements, runtime, architecture) combination."""

    requirements: tuple[Path, ...]
    runtime: str
    architecture: str
    build_dir: Path
    platforms: tuple[str, ...]
    """pip `--platform` tags: the manylinux levels the target's glibc supports."""

    @property
    def key(self) -> str:
        digest = hashlib.sha256()
        for req in self.requirements:
            digest.update(req.name.encode())
            digest.update(req.read_bytes())
        digest.update(f"|{self.runtime}|{self.architecture}|{','.join(self.platforms)}".encode())
        return digest.hexdigest()[:16]

    @property
    def root(self) -> Path:
        return self.build_dir / "lambda-deps" / self.key

    @property
    def python_dir(self) -> Path:
        return self.root / "python"

    @property
    def zip_path(self) -> Path:
        return self.root / "layer.zip"

    @property
    def built(self) -> bool:
        return (self.root / ".complete").exists() and self.zip_path.exists()


def deps_bundle(
    function: str,
    runtime: str,
    architecture: str,
    handlers_dir: Path = HANDLERS_DIR,
    build_dir: Path | None = None,
) -> DepsBundle:
    _check_target(runtime, architecture)
    return DepsBundle(
        requirements=tuple(requirements_files(function, handlers_dir)),
        runtime=runtime,
        architecture=architecture,
        build_dir=build_dir or _repo_build_dir(),
        platforms=lambda_platforms(runtime, architecture),
    )


def lambda_platforms(runtime: str, architecture: str) -> tuple[str, ...]:
    """Wheel platform tags the Lambda runtime can load.

    python3.12+ runs on Amazon Linux 2023 (glibc 2.34), so manylinux_2_28 wheels work there (pyarrow >= 21
    publishes only those); python3.11 runs on Amazon Linux 2 (glibc 2.26): manylinux2014 only.
    """
    machine = LAMBDA_ARCHITECTURES[architecture]
    tags = [f"manylinux2014_{machine}"]
    if runtime != "python3.11":
        tags.append(f"manylinux_2_28_{machine}")
    return tuple(tags)


def host_check_bundle(function: str, handlers_dir: Path = HANDLERS_DIR, build_dir: Path | None = None):
    """A bundle for THIS machine's Python (x86_64 Linux), used only by the archive import test.

    It proves that the code archive plus its declared requirements import in an isolated interpreter with
    nothing else but boto3/botocore (what the Lambda runtime adds). It is never deployed: its wheels are
    chosen for this machine's glibc, not for a Lambda runtime. None when this machine is not Linux x86_64.
    """
    target = host_target()
    if target is None or target[1] != "x86_64":
        return None
    glibc = platform.libc_ver()[1] or "2.17"
    major, minor = (int(x) for x in glibc.split(".")[:2])
    tags = ["manylinux2014_x86_64"] + (["manylinux_2_28_x86_64"] if (major, minor) >= (2, 28) else [])
    return DepsBundle(
        requirements=tuple(requirements_files(function, handlers_dir)),
        runtime=target[0],
        architecture="x86_64",
        build_dir=build_dir or _repo_build_dir(),
        platforms=tuple(tags),
    )


def _check_target(runtime: str, architecture: str) -> None:
    if runtime not in LAMBDA_RUNTIMES:
        raise PackagingError(f"unsupported Lambda runtime {runtime!r}; allowed: {', '.join(LAMBDA_RUNTIMES)}")
    if architecture not in LAMBDA_ARCHITECTURES:
        raise PackagingError(
            f"unsupported Lambda architecture {architecture!r}; allowed: {', '.join(LAMBDA_ARCHITECTURES)}"
        )


def build_deps(bundle: DepsBundle, *, force: bool = False) -> DepsBundle:
    """Install the bundle's wheels for the Lambda platform (cached), strip it and zip it as a layer."""
    if bundle.built and not force:
        return bundle
    if bundle.root.exists():
        shutil.rmtree(bundle.root)
    bundle.python_dir.mkdir(parents=True)
    python_version = bundle.runtime.removeprefix("python")
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        *[arg for tag in bundle.platforms for arg in ("--platform", tag)],
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--target",
        str(bundle.python_dir),
    ]
    for req in bundle.requirements:
        command += ["-r", str(req)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise PackagingError(
            f"pip could not build the Lambda dependencies for {bundle.runtime}/{bundle.architecture} "
            f"from {', '.join(str(r) for r in bundle.requirements)}:\n{result.stderr.strip()}"
        )
    _strip(bundle.python_dir)
    unzipped = _tree_size(bundle.python_dir)
    if unzipped > UNZIPPED_LIMIT_BYTES:
        raise PackagingError(
            f"dependency bundle {bundle.root} is {unzipped / 2**20:.0f} MB unzipped; Lambda allows 250 MB"
        )
    _zip_tree(bundle.root, ["python"], bundle.zip_path)
    (bundle.root / ".complete").write_text(f"{bundle.runtime} {bundle.architecture}\n")
    return bundle


def _strip(python_dir: Path) -> None:
    for name in os.listdir(python_dir):
        if name.endswith((".dist-info", ".egg-info")):
            top = name.split("-")[0].lower()
        else:
            top = name.removesuffix(".py")
        if top in RUNTIME_PROVIDED:
            _remove(python_dir / name)
    if (python_dir / "bin").exists():
        shutil.rmtree(python_dir / "bin")
    for dirpath, dirnames, filenames in os.walk(python_dir, topdown=True):
        for d in [d for d in dirnames if d in STRIP_DIR_NAMES]:
            shutil.rmtree(Path(dirpath) / d)
            dirnames.remove(d)
        for f in filenames:
            if f.endswith(STRIP_SUFFIXES):
                (Path(dirpath) / f).unlink()


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def _tree_size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _zip_tree(base: Path, members: list[str], target: Path) -> None:
    """Zip `members` (paths relative to `base`) deterministically: sorted entries, fixed timestamps."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for member in members:
            start = base / member
            paths = [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file())
            for path in paths:
                rel = path.relative_to(base)
                if "__pycache__" in rel.parts or path.suffix == ".pyc":
                    continue
                info = zipfile.ZipInfo(rel.as_posix(), date_time=_ZIP_EPOCH)
                info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    tmp.replace(target)


def code_archive(function: str, handlers_dir: Path = HANDLERS_DIR, build_dir: Path | None = None) -> Path:
    """Zip the function's package + `handlers/common/` + `handlers/__init__.py`; returns the zip's path.

    The name carries a hash of the content, so an unchanged tree maps to the same file.
    """
    package = handlers_dir / function
    if not (package / "__init__.py").exists():
        raise PackagingError(f"handler package {package} is missing (expected {package / '__init__.py'})")
    members = ["__init__.py", "common", function]
    digest = hashlib.sha256()
    for member in members:
        start = handlers_dir / member
        for path in [start] if start.is_file() else sorted(p for p in start.rglob("*") if p.is_file()):
            if "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(handlers_dir).as_posix().encode())
            digest.update(path.read_bytes())
    target = (build_dir or _repo_build_dir()) / "lambda-code" / f"{function}-{digest.hexdigest()[:16]}.zip"
    if not target.exists():
        # `handlers` must be the archive's top-level folder whatever the source folder is called.
        staging = target.with_suffix(".staging")
        if staging.exists():
            shutil.rmtree(staging)
        (staging / "handlers").mkdir(parents=True)
        for member in members:
            src = handlers_dir / member
            if src.is_file():
                shutil.copy2(src, staging / "handlers" / member)
            else:
                shutil.copytree(
                    src, staging / "handlers" / member, ignore=shutil.ignore_patterns("__pycache__")
                )
        _zip_tree(staging, ["handlers"], target)
        shutil.rmtree(staging)
    return target


def stack_targets(project_dir: Path | None = None) -> set[tuple[str, str]]:
    """(runtime, architecture) of every `Pulumi.<stack>.yaml` next to the program."""
    import yaml

    from .sections import DEFAULT_ARCHITECTURE, DEFAULT_RUNTIME

    project_dir = project_dir or HANDLERS_DIR.parent
    targets = set()
    for stack_file in sorted(project_dir.glob("Pulumi.*.yaml")):
        config = (yaml.safe_load(stack_file.read_text()) or {}).get("config") or {}
        lam = config.get("bulk-loader:lambda") or {}
        targets.add((lam.get("runtime", DEFAULT_RUNTIME), lam.get("architecture", DEFAULT_ARCHITECTURE)))
    return targets or {(DEFAULT_RUNTIME, DEFAULT_ARCHITECTURE)}


def host_target() -> tuple[str, str] | None:
    """The Lambda (runtime, architecture) this machine can import, for the archive import test."""
    runtime = f"python{sys.version_info.major}.{sys.version_info.minor}"
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower()
    )
    if sys.platform != "linux" or machine is None or runtime not in LAMBDA_RUNTIMES:
        return None
    return runtime, machine


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--build-all",
        action="store_true",
        help="build every dependency bundle the Pulumi.<stack>.yaml files need, plus one for this machine's "
        "Python (the archive import test)",
    )
    parser.add_argument("--force", action="store_true", help="rebuild even when cached")
    parser.add_argument("--report", action="store_true", help="print the size of every built bundle")
    args = parser.parse_args(argv)
    if not (args.build_all or args.report):
        parser.print_help()
        return 2
    bundles = [deps_bundle(fn, rt, arch) for rt, arch in sorted(stack_targets()) for fn in FUNCTIONS]
    bundles += [b for b in (host_check_bundle(fn) for fn in FUNCTIONS) if b is not None]
    seen: set[str] = set()
    for bundle in bundles:
        if bundle.key in seen:
            continue
        seen.add(bundle.key)
        label = "+".join(r.parent.name for r in bundle.requirements)
        if args.build_all:
            build_deps(bundle, force=args.force)
        if args.report and bundle.built:
            print(
                f"{label:28} {bundle.runtime:11} {bundle.architecture:7} {','.join(bundle.platforms):45} "
                f"unzipped {_tree_size(bundle.python_dir) / 2**20:6.1f} MB  "
                f"zipped {bundle.zip_path.stat().st_size / 2**20:5.1f} MB"
            )
    if args.build_all:
        for function in FUNCTIONS:
            if (HANDLERS_DIR / function / "__init__.py").exists():
                code_archive(function)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
