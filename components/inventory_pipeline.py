"""InventoryPipeline: S3 Inventory of the image bucket -> SNS -> inventory_created -> S3 Batch jobs."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from handlers.inventory_created.settings import Settings as InventoryEnv

from . import defaults
from .alarms import function_errors_alarm, queue_not_empty_alarm
from .builders import ExpiryRule, SecureBucket, secure_bucket, secure_queue, secure_topic
from .defaults import Statement
from .existing import Handle, create_or_use
from .iam import allow, policy_document, service_grant
from .lambda_function import FunctionOptions, powertools_env, secure_function
from .names import aws_context, physical_name, stack_scoped_name
from .sections import ImageBucketSettings, InventoryPipelineSettings, LambdaSettings, SharedSettings

INVENTORY_PREFIX = "inventory"
# Where inventory_created writes (its settings' defaults, which the function's environment carries).
MANIFEST_PREFIX = InventoryEnv.model_fields["manifest_prefix"].default
REPORT_PREFIX = InventoryEnv.model_fields["report_prefix"].default
# S3 writes `manifest.checksum` last, once every data file and manifest.json of a delivery are in place.
MANIFEST_CHECKSUM_SUFFIX = "manifest.checksum"
# Replaced layer zips in the artifacts bucket: Lambda has copied them when it published the layer version.
ARTIFACT_NONCURRENT_EXPIRE_DAYS = 1


@dataclass
class InventoryPipelineArgs:
    """Inputs of an InventoryPipeline: what it is wired to, plus its stack sections."""

    batch_function_arn: pulumi.Input[str]
    """ARN of the function S3 Batch Operations invokes per object (BatchQualifier's, or an existing one)."""
    lambda_settings: LambdaSettings
    """Runtime, architecture, log retention/level shared by every function."""
    settings: InventoryPipelineSettings = field(default_factory=InventoryPipelineSettings)
    """The `bulk-loader:inventoryPipeline` section (inventory schedule and format, expiry, sizing)."""
    image_bucket: ImageBucketSettings = field(default_factory=ImageBucketSettings)
    """The `bulk-loader:imageBucket` section: an existing bucket by name, or one is created."""
    shared: SharedSettings = field(default_factory=SharedSettings)
    """Settings the functions share (image suffixes, maximum image size)."""
    alarm_actions: tuple[pulumi.Input[str], ...] = ()
    """Targets of the failure-queue and function-error alarms (empty: alarms without actions)."""
    bucket_eventbridge: bool = False
    """Own the image bucket's notification configuration to switch on EventBridge delivery (deletions, tag
    changes). A bucket has ONE notification configuration: turn this on only when nothing else (console,
    other stacks) configures notifications on that bucket, or it overwrites them."""
    bucket_eventbridge_aliases: tuple[pulumi.Alias, ...] = ()
    """Where that switch lived before (its earlier URNs), so moving it here does not replace it: replacing a
    BucketNotification deletes the bucket's notification configuration."""


class InventoryPipeline(pulumi.ComponentResource):
    """Daily S3 Inventory of the image bucket, turned into S3 Batch Operations jobs by `inventory_created`."""

    def __init__(
        self, name: str, args: InventoryPipelineArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bulkloader:index:InventoryPipeline", name, None, opts)
        section, bucket = args.settings, args.image_bucket
        ctx = aws_context(self)
        child = pulumi.ResourceOptions(parent=self)

        # ---- image bucket (created, or given by name)
        def create_images() -> Handle[SecureBucket]:
            images = secure_bucket(
                f"{name}-images", self, versioned=bucket.versioned, force_destroy=bucket.force_destroy
            )
            return Handle(images.bucket.bucket, images.bucket.arn, images)

        images = create_or_use(
            bucket.name,
            use=lambda given: Handle(
                pulumi.Output.from_input(given), pulumi.Output.concat("arn:", ctx.partition, ":s3:::", given)
            ),
            create=create_images,
        )
        self.image_bucket: SecureBucket | None = images.created
        self.image_bucket_name: pulumi.Output[str] = images.id
        self.image_bucket_arn: pulumi.Output[str] = images.arn

        # The image bucket's ONE notification configuration (see the args docstring).
        self.image_bucket_eventbridge: aws.s3.BucketNotification | None = None
        if args.bucket_eventbridge:
            self.image_bucket_eventbridge = aws.s3.BucketNotification(
                f"{name}-image-bucket-eventbridge",
                bucket=self.image_bucket_name,
                eventbridge=True,
                opts=pulumi.ResourceOptions(parent=self, aliases=list(args.bucket_eventbridge_aliases)),
            )

        # ---- inventory bucket: inventory deliveries, batch manifests, reports, run state
        image_bucket_arn = self.image_bucket_arn

        def inventory_delivery(bucket_arn: pulumi.Output[str]) -> list[Statement]:
            return [
                service_grant(
                    ctx,
                    sid="AllowS3InventoryDelivery",
                    service="s3.amazonaws.com",
                    actions=["s3:PutObject"],
                    resources=[pulumi.Output.concat(bucket_arn, f"/{INVENTORY_PREFIX}/*")],
                    source_arn=image_bucket_arn,
                    extra_conditions={"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
                )
            ]

        self.inventory_bucket = secure_bucket(
            f"{name}-inventory",
            self,
            force_destroy=section.force_destroy,
            expiry_rules=[
                ExpiryRule("expire-inventory", f"{INVENTORY_PREFIX}/", section.inventory_expire_days),
                ExpiryRule("expire-manifests", MANIFEST_PREFIX, section.manifest_expire_days),
                ExpiryRule("expire-reports", REPORT_PREFIX, section.report_expire_days),
                # The state prefix (batch/state/) never expires: it remembers the last successful run.
            ],
            extra_statements=inventory_delivery,
        )
        inventory_arn = self.inventory_bucket.bucket.arn

        # Created lazily: only when a dependency layer is too big for a direct upload (pyarrow).
        self.artifacts_bucket: SecureBucket | None = None

        def artifacts() -> aws.s3.Bucket:
            if self.artifacts_bucket is None:
                self.artifacts_bucket = secure_bucket(
                    f"{name}-artifacts",
                    self,
                    versioned=True,
                    # It holds only layer zips, rebuilt from the requirements by `make lambda-deps`, and
                    # Lambda copies a layer's content when it publishes it: nothing here is worth keeping, so
                    # `pulumi destroy` may delete the bucket with every object version it holds (which a
                    # versioned bucket always has left after the layer objects are deleted).
                    force_destroy=True,
                    # Each new layer zip leaves the previous one as a noncurrent version.
                    noncurrent_expire_days=ARTIFACT_NONCURRENT_EXPIRE_DAYS,
                )
            return self.artifacts_bucket.bucket

        # ---- S3 Inventory configuration on the image bucket
        # One image bucket can hold inventory configurations of several stacks: the id is scoped to the stack
        # (and component), or a second stack would overwrite the first one's configuration. The API reference
        # gives no limit for an inventory Id; the sibling configuration ids (metrics, analytics) allow 64
        # letters, digits, '.', '-', '_'. Within those it is valid under every reading; it is also the folder
        # of the deliveries (<prefix>/<source bucket>/<id>/...).
        self.inventory_configuration_id = stack_scoped_name(name, limit=64, allowed="-_.")
        self.inventory = aws.s3.Inventory(
            f"{name}-inventory-config",
            bucket=self.image_bucket_name,
            name=self.inventory_configuration_id,
            enabled=True,
            included_object_versions="All" if bucket.versioned else "Current",
            schedule={"frequency": section.schedule},
            optional_fields=list(section.optional_fields),
            filter={"prefix": section.inventory_prefix} if section.inventory_prefix else None,
            destination={
                "bucket": {
                    "bucket_arn": inventory_arn,
                    "format": section.format,
                    "prefix": INVENTORY_PREFIX,
                    "account_id": ctx.account_id,
                }
            },
            # S3 checks at configuration time that it may deliver to the destination.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.inventory_bucket.policy]),
        )

        # ---- SNS topic for "inventory delivered" and the bucket notification feeding it
        self.topic = secure_topic(
            f"{name}-inventory-topic",
            self,
            ctx,
            publisher_service="s3.amazonaws.com",
            publisher_source_arns=[inventory_arn],
            publisher_sid="AllowInventoryBucketNotifications",
        )
        # A bucket has ONE notification configuration: this resource owns the inventory bucket's.
        self.notification = aws.s3.BucketNotification(
            f"{name}-inventory-notification",
            bucket=self.inventory_bucket.bucket.id,
            topics=[
                {
                    "topic_arn": self.topic.topic.arn,
                    "events": ["s3:ObjectCreated:*"],
                    "filter_prefix": f"{INVENTORY_PREFIX}/",
                    "filter_suffix": MANIFEST_CHECKSUM_SUFFIX,
                }
            ],
            # S3 validates that it may publish when the notification is saved: the topic policy comes first.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.topic.policy] + ([self.topic.key] if self.topic.key else [])
            ),
        )

        # ---- where failed async invocations of inventory_created land
        self.failure_queue = secure_queue(
            f"{name}-failures",
            self,
            max_receive_count=None,
            retention_seconds=defaults.MAX_QUEUE_RETENTION_SECONDS,
        )

        # ---- the S3 Batch Operations role: read manifests, write reports, invoke only the batch function
        self.batch_role = aws.iam.Role(
            f"{name}-batch-role",
            assume_role_policy=policy_document(
                [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "batchoperations.s3.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                        # IfExists: AWS's documented trust policy for S3 Batch has no condition and it is
                        # not documented that S3 Batch sends aws:SourceAccount on AssumeRole; a plain
                        # StringEquals would make every job fail to assume the role if it does not. The real
                        # guard is iam:PassRole: only principals allowed to pass this role can start jobs.
                        "Condition": {"StringEqualsIfExists": {"aws:SourceAccount": ctx.account_id}},
                    }
                ]
            ),
            opts=child,
        )
        self.batch_role_policy = aws.iam.RolePolicy(
            f"{name}-batch-role-policy",
            role=self.batch_role.id,
            policy=policy_document(
                [
                    allow(
                        "ReadManifests",
                        ["s3:GetObject", "s3:GetObjectVersion"],
                        [pulumi.Output.concat(inventory_arn, f"/{MANIFEST_PREFIX}*")],
                    ),
                    allow(
                        "WriteReports",
                        ["s3:PutObject"],
                        [pulumi.Output.concat(inventory_arn, f"/{REPORT_PREFIX}*")],
                    ),
                    # S3 Batch looks up the manifest/report bucket's region before reading or writing.
                    allow("LocateBucket", ["s3:GetBucketLocation"], [inventory_arn]),
                    allow("InvokeBatchFunction", ["lambda:InvokeFunction"], [args.batch_function_arn]),
                    # `bulk-loader import-now` before the first inventory: S3 Batch's manifest generator lists
                    # the image bucket for the job (ListObjectsV2 needs s3:ListBucket, S3 API Reference).
                    allow("ListImagesForGeneratedManifests", ["s3:ListBucket"], [image_bucket_arn]),
                ]
            ),
            opts=child,
        )

        # ---- the inventory_created function
        function_name = physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}-created")
        own_arn = ctx.arn(
            "lambda", f"function:{function_name}"
        )  # built from parts: no cycle via the function
        self.function = secure_function(
            f"{name}-inventory-created",
            self,
            args.lambda_settings,
            FunctionOptions(
                "inventory_created",
                timeout_seconds=section.timeout_seconds,
                memory_mb=section.memory_mb,
                ephemeral_storage_mb=section.ephemeral_storage_mb,
                function_name=function_name,
            ),
            environment={
                **InventoryEnv.to_environment(
                    {
                        **section.values_for(InventoryEnv),
                        **args.shared.values_for(InventoryEnv),
                        "batch_function_arn": args.batch_function_arn,
                        "batch_role_arn": self.batch_role.arn,
                        "manifest_bucket": self.inventory_bucket.bucket.bucket,
                    }
                ),
                **powertools_env(args.lambda_settings, "inventory_created"),
            },
            statements=[
                allow(
                    "ReadInventory",
                    ["s3:GetObject"],
                    [pulumi.Output.concat(inventory_arn, f"/{INVENTORY_PREFIX}/*")],
                ),
                # Counting done-markers lists batch/state/; with ListBucket a missing state object also
                # answers 404 (first run) instead of 403.
                allow("ListInventoryBucket", ["s3:ListBucket"], [inventory_arn]),
                allow(
                    "ManifestsAndState",
                    ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                    [pulumi.Output.concat(inventory_arn, "/batch/*")],
                ),
                # s3:CreateJob has no resource-level permission (Service Authorization Reference): "*" is the
                # only valid resource; the condition narrows it to Lambda-invoke jobs.
                allow(
                    "CreateBatchJobs",
                    ["s3:CreateJob"],
                    ["*"],
                    {"StringEquals": {"s3:RequestJobOperation": "LambdaInvoke"}},
                ),
                allow("TagBatchJobs", ["s3:PutJobTagging"], [ctx.arn("s3", "job/*")]),
                allow(
                    "PassBatchRole",
                    ["iam:PassRole"],
                    [self.batch_role.arn],
                    {"StringEquals": {"iam:PassedToService": "batchoperations.s3.amazonaws.com"}},
                ),
                # It fans out one async invocation per inventory data file.
                allow("InvokeSelf", ["lambda:InvokeFunction"], [own_arn]),
                allow("SendFailures", ["sqs:SendMessage"], [self.failure_queue.queue.arn]),
            ],
            artifacts_bucket=artifacts,
        )
        fn = self.function.function

        self.invoke_config = aws.lambda_.FunctionEventInvokeConfig(
            f"{name}-inventory-created-async",
            function_name=fn.name,
            maximum_retry_attempts=2,
            maximum_event_age_in_seconds=6 * 3600,
            destination_config={"on_failure": {"destination": self.failure_queue.queue.arn}},
            # The role must be allowed to send to the destination before Lambda accepts it.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.function.role_policy]),
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-inventory-created-sns",
            action="lambda:InvokeFunction",
            function=fn.name,
            principal="sns.amazonaws.com",
            source_arn=self.topic.topic.arn,
            source_account=ctx.account_id,
            opts=child,
        )
        self.subscription = aws.sns.TopicSubscription(
            f"{name}-inventory-created-subscription",
            topic=self.topic.topic.arn,
            protocol="lambda",
            endpoint=fn.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.permission]),
        )

        # ---- alarms: failed async invocations, function errors
        actions = list(args.alarm_actions)
        self.alarms = {
            "failures-not-empty": queue_not_empty_alarm(
                f"{name}-failures-not-empty",
                self,
                self.failure_queue.queue,
                actions,
                "inventory_created invocations failed after Lambda's retries",
            ),
            "function-errors": function_errors_alarm(f"{name}-inventory-created-errors", self, fn, actions),
        }

        self.function_name = fn.name
        self.function_arn = fn.arn
        # The stack outputs this component contributes, by their stack output names (the operator CLI reads
        # them from `pulumi stack output --json`).
        self.stack_outputs: dict[str, pulumi.Input[str]] = {
            "inventory_bucket_name": self.inventory_bucket.bucket.bucket,
            "inventory_configuration_id": self.inventory_configuration_id,
            "inventory_topic_arn": self.topic.topic.arn,
            "inventory_function_name": fn.name,
            "inventory_function_arn": fn.arn,
            "inventory_function_role_arn": self.function.role.arn,
            "inventory_failure_queue_url": self.failure_queue.queue.url,
            "batch_role_arn": self.batch_role.arn,
        }
        self.register_outputs(self.stack_outputs)
