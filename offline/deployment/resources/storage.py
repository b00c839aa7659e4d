"""S3 buckets and their configurations, DynamoDB tables, Rekognition collections."""

from __future__ import annotations

import json
from typing import Any

from offline.deployment.resources import (
    CreateContext,
    CreatorError,
    autoname,
    creates,
    first,
    json_text,
    to_int,
)


def _bucket_name(ctx: CreateContext, inputs: dict[str, Any]) -> str:
    bucket = inputs.get("bucket")
    if not bucket:
        raise CreatorError(f"bucket configuration without a bucket: {inputs}")
    return bucket


@creates("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
def bucket(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = inputs.get("bucket") or (
        autoname(inputs["bucketPrefix"], 63, lower=True)
        if inputs.get("bucketPrefix")
        else autoname(name, 63, lower=True)
    )
    s3 = ctx.client("s3")
    kwargs: dict[str, Any] = {"Bucket": bucket_name}
    if ctx.region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
    if inputs.get("objectLockEnabled"):
        kwargs["ObjectLockEnabledForBucket"] = True
    s3.create_bucket(**kwargs)
    # Deprecated inline configuration blocks still exist on the v7 Bucket: honour the ones we know.
    versioning = first(inputs.get("versioning"))
    if versioning and versioning.get("enabled"):
        s3.put_bucket_versioning(Bucket=bucket_name, VersioningConfiguration={"Status": "Enabled"})
    if inputs.get("policy"):
        put_bucket_policy(ctx, bucket_name, inputs["policy"])
    if inputs.get("tags"):
        s3.put_bucket_tagging(
            Bucket=bucket_name,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in inputs["tags"].items()]},
        )
    return bucket_name, {
        **inputs,
        "bucket": bucket_name,
        "arn": f"arn:aws:s3:::{bucket_name}",
        "bucketDomainName": f"{bucket_name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{bucket_name}.s3.{ctx.region}.amazonaws.com",
        "region": ctx.region,
        "hostedZoneId": "Z3AQBSTGFYJSTF",
    }


