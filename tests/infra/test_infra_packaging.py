"""The Lambda archives ship what each handler needs at run time, built for the right platform.

Opens the code archives and dependency layers the program deploys (dev stack under mocks) and proves:
handler module + `handlers/common` present; third-party deps present and compiled for the stack's
architecture (ELF e_machine of every `.so`); nothing the Lambda runtime already has; Lambda's size limits;
and, on x86_64 Linux, that an isolated interpreter with ONLY the archive, the declared deps and
boto3/botocore (what the runtime adds) imports `handlers.<fn>.app` (the original shipped `import requests`).
Bundles come from `make lambda-deps` (`python -m components.packaging --build-all`): the tests stay offline.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from infra_harness import REPO, Run, run_main, stack_config

from components import packaging

FUNCTIONS = {
    "inventory_created": "inventory-inventory-created",
    "batch_qualifier": "qualifier-function",
    "throttled_indexer": "indexer-function",
}
ELF_MACHINE = {"arm64": 183, "x86_64": 62}  # EM_AARCH64, EM_X86_64
RUNTIME_DIRS = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six.py", "urllib3")
STACKS = sorted(p.name.split(".")[1] for p in REPO.glob("Pulumi.*.yaml"))


def _require_built(bundle: packaging.DepsBundle) -> None:
    if not bundle.built:
        pytest.fail(f"dependency bundle {bundle.root} is not built: run `make lambda-deps` first")


@pytest.fixture(scope="module", params=STACKS)
def deployed(request) -> tuple[str, Run]:
    return request.param, run_main(stack_config(request.param), request.param)


def _code_zip(run: Run, logical_name: str) -> Path:
    return Path(run.named(logical_name).inputs["code"].path)


def _layer_bundle(run: Run, fn: str) -> packaging.DepsBundle:
    function = run.named(FUNCTIONS[fn])
    runtime, (arch,) = function.inputs["runtime"], function.inputs["architectures"]
    bundle = packaging.deps_bundle(fn, runtime, arch)
    _require_built(bundle)
    return bundle


def _elf_machine(data: bytes) -> int:
    assert data[:4] == b"\x7fELF", "not an ELF file"
    return struct.unpack_from("<H", data, 18)[0]


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_code_archive_holds_the_handler_and_common(deployed, fn):
    _, run = deployed
    names = set(zipfile.ZipFile(_code_zip(run, FUNCTIONS[fn])).namelist())
    assert {"handlers/__init__.py", "handlers/common/__init__.py", "handlers/common/contracts.py"} <= names
    assert f"handlers/{fn}/__init__.py" in names
    if (packaging.HANDLERS_DIR / fn / "app.py").exists():
        assert f"handlers/{fn}/app.py" in names
    else:
        pytest.skip(f"handlers/{fn}/app.py is not written yet")
    others = set(FUNCTIONS) - {fn}
    assert not [n for n in names if n.split("/")[1] in others], "another function's code is in the archive"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert run.named(FUNCTIONS[fn]).inputs["handler"] == f"handlers.{fn}.app.handler"


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_dependency_layer_is_built_for_the_function_architecture(deployed, fn):
    _, run = deployed
    bundle = _layer_bundle(run, fn)
    function = run.named(FUNCTIONS[fn])
    machine = ELF_MACHINE[bundle.architecture]
    with zipfile.ZipFile(bundle.zip_path) as layer:
        names = layer.namelist()
        assert all(n.startswith("python/") for n in names)
        tops = {n.split("/")[1] for n in names}
        assert {"aws_lambda_powertools", "pydantic", "pydantic_core", "aws_xray_sdk"} <= tops
        assert ("pyarrow" in tops) == (fn == "inventory_created")
        assert not tops & {d.removesuffix(".py") for d in RUNTIME_DIRS} and "six.py" not in tops
        assert "requests" not in tops
        shared = [n for n in names if n.endswith(".so") or ".so." in n]
        assert shared, "no compiled extension found"
        for name in shared:
            assert _elf_machine(layer.read(name)[:20]) == machine, f"{name} is not {bundle.architecture}"
        assert not [n for n in names if "/__pycache__/" in n or "/tests/" in n]
        unzipped = sum(i.file_size for i in layer.infolist())
    code = _code_zip(run, FUNCTIONS[fn])
    unzipped += sum(i.file_size for i in zipfile.ZipFile(code).infolist())
    assert unzipped < packaging.UNZIPPED_LIMIT_BYTES
    # the layer reaches Lambda directly when small enough, through the artifacts bucket otherwise
    (layer_resource,) = [
        r for r in run.of_type("aws:lambda/layerVersion:LayerVersion") if r.name.startswith(function.name)
    ]
    assert layer_resource.inputs["compatibleArchitectures"] == [bundle.architecture]
    if bundle.zip_path.stat().st_size > packaging.DIRECT_UPLOAD_LIMIT_BYTES:
        assert "code" not in layer_resource.inputs
        obj = run.named(f"{function.name}-deps-object")
        assert obj.inputs["source"].path == str(bundle.zip_path)
        assert layer_resource.inputs["s3Key"] == obj.inputs["key"]
        assert layer_resource.inputs["s3Bucket"] == obj.inputs["bucket"]
    else:
        assert layer_resource.inputs["code"].path == str(bundle.zip_path)
    assert function.outputs["layers"] == [layer_resource.outputs["arn"]]


def _runtime_only_dir(tmp: Path) -> Path:
    """boto3/botocore and their dependencies, as the Lambda runtime provides them (nothing else)."""
    import botocore

    site = Path(botocore.__file__).resolve().parent.parent
    runtime = tmp / "runtime"
    runtime.mkdir()
    for name in RUNTIME_DIRS:
        (runtime / name).symlink_to(site / name)
    return runtime


@pytest.mark.skipif(
    packaging.host_target() is None or packaging.host_target()[1] != "x86_64", reason="x86_64 Linux only"
)
@pytest.mark.parametrize("fn", FUNCTIONS)
def test_handler_imports_in_isolation_with_only_its_archive_and_declared_deps(fn, tmp_path):
    if not (packaging.HANDLERS_DIR / fn / "app.py").exists():
        pytest.skip(f"handlers/{fn}/app.py is not written yet")
    run = run_main(stack_config("dev"), "dev")
    bundle = packaging.host_check_bundle(fn)
    assert bundle is not None
    _require_built(bundle)
    code_dir, layer_dir = tmp_path / "task", tmp_path / "opt"
    zipfile.ZipFile(_code_zip(run, FUNCTIONS[fn])).extractall(code_dir)
    zipfile.ZipFile(bundle.zip_path).extractall(layer_dir)
    runtime = _runtime_only_dir(tmp_path)
    probe = (
        "import sys\n"
        f"sys.path[:0] = [{str(code_dir)!r}, {str(layer_dir / 'python')!r}, {str(runtime)!r}]\n"
        "import importlib\n"
        f"module = importlib.import_module('handlers.{fn}.app')\n"
        "assert callable(module.handler), 'handler is not callable'\n"
        "leaked = [m for m in sys.modules if m.split('.')[0] in {'requests', 'moto', 'pytest'}]\n"
        "assert not leaked, leaked\n"
        "print('imported', module.__name__)\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in {"PATH", "LANG", "TZ"}},
        **run.named(FUNCTIONS[fn]).inputs["environment"]["variables"],
        "POWERTOOLS_TRACE_DISABLED": "true",
    }
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"import failed in isolation:\n{result.stderr[-3000:]}"
    assert f"imported handlers.{fn}.app" in result.stdout


def test_archives_are_reproducible(tmp_path):
    first = packaging.code_archive("batch_qualifier", build_dir=tmp_path / "a")
    second = packaging.code_archive("batch_qualifier", build_dir=tmp_path / "b")
    assert first.name == second.name
    assert first.read_bytes() == second.read_bytes()


def test_pip_is_asked_for_lambda_wheels_not_this_machine(tmp_path):
    bundle = packaging.deps_bundle("inventory_created", "python3.12", "arm64", build_dir=tmp_path)
    assert bundle.platforms == ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
    assert packaging.lambda_platforms("python3.11", "x86_64") == ("manylinux2014_x86_64",)
    assert bundle.root.parent == tmp_path / "lambda-deps"
    other = packaging.deps_bundle("inventory_created", "python3.12", "x86_64", build_dir=tmp_path)
    assert other.key != bundle.key
    with pytest.raises(packaging.PackagingError, match="architecture"):
        packaging.deps_bundle("inventory_created", "python3.12", "mips")
