"""Reuse: another Pulumi project installs this repo as `bulk_loader` and composes the three components.

A fresh virtualenv OUTSIDE the repo (the test's tmp dir) borrows the project's installed dependencies through
a `.pth` file (no network), gets this repo installed with `pip install --no-deps --no-build-isolation`, and
runs a tiny Pulumi program under mocks that imports the components from the installed package and opens the
code archives they build: the handler code must come from the installed location, not from this checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from infra_harness import REPO

PROGRAM = textwrap.dedent(
    """
    import asyncio, json, sys, zipfile
    import pulumi
    from pulumi.runtime import settings

    import bulk_loader.components as components
    from bulk_loader.components import (
        BatchQualifier, BatchQualifierArgs, ImageBucketSettings, InventoryPipeline, InventoryPipelineArgs,
        LambdaSettings, SharedSettings, ThrottledIndexer, ThrottledIndexerArgs,
    )
    from bulk_loader.components import packaging

    ACCOUNT, REGION = "123456789012", "eu-west-1"
    archives = {}

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args):
            out = dict(args.inputs)
            name = out.get("name") or out.get("bucket") or args.name
            service = args.typ.split(":")[1].split("/")[0]
            out.setdefault("name", name)
            out["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{name}"
            out["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{name}"
            if args.typ == "aws:lambda/function:Function":
                archives[args.name] = args.inputs["code"].path
            return f"{args.name}-id", out

        def call(self, args):
            return {"accountId": ACCOUNT, "region": REGION, "name": REGION, "partition": "aws"}

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    pulumi.runtime.set_mocks(Mocks(), project="consumer", stack="test", preview=False)
    lam = LambdaSettings(architecture="arm64")
    indexer = ThrottledIndexer("faces", ThrottledIndexerArgs(
        image_bucket_name="photos", image_bucket_arn="arn:aws:s3:::photos", lambda_settings=lam))
    qualifier = BatchQualifier("qualify", BatchQualifierArgs(
        image_bucket_name="photos", image_bucket_arn="arn:aws:s3:::photos",
        queue_arn=indexer.queue_arn, queue_url=indexer.queue_url,
        history_table_name=indexer.history_table_name, history_table_arn=indexer.history_table_arn,
        shared=SharedSettings(image_suffixes=(".jpg",)), lambda_settings=lam))
    InventoryPipeline("inventory", InventoryPipelineArgs(
        batch_function_arn=qualifier.function_arn, image_bucket=ImageBucketSettings(name="photos"),
        shared=SharedSettings(image_suffixes=(".jpg",)), lambda_settings=lam))
    loop.run_until_complete(pulumi.runtime.stack.wait_for_rpcs())
    print(json.dumps({
        "components_file": components.__file__,
        "handlers_dir": str(packaging.HANDLERS_DIR),
        "archives": {name: sorted(zipfile.ZipFile(path).namelist()) for name, path in archives.items()},
    }))
    """
)


_CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
)


def _copy_source(target: Path) -> Path:
    """The files `pip install <repo>` builds from (copied: the build writes nothing into the checkout)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    target.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, target / name)
    for name in ("components", "handlers", "cli"):
        shutil.copytree(REPO / name, target / name, ignore=ignore)
    return target


@pytest.mark.skipif(sys.platform != "linux", reason="the venv layout below is Linux's")
def test_installed_package_composes_the_components_with_its_own_handler_code(tmp_path):
    assert not tmp_path.is_relative_to(REPO)
    venv = tmp_path / "consumer-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # dependencies (pulumi, pulumi-aws, pydantic, setuptools) come from the project's venv: no network
    (Path(purelib) / "project_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    source = _copy_source(tmp_path / "source")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-build-isolation", "--no-index", str(source)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-3000:]
    shutil.rmtree(source)  # nothing may still point at the copied sources

    program = tmp_path / "consumer"
    program.mkdir()
    (program / "program.py").write_text(PROGRAM)
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in {"PATH", "LANG"}},
        # the dependency bundles built by `make lambda-deps` (the program would pip-build them otherwise)
        "BULK_LOADER_BUILD_DIR": str(REPO / "build"),
    }
    result = subprocess.run(
        [str(python), "-I", "program.py"],
        cwd=program,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert Path(report["components_file"]).is_relative_to(venv)
    assert Path(report["handlers_dir"]).is_relative_to(venv)
    archives = report["archives"]
    assert set(archives) == {"faces-function", "qualify-function", "inventory-inventory-created"}
    for logical, fn in (
        ("faces-function", "throttled_indexer"),
        ("qualify-function", "batch_qualifier"),
        ("inventory-inventory-created", "inventory_created"),
    ):
        names = set(archives[logical])
        assert {"handlers/__init__.py", "handlers/common/contracts.py", f"handlers/{fn}/__init__.py"} <= names
        if (REPO / "handlers" / fn / "app.py").exists():
            assert f"handlers/{fn}/app.py" in names

    # The operator's console script, run from outside the checkout: it finds the installed handler code.
    cli = subprocess.run(
        [
            str(venv / "bin" / "bulk-loader"),
            "history",
            "user",
            "u",
            "--history-table",
            "t",
            "--region",
            "eu-west-1",
        ],
        cwd=program,
        capture_output=True,
        text=True,
        # No credentials (the fake ones removed; config files stay os.devnull, no instance metadata).
        env={k: v for k, v in env.items() if k not in _CREDENTIAL_VARIABLES},
        timeout=120,
        check=False,
    )
    assert cli.returncode == 2 and "no AWS credentials found" in cli.stderr, cli.stderr[-3000:]
