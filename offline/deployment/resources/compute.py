"""IAM roles and policies, Lambda functions (code archives included), log groups and alarms."""

from __future__ import annotations

import io
import json
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from moto.iam.models import iam_backends
from moto.sqs.models import sqs_backends

from offline.deployment.resources import (
    CreateContext,
    CreatorError,
    autoname,
    creates,
    first,
    json_text,
    to_int,
)
from offline.deployment.resources.archives import materialize, zip_dir


# ---------------------------------------------------------------------------------------------- IAM
@creates("aws:iam/role:Role")
def role(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    role_name = inputs.get("name") or autoname(inputs.get("namePrefix") or name, 64)
    iam = ctx.client("iam")
    kwargs: dict[str, Any] = {
        "RoleName": role_name,
        "AssumeRolePolicyDocument": json_text(inputs["assumeRolePolicy"]),
        "Path": inputs.get("path", "/"),
    }
    if inputs.get("description"):
        kwargs["Description"] = inputs["description"]
    if inputs.get("maxSessionDuration"):
        kwargs["MaxSessionDuration"] = to_int(inputs["maxSessionDuration"])
    if inputs.get("permissionsBoundary"):
        kwargs["PermissionsBoundary"] = inputs["permissionsBoundary"]
    created = iam.create_role(**kwargs)["Role"]
    for inline in inputs.get("inlinePolicies") or []:
        if inline.get("name") and inline.get("policy"):
            iam.put_role_policy(
                RoleName=role_name, PolicyName=inline["name"], PolicyDocument=json_text(inline["policy"])
            )
    for policy_arn in inputs.get("managedPolicyArns") or []:
        _attach(ctx, role_name, policy_arn)
    return role_name, {**inputs, "name": role_name, "arn": created["Arn"], "uniqueId": created["RoleId"]}


def _attach(ctx: CreateContext, role_name: str, policy_arn: str) -> None:
    iam = ctx.client("iam")
    try:
        iam.attach_role_policy(RoleName=role_name, PolicyArn=policy_arn)
    except iam.exceptions.NoSuchEntityException as exc:
        raise CreatorError(
            f"role {role_name}: managed policy {policy_arn} does not exist in the emulator "
            "(AWS managed policies are not loaded offline; use an inline policy)"
        ) from exc


# moto's policy validator rejects a region in S3 ARNs, but S3 Batch job ARNs carry one
# (arn:aws:s3:<region>:<account>:job/<id>), and IAM accepts them.
_MOTO_S3_REGION_FALSE_POSITIVE = re.compile(
    r"Resource arn:aws:s3:[a-z0-9-]+:\d{12}:job/\S* can not contain region"
)


@creates("aws:iam/rolePolicy:RolePolicy")
def role_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    policy_name = inputs.get("name") or autoname(inputs.get("namePrefix") or name, 128)
    document = json_text(inputs["policy"])
    iam = ctx.client("iam")
    try:
        iam.put_role_policy(RoleName=inputs["role"], PolicyName=policy_name, PolicyDocument=document)
    except iam.exceptions.MalformedPolicyDocumentException as exc:
        if not _MOTO_S3_REGION_FALSE_POSITIVE.search(str(exc)):
            raise
        # Store it the way IAM would have (moto's backend runs in this process).
        iam_backends[ctx.account_id]["aws"].get_role(inputs["role"]).put_policy(policy_name, document)
    return f"{inputs['role']}:{policy_name}", {**inputs, "name": policy_name}


@creates("aws:iam/policy:Policy")
def managed_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    policy_name = inputs.get("name") or autoname(inputs.get("namePrefix") or name, 128)
    created = ctx.client("iam").create_policy(
        PolicyName=policy_name, PolicyDocument=json_text(inputs["policy"]), Path=inputs.get("path", "/")
    )["Policy"]
    return created["Arn"], {
        **inputs,
        "name": policy_name,
        "arn": created["Arn"],
        "policyId": created["PolicyId"],
    }


@creates("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
def role_policy_attachment(
    ctx: CreateContext, name: str, inputs: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    _attach(ctx, inputs["role"], inputs["policyArn"])
    return f"{inputs['role']}-{autoname('', 20)}", dict(inputs)


# ---------------------------------------------------------------------------------------------- Lambda
def _function_code(ctx: CreateContext, function_name: str, inputs: dict[str, Any]) -> tuple[Path, list[str]]:
    code_dir = ctx.workdir / "functions" / function_name / "code"
    if code_dir.exists():
        shutil.rmtree(code_dir)
    code_dir.mkdir(parents=True)
    skipped: set[str] = set()
    if inputs.get("code") is not None:
        materialize(inputs["code"], code_dir, skipped, ctx.program_dir)
    elif inputs.get("s3Bucket") and inputs.get("s3Key"):
        uploaded = ctx.find("BucketObjectv2", bucket=inputs["s3Bucket"], key=inputs["s3Key"]) or ctx.find(
            "BucketObject", bucket=inputs["s3Bucket"], key=inputs["s3Key"]
        )
        if uploaded is None or uploaded.inputs.get("source") is None:
            raise CreatorError(
                f"function {function_name}: code in s3://{inputs['s3Bucket']}/{inputs['s3Key']} was not "
                "uploaded by this program; the emulator cannot find its source"
            )
        materialize(uploaded.inputs["source"], code_dir, skipped, ctx.program_dir)
    else:
        raise CreatorError(
            f"function {function_name}: only zip packages (code or s3Bucket/s3Key) run offline"
        )
    return code_dir, sorted(skipped)


@creates("aws:lambda/function:Function")
def function(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    function_name = inputs.get("name") or autoname(name, 64)
    if inputs.get("packageType", "Zip") != "Zip":
        raise CreatorError(f"function {function_name}: container images do not run offline")
    code_dir, from_venv = _function_code(ctx, function_name, inputs)
    (code_dir.parent / "deps_from_venv.json").write_text(json.dumps(from_venv))
    environment = dict((first(inputs.get("environment")) or {}).get("variables") or {})
    tracing = first(inputs.get("tracingConfig")) or {}
    kwargs: dict[str, Any] = {
        "FunctionName": function_name,
        "Runtime": inputs.get("runtime", "python3.12"),
        "Role": inputs["role"],
        "Handler": inputs["handler"],
        "Code": {"ZipFile": zip_dir(code_dir)},
        "Timeout": to_int(inputs.get("timeout")) or 3,
        "MemorySize": to_int(inputs.get("memorySize")) or 128,
        "Environment": {"Variables": environment},
        "Architectures": list(inputs.get("architectures") or ["x86_64"]),
        "Publish": bool(inputs.get("publish", False)),
    }
    if tracing.get("mode"):
        kwargs["TracingConfig"] = {"Mode": tracing["mode"]}
    if inputs.get("layers"):
        kwargs["Layers"] = list(inputs["layers"])
    dead_letter = first(inputs.get("deadLetterConfig"))
    if dead_letter and dead_letter.get("targetArn"):
        kwargs["DeadLetterConfig"] = {"TargetArn": dead_letter["targetArn"]}
    logging_config = first(inputs.get("loggingConfig"))
    if logging_config:
        kwargs["LoggingConfig"] = {
            k: v
            for k, v in {
                "LogFormat": logging_config.get("logFormat"),
                "LogGroup": logging_config.get("logGroup"),
                "ApplicationLogLevel": logging_config.get("applicationLogLevel"),
                "SystemLogLevel": logging_config.get("systemLogLevel"),
            }.items()
            if v
        }
    lam = ctx.client("lambda")
    created = lam.create_function(**kwargs)
    reserved = inputs.get("reservedConcurrentExecutions")
    if reserved is not None and to_int(reserved) >= 0:
        lam.put_function_concurrency(
            FunctionName=function_name, ReservedConcurrentExecutions=to_int(reserved)
        )
    arn = created["FunctionArn"]
    outputs = {
        **inputs,
        "name": function_name,
        "arn": arn,
        "invokeArn": f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations",
        "qualifiedArn": f"{arn}:{created.get('Version', '$LATEST')}",
        "qualifiedInvokeArn": (
            f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}:"
            f"{created.get('Version', '$LATEST')}/invocations"
        ),
        "version": created.get("Version", "$LATEST"),
        "lastModified": created.get("LastModified", ""),
        "sourceCodeHash": created.get("CodeSha256", ""),
        "sourceCodeSize": created.get("CodeSize", 0),
    }
    return function_name, outputs


@creates("aws:lambda/permission:Permission")
def permission(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    statement_id = inputs.get("statementId") or autoname(inputs.get("statementIdPrefix") or name, 100)
    kwargs: dict[str, Any] = {
        "FunctionName": inputs["function"],
        "StatementId": statement_id,
        "Action": inputs["action"],
        "Principal": inputs["principal"],
    }
    for key, aws_key in (
        ("sourceArn", "SourceArn"),
        ("sourceAccount", "SourceAccount"),
        ("qualifier", "Qualifier"),
        ("eventSourceToken", "EventSourceToken"),
        ("principalOrgId", "PrincipalOrgID"),
        ("functionUrlAuthType", "FunctionUrlAuthType"),
    ):
        if inputs.get(key):
            kwargs[aws_key] = inputs[key]
    ctx.client("lambda").add_permission(**kwargs)
    return statement_id, {**inputs, "statementId": statement_id}


@creates("aws:lambda/eventSourceMapping:EventSourceMapping")
def event_source_mapping(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "EventSourceArn": inputs["eventSourceArn"],
        "FunctionName": inputs["functionName"],
        "Enabled": bool(inputs.get("enabled", True)),
    }
    if inputs.get("batchSize") is not None:
        kwargs["BatchSize"] = to_int(inputs["batchSize"])
    if inputs.get("maximumBatchingWindowInSeconds") is not None:
        kwargs["MaximumBatchingWindowInSeconds"] = to_int(inputs["maximumBatchingWindowInSeconds"])
    if inputs.get("functionResponseTypes"):
        kwargs["FunctionResponseTypes"] = list(inputs["functionResponseTypes"])
    scaling = first(inputs.get("scalingConfig"))
    if scaling and scaling.get("maximumConcurrency") is not None:
        kwargs["ScalingConfig"] = {"MaximumConcurrency": to_int(scaling["maximumConcurrency"])}
    created = ctx.client("lambda").create_event_source_mapping(**kwargs)
    uuid = created["UUID"]
    if ":sqs:" in inputs["eventSourceArn"]:
        # moto would consume the queue itself on every SendMessage (and fail to run the function without
        # Docker); the offline runtime's poller (offline/aws/events/sqs_poller.py) is the mapping's only
        # consumer.
        _, _, _, region, account, queue_name = inputs["eventSourceArn"].split(":")
        sqs_backends[account][region].get_queue(queue_name).lambda_event_source_mappings.clear()
    return uuid, {
        **inputs,
        "uuid": uuid,
        "functionArn": created.get("FunctionArn", ""),
        "state": created.get("State", "Enabled"),
        "arn": ctx.arn("lambda", f"event-source-mapping:{uuid}"),
    }


@creates("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
def event_invoke_config(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    kwargs: dict[str, Any] = {"FunctionName": inputs["functionName"]}
    if inputs.get("qualifier"):
        kwargs["Qualifier"] = inputs["qualifier"]
    if inputs.get("maximumRetryAttempts") is not None:
        kwargs["MaximumRetryAttempts"] = to_int(inputs["maximumRetryAttempts"])
    if inputs.get("maximumEventAgeInSeconds") is not None:
        kwargs["MaximumEventAgeInSeconds"] = to_int(inputs["maximumEventAgeInSeconds"])
    destination = first(inputs.get("destinationConfig")) or {}
    config: dict[str, Any] = {}
    for key, aws_key in (("onFailure", "OnFailure"), ("onSuccess", "OnSuccess")):
        target = first(destination.get(key))
        if target and target.get("destination"):
            config[aws_key] = {"Destination": target["destination"]}
    if config:
        kwargs["DestinationConfig"] = config
    ctx.client("lambda").put_function_event_invoke_config(**kwargs)
    return inputs["functionName"], dict(inputs)


@creates("aws:lambda/layerVersion:LayerVersion")
def layer_version(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    layer_name = inputs["layerName"]
    # The layer's content is a dependency bundle for the Lambda platform; workers use this interpreter's
    # site-packages instead, so the emulator stores only a placeholder (and keeps the bundle's path).
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "python/OFFLINE_PLACEHOLDER", "dependencies come from the offline runtime's interpreter\n"
        )
    kwargs: dict[str, Any] = {"LayerName": layer_name, "Content": {"ZipFile": buffer.getvalue()}}
    if inputs.get("compatibleRuntimes"):
        kwargs["CompatibleRuntimes"] = list(inputs["compatibleRuntimes"])
    if inputs.get("compatibleArchitectures"):
        kwargs["CompatibleArchitectures"] = list(inputs["compatibleArchitectures"])
    if inputs.get("description"):
        kwargs["Description"] = inputs["description"]
    created = ctx.client("lambda").publish_layer_version(**kwargs)
    return created["LayerVersionArn"], {
        **inputs,
        "arn": created["LayerVersionArn"],
        "layerArn": created["LayerArn"],
        "version": str(created["Version"]),
        "createdDate": created.get("CreatedDate", ""),
    }


# ---------------------------------------------------------------------------------------------- CloudWatch
@creates("aws:cloudwatch/logGroup:LogGroup")
def log_group(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group_name = inputs.get("name") or autoname(inputs.get("namePrefix") or name, 512)
    logs = ctx.client("logs")
    kwargs: dict[str, Any] = {"logGroupName": group_name}
    if inputs.get("kmsKeyId"):
        kwargs["kmsKeyId"] = inputs["kmsKeyId"]
    logs.create_log_group(**kwargs)
    if inputs.get("retentionInDays"):
        logs.put_retention_policy(logGroupName=group_name, retentionInDays=to_int(inputs["retentionInDays"]))
    return group_name, {**inputs, "name": group_name, "arn": ctx.arn("logs", f"log-group:{group_name}")}


@creates("aws:cloudwatch/metricAlarm:MetricAlarm")
def metric_alarm(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    alarm_name = inputs.get("name") or autoname(name, 255)
    kwargs: dict[str, Any] = {
        "AlarmName": alarm_name,
        "ComparisonOperator": inputs["comparisonOperator"],
        "EvaluationPeriods": to_int(inputs["evaluationPeriods"]),
    }
    for key, aws_key in (
        ("metricName", "MetricName"),
        ("namespace", "Namespace"),
        ("statistic", "Statistic"),
        ("extendedStatistic", "ExtendedStatistic"),
        ("alarmDescription", "AlarmDescription"),
        ("treatMissingData", "TreatMissingData"),
        ("unit", "Unit"),
    ):
        if inputs.get(key):
            kwargs[aws_key] = inputs[key]
    for key, aws_key in (("period", "Period"), ("datapointsToAlarm", "DatapointsToAlarm")):
        if inputs.get(key) is not None:
            kwargs[aws_key] = to_int(inputs[key])
    if inputs.get("threshold") is not None:
        kwargs["Threshold"] = float(inputs["threshold"])
    if inputs.get("dimensions"):
        kwargs["Dimensions"] = [{"Name": k, "Value": v} for k, v in inputs["dimensions"].items()]
    for key, aws_key in (
        ("alarmActions", "AlarmActions"),
        ("okActions", "OKActions"),
        ("insufficientDataActions", "InsufficientDataActions"),
    ):
        if inputs.get(key):
            kwargs[aws_key] = list(inputs[key])
    if inputs.get("metricQueries"):
        kwargs["Metrics"] = [_metric_query(q) for q in inputs["metricQueries"]]
    ctx.client("cloudwatch").put_metric_alarm(**kwargs)
    return alarm_name, {**inputs, "name": alarm_name, "arn": ctx.arn("cloudwatch", f"alarm:{alarm_name}")}


@creates("aws:cloudwatch/dashboard:Dashboard")
def dashboard(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """PutDashboard with the body the program built (CloudWatch checks it is a dashboard body)."""
    dashboard_name = inputs["dashboardName"]
    ctx.client("cloudwatch").put_dashboard(
        DashboardName=dashboard_name, DashboardBody=inputs["dashboardBody"]
    )
    arn = f"arn:aws:cloudwatch::{ctx.account_id}:dashboard/{dashboard_name}"  # dashboards are global
    return dashboard_name, {**inputs, "dashboardArn": arn}


def _metric_query(query: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"Id": query["id"], "ReturnData": bool(query.get("returnData", False))}
    if query.get("expression"):
        out["Expression"] = query["expression"]
    if query.get("label"):
        out["Label"] = query["label"]
    metric = first(query.get("metric"))
    if metric:
        out["MetricStat"] = {
            "Metric": {
                "Namespace": metric["namespace"],
                "MetricName": metric["metricName"],
                "Dimensions": [{"Name": k, "Value": v} for k, v in (metric.get("dimensions") or {}).items()],
            },
            "Period": to_int(metric["period"]),
            "Stat": metric["stat"],
        }
    return out