@creates("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
def public_access_block(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    fields = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    ctx.client("s3").put_public_access_block(
        Bucket=bucket_name,
        PublicAccessBlockConfiguration={f[0].upper() + f[1:]: bool(inputs.get(f, False)) for f in fields},
    )
    return bucket_name, dict(inputs)


@creates(
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
def encryption(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    rules = []
    for rule in inputs.get("rules") or []:
        default = first(rule.get("applyServerSideEncryptionByDefault")) or {}
        by_default = {"SSEAlgorithm": default.get("sseAlgorithm", "AES256")}
        if default.get("kmsMasterKeyId"):
            by_default["KMSMasterKeyID"] = default["kmsMasterKeyId"]
        out: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": by_default}
        if rule.get("bucketKeyEnabled") is not None:
            out["BucketKeyEnabled"] = bool(rule["bucketKeyEnabled"])
        rules.append(out)
    ctx.client("s3").put_bucket_encryption(
        Bucket=bucket_name, ServerSideEncryptionConfiguration={"Rules": rules}
    )
    return bucket_name, dict(inputs)


@creates("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
def versioning(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    config = first(inputs.get("versioningConfiguration")) or {}
    ctx.client("s3").put_bucket_versioning(
        Bucket=bucket_name, VersioningConfiguration={"Status": config.get("status", "Enabled")}
    )
    return bucket_name, dict(inputs)


@creates("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
def ownership(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    rule = first(inputs.get("rule")) or {}
    ctx.client("s3").put_bucket_ownership_controls(
        Bucket=bucket_name,
        OwnershipControls={
            "Rules": [{"ObjectOwnership": rule.get("objectOwnership", "BucketOwnerEnforced")}]
        },
    )
    return bucket_name, dict(inputs)


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ID": rule.get("id", "rule"), "Status": rule.get("status", "Enabled")}
    rule_filter = first(rule.get("filter"))
    if rule_filter:
        if rule_filter.get("prefix") is not None:
            out["Filter"] = {"Prefix": rule_filter["prefix"]}
        elif first(rule_filter.get("tag")):
            tag = first(rule_filter["tag"])
            out["Filter"] = {"Tag": {"Key": tag["key"], "Value": tag["value"]}}
        else:
            out["Filter"] = {"Prefix": ""}
    else:
        out["Filter"] = {"Prefix": rule.get("prefix", "")}
    expiration = first(rule.get("expiration"))
    if expiration:
        out["Expiration"] = {
            k: v
            for k, v in {
                "Days": to_int(expiration.get("days")),
                "ExpiredObjectDeleteMarker": expiration.get("expiredObjectDeleteMarker"),
            }.items()
            if v is not None
        }
    noncurrent = first(rule.get("noncurrentVersionExpiration"))
    if noncurrent and noncurrent.get("noncurrentDays") is not None:
        out["NoncurrentVersionExpiration"] = {"NoncurrentDays": to_int(noncurrent["noncurrentDays"])}
    abort = first(rule.get("abortIncompleteMultipartUpload"))
    if abort and abort.get("daysAfterInitiation") is not None:
        out["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": to_int(abort["daysAfterInitiation"])}
    return out


@creates(
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
def lifecycle(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    ctx.client("s3").put_bucket_lifecycle_configuration(
        Bucket=bucket_name,
        LifecycleConfiguration={"Rules": [_lifecycle_rule(rule) for rule in inputs.get("rules") or []]},
    )
    return bucket_name, dict(inputs)


def put_bucket_policy(ctx: CreateContext, bucket_name: str, policy: Any) -> None:
    """Give moto the bucket policy without its conditional Deny statements.

    moto evaluates a bucket policy's Deny statements for every object request but ignores their conditions
    (it has no request context such as aws:SecureTransport), so the TLS-only statement every secure bucket
    carries would deny every request. The full policy stays in the deployment record; the dropped statements
    are listed in the deployment's warnings.
    """
    document = json.loads(json_text(policy))
    statements = document.get("Statement")
    statements = statements if isinstance(statements, list) else [statements]
    kept = [st for st in statements if not (st.get("Effect") == "Deny" and st.get("Condition"))]
    dropped = [st.get("Sid", "(no Sid)") for st in statements if st not in kept]
    if dropped:
        ctx.warnings.append(
            f"bucket {bucket_name}: conditional Deny statements {dropped} not given to moto (it ignores "
            "their conditions and would deny every request)"
        )
    if kept:
        ctx.client("s3").put_bucket_policy(
            Bucket=bucket_name, Policy=json.dumps({**document, "Statement": kept})
        )


@creates("aws:s3/bucketPolicy:BucketPolicy")
def bucket_policy(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    if ctx.find("s3/bucketPolicy:BucketPolicy", bucket=bucket_name):
        # AWS keeps one policy per bucket: a second BucketPolicy silently replaces the first.
        ctx.warnings.append(f"bucket {bucket_name}: a second BucketPolicy ({name}) replaces the first")
    put_bucket_policy(ctx, bucket_name, inputs["policy"])
    return bucket_name, dict(inputs)


def _filter_rules(item: dict[str, Any]) -> dict[str, Any]:
    rules = []
    if item.get("filterPrefix"):
        rules.append({"Name": "prefix", "Value": item["filterPrefix"]})
    if item.get("filterSuffix"):
        rules.append({"Name": "suffix", "Value": item["filterSuffix"]})
    return {"Filter": {"Key": {"FilterRules": rules}}} if rules else {}


@creates("aws:s3/bucketNotification:BucketNotification")
def notification(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    if ctx.find("s3/bucketNotification:BucketNotification", bucket=bucket_name):
        # The trap ARCHITECTURE section 3 names: one notification configuration per bucket.
        ctx.warnings.append(
            f"bucket {bucket_name}: a second BucketNotification ({name}) replaces the first one's"
        )
    config: dict[str, Any] = {}
    for key, arn_key, aws_key, aws_arn in (
        ("topics", "topicArn", "TopicConfigurations", "TopicArn"),
        ("queues", "queueArn", "QueueConfigurations", "QueueArn"),
        ("lambdaFunctions", "lambdaFunctionArn", "LambdaFunctionConfigurations", "LambdaFunctionArn"),
    ):
        items = inputs.get(key) or []
        if items:
            config[aws_key] = [
                {
                    **({"Id": item["id"]} if item.get("id") else {}),
                    aws_arn: item[arn_key],
                    "Events": list(item.get("events") or []),
                    **_filter_rules(item),
                }
                for item in items
            ]
    if inputs.get("eventbridge"):
        config["EventBridgeConfiguration"] = {}
    ctx.client("s3").put_bucket_notification_configuration(
        Bucket=bucket_name, NotificationConfiguration=config, SkipDestinationValidation=True
    )
    return bucket_name, dict(inputs)


@creates("aws:s3/inventory:Inventory")
def inventory(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    destination = first(first(inputs.get("destination") or {}).get("bucket")) or {}
    schedule = first(inputs.get("schedule")) or {}
    config: dict[str, Any] = {
        "Id": inputs["name"],
        "IsEnabled": bool(inputs.get("enabled", True)),
        "IncludedObjectVersions": inputs.get("includedObjectVersions", "Current"),
        "Schedule": {"Frequency": schedule.get("frequency", "Daily")},
        "Destination": {
            "S3BucketDestination": {
                "Bucket": destination.get("bucketArn"),
                "Format": destination.get("format", "CSV"),
                **({"Prefix": destination["prefix"]} if destination.get("prefix") else {}),
                **({"AccountId": destination["accountId"]} if destination.get("accountId") else {}),
            }
        },
    }
    if inputs.get("optionalFields"):
        config["OptionalFields"] = list(inputs["optionalFields"])
    inventory_filter = first(inputs.get("filter"))
    if inventory_filter and inventory_filter.get("prefix"):
        config["Filter"] = {"Prefix": inventory_filter["prefix"]}
    ctx.client("s3").put_bucket_inventory_configuration(
        Bucket=bucket_name, Id=inputs["name"], InventoryConfiguration=config
    )
    return f"{bucket_name}:{inputs['name']}", dict(inputs)


@creates("aws:s3/bucketObjectv2:BucketObjectv2", "aws:s3/bucketObject:BucketObject")
def bucket_object(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bucket_name = _bucket_name(ctx, inputs)
    key = inputs.get("key") or name
    body: bytes
    source = inputs.get("source")
    if inputs.get("content") is not None:
        body = str(inputs["content"]).encode()
    elif source is not None and getattr(source, "path", None):
        from offline.deployment.resources.archives import archive_bytes

        body = archive_bytes(source, ctx.program_dir)
    elif source is not None and getattr(source, "text", None) is not None:
        body = source.text.encode()
    else:
        raise CreatorError(f"BucketObject {name}: no content or source the emulator can read")
    result = ctx.client("s3").put_object(Bucket=bucket_name, Key=key, Body=body)
    return key, {
        **inputs,
        "key": key,
        "etag": result["ETag"].strip('"'),
        "versionId": result.get("VersionId") or "",
        "arn": f"arn:aws:s3:::{bucket_name}/{key}",
    }


@creates("aws:dynamodb/table:Table")
def table(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table_name = inputs.get("name") or autoname(name, 255)
    key_schema = [{"AttributeName": inputs["hashKey"], "KeyType": "HASH"}]
    if inputs.get("rangeKey"):
        key_schema.append({"AttributeName": inputs["rangeKey"], "KeyType": "RANGE"})
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "KeySchema": key_schema,
        "AttributeDefinitions": [
            {"AttributeName": a["name"], "AttributeType": a["type"]} for a in inputs.get("attributes") or []
        ],
        "BillingMode": inputs.get("billingMode", "PROVISIONED"),
    }
    if kwargs["BillingMode"] == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = {
            "ReadCapacityUnits": to_int(inputs.get("readCapacity")) or 1,
            "WriteCapacityUnits": to_int(inputs.get("writeCapacity")) or 1,
        }
    indexes = []
    for index in inputs.get("globalSecondaryIndexes") or []:
        if index.get("keySchemas"):  # pulumi-aws 7 form
            schema = [
                {"AttributeName": k["attributeName"], "KeyType": k["keyType"]} for k in index["keySchemas"]
            ]
        else:
            schema = [{"AttributeName": index["hashKey"], "KeyType": "HASH"}]
            if index.get("rangeKey"):
                schema.append({"AttributeName": index["rangeKey"], "KeyType": "RANGE"})
        projection: dict[str, Any] = {"ProjectionType": index.get("projectionType", "ALL")}
        if index.get("nonKeyAttributes"):
            projection["NonKeyAttributes"] = list(index["nonKeyAttributes"])
        spec: dict[str, Any] = {"IndexName": index["name"], "KeySchema": schema, "Projection": projection}
        if kwargs["BillingMode"] == "PROVISIONED":
            spec["ProvisionedThroughput"] = {
                "ReadCapacityUnits": to_int(index.get("readCapacity")) or 1,
                "WriteCapacityUnits": to_int(index.get("writeCapacity")) or 1,
            }
        indexes.append(spec)
    if indexes:
        kwargs["GlobalSecondaryIndexes"] = indexes
    sse = first(inputs.get("serverSideEncryption"))
    if sse and sse.get("enabled"):
        kwargs["SSESpecification"] = {"Enabled": True}
    if inputs.get("streamEnabled"):
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": inputs.get("streamViewType"),
        }
    dynamodb = ctx.client("dynamodb")
    description = dynamodb.create_table(**kwargs)["TableDescription"]
    ttl = first(inputs.get("ttl"))
    if ttl and ttl.get("enabled"):
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["attributeName"]},
        )
    pitr = first(inputs.get("pointInTimeRecovery"))
    if pitr and pitr.get("enabled"):
        dynamodb.update_continuous_backups(
            TableName=table_name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    return table_name, {
        **inputs,
        "name": table_name,
        "arn": description["TableArn"],
        "streamArn": description.get("LatestStreamArn", ""),
    }


@creates("aws:rekognition/collection:Collection")
def collection(ctx: CreateContext, name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    collection_id = inputs.get("collectionId") or autoname(name, 255)
    if ctx.rekognition is None:
        raise CreatorError(
            f"Rekognition collection {collection_id}: no Rekognition emulator is set "
            "(OfflineRuntime.set_rekognition_handler before deploy)"
        )
    status, body = ctx.rekognition("CreateCollection", {"CollectionId": collection_id})
    if status >= 300:
        raise CreatorError(f"Rekognition collection {collection_id}: CreateCollection -> {status} {body}")
    # Not the response's CollectionArn: Rekognition answers it without the "arn:" prefix; the provider's
    # `arn` output is the real ARN.
    arn = ctx.arn("rekognition", f"collection/{collection_id}")
    return collection_id, {
        **inputs,
        "collectionId": collection_id,
        "arn": arn,
        "faceModelVersion": body.get("FaceModelVersion", "7.0"),
    }
