"""Structural guards on the components (AST) and isolation between Pulumi runs."""

from __future__ import annotations

import ast
import re

import pytest
from infra_harness import REPO, run_main

from components.config import StackConfig
from components.reference import reference_table

COMPONENT_FILES = sorted((REPO / "components").glob("*.py"))


def _component_classes() -> list[tuple[str, ast.ClassDef]]:
    found = []
    for path in COMPONENT_FILES:
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.ClassDef) and any(
                (isinstance(b, ast.Attribute) and b.attr == "ComponentResource")
                or (isinstance(b, ast.Name) and b.id == "ComponentResource")
                for b in node.bases
            ):
                found.append((path.name, node))
    return found


COMPONENTS = _component_classes()


def test_the_three_components_are_found():
    assert sorted(cls.name for _, cls in COMPONENTS) == [
        "BatchQualifier",
        "InventoryPipeline",
        "ThrottledIndexer",
    ]


def _init(cls: ast.ClassDef) -> ast.FunctionDef:
    (init,) = [n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"]
    return init


@pytest.mark.parametrize(("filename", "cls"), COMPONENTS, ids=[c.name for _, c in COMPONENTS])
def test_register_outputs_is_the_last_statement_of_init(filename, cls):
    last = _init(cls).body[-1]
    assert (
        isinstance(last, ast.Expr)
        and isinstance(last.value, ast.Call)
        and isinstance(last.value.func, ast.Attribute)
        and last.value.func.attr == "register_outputs"
        and isinstance(last.value.func.value, ast.Name)
        and last.value.func.value.id == "self"
    ), f"{filename}: {cls.name}.__init__ must end with self.register_outputs(...)"


@pytest.mark.parametrize(("filename", "cls"), COMPONENTS, ids=[c.name for _, c in COMPONENTS])
def test_type_token_and_args_class(filename, cls):
    init = _init(cls)
    first = init.body[0]
    call = first.value
    assert (
        isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "__init__"
    )
    assert isinstance(call.args[0], ast.Constant) and call.args[0].value == f"bulkloader:index:{cls.name}"
    args_annotation = init.args.args[2].annotation
    assert isinstance(args_annotation, ast.Name) and args_annotation.id == f"{cls.name}Args"


@pytest.mark.parametrize("filename", [p.name for p in COMPONENT_FILES])
def test_children_are_parented_and_named_after_the_component(filename):
    """Every `aws.*(...)` call inside a component file passes a name built from `name` and `opts`."""
    tree = ast.parse((REPO / "components" / filename).read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Attribute)
            and isinstance(node.func.value.value, ast.Name)
            and node.func.value.value.id == "aws"
            and node.func.attr[:1].isupper()
        ):
            assert node.args, f"{filename}:{node.lineno}: resource without a name"
            assert isinstance(node.args[0], ast.JoinedStr | ast.Name), (
                f"{filename}:{node.lineno}: literal name"
            )
            assert any(k.arg == "opts" for k in node.keywords), f"{filename}:{node.lineno}: no opts (parent)"


def test_every_args_field_has_a_docstring():
    for path in COMPONENT_FILES:
        for node in ast.parse(path.read_text()).body:
            if not (isinstance(node, ast.ClassDef) and node.name.endswith("Args")):
                continue
            for i, item in enumerate(node.body):
                if isinstance(item, ast.AnnAssign):
                    following = node.body[i + 1] if i + 1 < len(node.body) else None
                    assert isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant), (
                        f"{path.name}: {node.name}.{item.target.id} has no docstring"
                    )


def _all_fields(model) -> list[tuple[str, object]]:
    out = []
    for name, info in model.model_fields.items():
        out.append((f"{model.__name__}.{name}", info))
        if isinstance(info.annotation, type) and hasattr(info.annotation, "model_fields"):
            out += _all_fields(info.annotation)
    return out


def test_every_setting_is_documented_and_the_readme_table_is_current():
    undocumented = [name for name, info in _all_fields(StackConfig) if not info.description]
    assert not undocumented
    readme = (REPO / "README.md").read_text()
    section = re.search(r"<!-- section: configuration -->(.*)<!-- /section: configuration -->", readme, re.S)
    assert section and reference_table() in section.group(1), (
        "README configuration table is stale: paste `python -m components.config` into it"
    )


def test_runs_are_isolated_from_each_other():
    first = run_main({"lambda": {"architecture": "x86_64"}, "throttledIndexer": {"maxConcurrency": 7}}, "one")
    second = run_main({}, "two")
    assert first.named("indexer-function").inputs["architectures"] == ["x86_64"]
    assert second.named("indexer-function").inputs["architectures"] == ["arm64"]
    assert second.named("indexer-queue-mapping").inputs["scalingConfig"]["maximumConcurrency"] == 5
    # nothing registered by the first run shows up in the second
    assert len(second.resources) == len({r.name for r in second.resources})
    assert second.exports["batch_function_name"] == "bulk-loader-two-batch-qualifier"
    assert first.exports["batch_function_name"] == "bulk-loader-one-batch-qualifier"


def test_a_failed_run_does_not_poison_the_next():
    with pytest.raises(ValueError, match="bulk-loader"):
        run_main({"throttledIndexer": {"gateway": "soap"}})
    assert run_main({}).exports["queue_url"]


def test_the_program_only_composes_and_modules_stay_small():
    """__main__.py only composes and exports (under 100 lines); each component module stays readable."""
    assert len((REPO / "__main__.py").read_text().splitlines()) < 100
    too_long = {p.name: n for p in COMPONENT_FILES if (n := len(p.read_text().splitlines())) > 450}
    assert not too_long, f"component modules over 450 lines: {too_long}"
