"""The component package: the schema Pulumi's analyzer infers from the hosted components (no CLI), and the
hosted components built from plain values as another language sends them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from infra_harness import REPO, run_pulumi
from pulumi.provider.experimental.component import ComponentProvider
from pulumi.provider.server import ComponentInitError
from pydantic import BaseModel

from components import batch_qualifier, inventory_pipeline, sections, throttled_indexer
from components.component_package import hosted
from components.component_package.schema_types import NOT_OFFERED

CORE_ARGS = {
    "InventoryPipeline": inventory_pipeline.InventoryPipelineArgs,
    "BatchQualifier": batch_qualifier.BatchQualifierArgs,
    "ThrottledIndexer": throttled_indexer.ThrottledIndexerArgs,
}


@pytest.fixture(scope="module")
def provider() -> ComponentProvider:
    return ComponentProvider(hosted.HOSTED, hosted.PACKAGE_NAME, None, "0.0.0")


@pytest.fixture(scope="module")
def schema(provider: ComponentProvider) -> dict[str, Any]:
    return json.loads(provider.schema)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _typed(prop: dict[str, Any], where: str) -> None:
    assert prop.get("type") or prop.get("$ref"), f"{where}: no type"
    assert (prop.get("description") or "").strip(), f"{where}: no description"


def test_what_the_package_leaves_out_is_a_fixed_list() -> None:
    # Stack composition keys (__main__.py decides what exists) and this repo's own URN aliases; leaving out
    # anything more is a decision this test makes visible.
    assert set(NOT_OFFERED) == {
        "InventoryPipelineArgs.bucket_eventbridge_aliases",
        "InventoryPipelineSettings.enabled",
        "BatchQualifierSettings.enabled",
        "BatchQualifierSettings.function_arn",
        "ThrottledIndexerSettings.enabled",
        "ThrottledIndexerSettings.queue_arn",
        "ThrottledIndexerSettings.queue_url",
        "ThrottledIndexerSettings.history_table_arn",
        "ThrottledIndexerSettings.enable_bucket_eventbridge",
    }


def test_every_arg_of_every_component_is_in_the_schema_with_type_and_doc(schema: dict[str, Any]) -> None:
    for component, args_type in CORE_ARGS.items():
        resource = schema["resources"][f"bulkloader:index:{component}"]
        assert resource["isComponent"] and resource["description"]
        offered = [
            f for f in dataclasses.fields(args_type) if f"{args_type.__name__}.{f.name}" not in NOT_OFFERED
        ]
        assert set(resource["inputProperties"]) == {_camel(f.name) for f in offered}, component
        required = {
            _camel(f.name)
            for f in offered
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        assert set(resource.get("requiredInputs", [])) == required, component
        for name, prop in resource["inputProperties"].items():
            _typed(prop, f"{component}.{name}")


@pytest.mark.parametrize(
    "model",
    [
        sections.LambdaSettings,
        sections.ImageBucketSettings,
        sections.InventoryPipelineSettings,
        sections.BatchQualifierSettings,
        sections.ThrottledIndexerSettings,
        sections.SharedSettings,
    ],
)
def test_every_section_key_is_a_typed_documented_plain_property_spelt_as_in_the_stack_file(
    schema: dict[str, Any], model: type[BaseModel]
) -> None:
    props = schema["types"][f"bulkloader:index:{model.__name__}"]["properties"]
    keys = {
        info.alias or name
        for name, info in model.model_fields.items()
        if f"{model.__name__}.{name}" not in NOT_OFFERED
    }
    assert set(props) == keys  # the YAML / TypeScript key is the stack file's key
    for key, prop in props.items():
        _typed(prop, f"{model.__name__}.{key}")
        # Settings decide which resources exist: never an Output from another resource.
        assert prop.get("plain") is True, f"{model.__name__}.{key}"
        assert prop["description"].startswith(model.model_fields[_snake(model, key)].description.strip()[:40])


def _snake(model: type[BaseModel], alias: str) -> str:
    return next(name for name, info in model.model_fields.items() if (info.alias or name) == alias)


def test_types_bounds_and_choices_come_from_the_settings_models(schema: dict[str, Any]) -> None:
    indexer = schema["types"]["bulkloader:index:ThrottledIndexerSettings"]["properties"]
    assert indexer["maxConcurrency"]["type"] == "integer"
    assert "At least 2. At most 1000. Default: `5`." in indexer["maxConcurrency"]["description"]
    assert indexer["gateway"]["type"] == "string"
    assert "One of: `rekognition`, `http`." in indexer["gateway"]["description"]
    assert indexer["userMatchThreshold"]["type"] == "number"
    assert indexer["alarmActions"] == indexer["alarmActions"] | {"type": "array"}
    assert indexer["alarmActions"]["items"]["type"] == "string"
    # A number or an object per API: no schema type says both; its model validates it.
    assert indexer["gatewayRatePerSecond"]["$ref"] == "pulumi.json#/Any"
    qualifier = schema["types"]["bulkloader:index:BatchQualifierSettings"]["properties"]
    assert qualifier["providerConfig"]["type"] == "object"
    assert qualifier["extraPolicyStatements"]["items"]["type"] == "object"
    pipeline = schema["resources"]["bulkloader:index:InventoryPipeline"]["inputProperties"]
    assert pipeline["batchFunctionArn"] == {
        "type": "string",
        "description": pipeline["batchFunctionArn"]["description"],
    }  # a Pulumi input (not plain): another component's output can wire it
    assert pipeline["settings"]["$ref"] == "#/types/bulkloader:index:InventoryPipelineSettings"


# Outputs a component has only in some configurations (existing collection or alarm targets, tagEvents off).
OPTIONAL_OUTPUTS = {"collectionId", "createdAlarmTopicArn", "tagEventsQueueUrl", "tagEventsDlqUrl"}


def test_every_output_is_typed_documented_and_covers_the_stack_outputs(schema: dict[str, Any]) -> None:
    for component in CORE_ARGS:
        resource = schema["resources"][f"bulkloader:index:{component}"]
        for name, prop in resource["properties"].items():
            _typed(prop, f"{component} output {name}")
            assert prop["type"] == "string"
        assert set(resource["required"]) == set(resource["properties"]) - OPTIONAL_OUTPUTS


def _plain_inputs(bucket: str = "photos") -> dict[str, dict[str, Any]]:
    """Camel-case inputs as a TypeScript or YAML program sends them (what the engine hands `construct`)."""
    lam = {"architecture": "arm64", "logRetentionDays": 14}
    return {
        "ThrottledIndexer": {
            "imageBucketName": bucket,
            "imageBucketArn": f"arn:aws:s3:::{bucket}",
            "lambdaSettings": lam,
            "settings": {"maxConcurrency": 7, "alarmActions": ["arn:aws:sns:eu-west-1:123456789012:ops"]},
            "shared": {"imageSuffixes": [".jpg"]},
        },
        "BatchQualifier": {
            "imageBucketName": bucket,
            "imageBucketArn": f"arn:aws:s3:::{bucket}",
            "queueArn": "arn:aws:sqs:eu-west-1:123456789012:q",
            "queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q",
            "lambdaSettings": lam,
            "settings": {"reservedConcurrency": 3},
        },
        "InventoryPipeline": {
            "batchFunctionArn": "arn:aws:lambda:eu-west-1:123456789012:function:f",
            "lambdaSettings": lam,
            "imageBucket": {"name": bucket},
            "settings": {"schedule": "Weekly"},
        },
    }


def _resources(run: Any) -> list[tuple[str, str, str]]:
    def value(obj: Any) -> Any:  # an archive by its path (the same file when the code is the same)
        return getattr(obj, "path", None) or type(obj).__name__

    return sorted((r.typ, r.name, json.dumps(r.inputs, sort_keys=True, default=value)) for r in run.resources)


@pytest.mark.parametrize("component", list(CORE_ARGS))
def test_the_provider_builds_what_the_python_api_builds(provider: ComponentProvider, component: str) -> None:
    inputs = _plain_inputs()[component]
    states: dict[str, Any] = {}
    stack_outputs: dict[str, Any] = {}

    def through_the_provider() -> None:
        result = provider.construct("c", f"bulkloader:index:{component}", inputs, None)
        states.update(result.state)

    def through_python() -> None:
        core = getattr({"InventoryPipeline": inventory_pipeline, "BatchQualifier": batch_qualifier,
                        "ThrottledIndexer": throttled_indexer}[component], component)  # fmt: skip
        args_type = CORE_ARGS[component]
        hints = {f.name: f for f in dataclasses.fields(args_type)}
        values: dict[str, Any] = {}
        for key, value in inputs.items():
            name = next(n for n in hints if _camel(n) == key)
            model = _section_type(args_type, name)
            values[name] = model.model_validate(value) if model else value
        stack_outputs.update(core("c", args_type(**values)).stack_outputs)

    hosted_run, python_run = run_pulumi(through_the_provider), run_pulumi(through_python)
    assert _resources(hosted_run) == _resources(python_run)
    assert hosted_run.resources, "nothing was registered"
    declared = provider._component_defs[component].outputs  # the analyzer's outputs
    assert set(declared) - OPTIONAL_OUTPUTS <= set(states)
    assert all(states[name] is not None for name in declared if name in states)
    renamed = {"alarmTopicArn": "createdAlarmTopicArn"}
    assert {renamed.get(_camel(key), _camel(key)) for key in stack_outputs} <= set(declared)
    if component == "ThrottledIndexer":
        mapping = hosted_run.one("aws:lambda/eventSourceMapping:EventSourceMapping")
        assert mapping.inputs["scalingConfig"]["maximumConcurrency"] == 7
        assert "createdAlarmTopicArn" not in states  # alarmActions named an existing topic


def _section_type(args_type: type, name: str) -> type[BaseModel] | None:
    import inspect

    hint = inspect.get_annotations(args_type, eval_str=True)[name]
    return hint if isinstance(hint, type) and issubclass(hint, BaseModel) else None


def test_a_bad_setting_is_named_by_its_key(provider: ComponentProvider) -> None:
    inputs = _plain_inputs()["ThrottledIndexer"]
    inputs = {**inputs, "settings": {"maxConcurrency": 1}}
    with pytest.raises(
        ComponentInitError, match=r"ThrottledIndexer\.settings\.maxConcurrency: .*greater than"
    ):
        run_pulumi(lambda: provider.construct("c", "bulkloader:index:ThrottledIndexer", inputs, None))


def test_a_setting_from_another_resources_output_is_refused(provider: ComponentProvider) -> None:
    def program() -> None:
        inputs = _plain_inputs()["ThrottledIndexer"]
        inputs["settings"] = {"gateway": pulumi.Output.from_input("http")}
        provider.construct("c", "bulkloader:index:ThrottledIndexer", inputs, None)

    with pytest.raises(ComponentInitError, match=r"ThrottledIndexer\.settings\.gateway: settings are plain"):
        run_pulumi(program)


def test_the_plugin_manifest_runs_the_host() -> None:
    manifest = yaml.safe_load((REPO / "PulumiPlugin.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    entry = REPO / manifest["main"]
    assert entry.name == "__main__.py"  # the language host runs `python <its folder>`
    text = entry.read_text()
    assert "component_provider_host(HOSTED" in text
    # The plugin installs the program's own requirements (the virtualenv Pulumi.yaml uses too).
    program = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    assert manifest["runtime"]["options"] == program["runtime"]["options"]
    assert Path(REPO / "requirements.txt").exists()
