"""What a stack file says already exists, created in the emulator before the stack deploys; what it leaves to
its owner, done afterwards as the owner would. So any `Pulumi.<stack>.yaml` runs offline.

A real account holds these before `pulumi up` (an image bucket by name, a Rekognition collection, alarm
topics, ...); the emulator starts empty, so deploying `prod` would otherwise fail with NoSuchBucket. Each step
returns one line saying what it did, for the demo to print. What cannot run offline raises StackNotRunnable
with the reason (the demo's exit status 2).

    prereqs = plan_stack(stack_settings(REPO_ROOT, "prod"))      # raises StackNotRunnable
    runtime.deploy("prod", prepare=lambda ctx: print(*prereqs.create(ctx), sep="\n"))
    print(*prereqs.owner_steps(runtime.client("s3"), outputs["image_bucket_name"]), sep="\n")
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moto.sns.models import sns_backends

from components.config import NAMESPACE, ConfigError, StackConfig, parse_config
from offline.deployment.program import read_stack_config
from offline.deployment.resources import CreateContext


class StackNotRunnable(RuntimeError):
    """The stack cannot run offline; the text is the one-line reason."""


def stack_settings(program_dir: Path, stack: str, overrides: dict[str, Any] | None = None) -> StackConfig:
    """The stack's `bulk-loader:*` settings, validated by the program's own config model."""
    _, config = read_stack_config(program_dir, stack, overrides)
    prefix = f"{NAMESPACE}:"
    raw = {
        key[len(prefix) :]: json.loads(value) if value[:1] in "{[" else value
        for key, value in config.items()
        if key.startswith(prefix)
    }
    try:
        return parse_config(raw)
    except ConfigError as exc:
        raise StackNotRunnable(f"stack {stack}: {' '.join(str(exc).split())}") from None


@dataclass
class StackPrerequisites:
    buckets: list[tuple[str, bool, str]] = field(default_factory=list)
    """(bucket name, versioned, the setting that names it)."""
    collection_id: str | None = None
    topics: list[str] = field(default_factory=list)
    """Alarm topic ARNs."""
    notes: list[str] = field(default_factory=list)
    """What is not created, and why the demo does not need it."""
    owner_enables_eventbridge: bool = False
    """The stack leaves EventBridge delivery on the image bucket to its owner (and wants delete events)."""

    def create(self, ctx: CreateContext) -> list[str]:
        """Create what the stack expects to exist (admin clients in the stack's region: the context the
        deployment gets); one line per resource."""
        lines = []
        s3 = ctx.client("s3")
        for name, versioned, setting in self.buckets:
            create: dict[str, Any] = {"Bucket": name}
            if ctx.region != "us-east-1":  # CreateBucket names any other region in the request
                create["CreateBucketConfiguration"] = {"LocationConstraint": ctx.region}
            s3.create_bucket(**create)
            if versioned:
                s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            lines.append(
                f"pre-created S3 bucket {name}{' (versioned)' if versioned else ''}: {setting} names an "
                "existing bucket"
            )
        if self.collection_id is not None:
            if ctx.rekognition is None:
                raise StackNotRunnable(
                    f"{NAMESPACE}:throttledIndexer.collectionId names an existing collection, and no "
                    "emulated Rekognition is running to hold it"
                )
            status, answer = ctx.rekognition("CreateCollection", {"CollectionId": self.collection_id})
            if status >= 300:
                raise StackNotRunnable(f"creating collection {self.collection_id} failed: {answer}")
            lines.append(
                f"pre-created Rekognition collection {self.collection_id}: throttledIndexer.collectionId "
                "names an existing collection"
            )
        for arn in self.topics:
            _, _, _, region, account, name = arn.split(":", 5)
            # In the ARN's own account and region (an ops account's topic stays there), straight in moto.
            sns_backends[account][region].create_topic(name)
            lines.append(f"pre-created SNS topic {arn}: throttledIndexer.alarmActions sends alarms there")
        lines.extend(self.notes)
        return lines

    def owner_steps(self, s3: Any, image_bucket: str) -> list[str]:
        """After the deployment: what the stack leaves to the image bucket's owner, done as they would."""
        if not self.owner_enables_eventbridge:
            return []
        current = s3.get_bucket_notification_configuration(Bucket=image_bucket)
        current.pop("ResponseMetadata", None)
        # The owner's one notification configuration keeps what it had and gains EventBridge delivery
        # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-event-notifications-eventbridge.html).
        current["EventBridgeConfiguration"] = {}
        s3.put_bucket_notification_configuration(Bucket=image_bucket, NotificationConfiguration=current)
        return [
            f"as the bucket owner: switched on EventBridge delivery on s3://{image_bucket} "
            "(the stack leaves it to the owner: enableBucketEventbridge is off), so deletions reach the "
            "indexer"
        ]


def plan_stack(settings: StackConfig) -> StackPrerequisites:
    """What `settings` expects to exist, or StackNotRunnable when the demo cannot run the stack."""
    ip, bq, ti = settings.inventory_pipeline, settings.batch_qualifier, settings.throttled_indexer
    # The demo delivers an inventory and follows it to the index: it needs every component deployed here.
    left_out = [
        f"{NAMESPACE}:{section}.enabled is false"
        for section, enabled in (
            ("inventoryPipeline", ip.enabled),
            ("batchQualifier", bq.enabled),
            ("throttledIndexer", ti.enabled),
        )
        if not enabled
    ]
    if left_out:
        raise StackNotRunnable(
            f"{'; '.join(left_out)}: the demo runs the whole pipeline, and a component this stack leaves out "
            "is an existing resource outside the project (its code is not here to run)"
        )
    if ti.gateway == "http" and ti.gateway_auth != "none":
        raise StackNotRunnable(
            f"{NAMESPACE}:throttledIndexer.gatewayAuth is {ti.gateway_auth!r}: the local registration API "
            "answers unauthenticated calls only"
        )
    prereqs = StackPrerequisites()
    image_bucket = settings.image_bucket.name
    if image_bucket:
        prereqs.buckets.append((image_bucket, settings.image_bucket.versioned, "imageBucket.name"))
    others = [(b, "batchQualifier.propertiesBuckets") for b in bq.properties_buckets]
    if ti.quarantine_bucket:
        others.append((ti.quarantine_bucket, "throttledIndexer.quarantineBucket"))
    for bucket, setting in others:
        if bucket != image_bucket and bucket not in {b for b, _, _ in prereqs.buckets}:
            prereqs.buckets.append((bucket, False, setting))
    if ti.gateway == "rekognition" and ti.collection_id:
        prereqs.collection_id = ti.collection_id
    for arn in ti.alarm_actions:
        if arn.split(":")[2] == "sns":
            prereqs.topics.append(arn)
        else:
            prereqs.notes.append(
                f"not created: alarm action {arn} (a Lambda function outside the stack; alarms do not fire "
                "in the demo)"
            )
    eventbridge = ti.enable_bucket_eventbridge
    if eventbridge is None:
        eventbridge = image_bucket is None  # the config model's default: on only for a created bucket
    prereqs.owner_enables_eventbridge = ti.delete_events and not eventbridge
    return prereqs
