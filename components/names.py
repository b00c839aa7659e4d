"""What resources are called: the stack's account context, ARNs built from parts, and physical names.

ARNs built from parts let a component name a resource (a function, a topic) before it exists, which breaks
dependency cycles; physical names are cut to AWS's limits without losing uniqueness.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class AwsContext:
    """Account, region and partition of the stack's provider, as Outputs (for ARNs and conditions)."""

    account_id: pulumi.Output[str]
    region: pulumi.Output[str]
    partition: pulumi.Output[str]

    def arn(
        self, service: str, resource: str, *, region: bool = True, account: bool = True
    ) -> pulumi.Output[str]:
        """`arn:<partition>:<service>:<region>:<account>:<resource>`."""
        return pulumi.Output.concat(
            "arn:",
            self.partition,
            f":{service}:",
            self.region if region else "",
            ":",
            self.account_id if account else "",
            ":",
            resource,
        )


def aws_context(parent: pulumi.Resource | None = None) -> AwsContext:
    opts = pulumi.InvokeOutputOptions(parent=parent) if parent else None
    identity = aws.get_caller_identity_output(opts=opts)
    region = aws.get_region_output(opts=opts)
    partition = aws.get_partition_output(opts=opts)
    return AwsContext(account_id=identity.account_id, region=region.region, partition=partition.partition)


def lambda_function_arn(function_name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """The ARN a function with this physical name has (or will have) in the stack's account and region."""
    return aws_context(parent).arn("lambda", f"function:{function_name}")


def sns_topic_arn(topic_name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """The ARN a topic with this physical name has (or will have) in the stack's account and region."""
    return aws_context(parent).arn("sns", topic_name)


def s3_bucket_arn(bucket_name: str, parent: pulumi.Resource | None = None) -> pulumi.Output[str]:
    """The ARN of a bucket given by name, in the stack's partition."""
    opts = pulumi.InvokeOutputOptions(parent=parent) if parent else None
    return pulumi.Output.concat("arn:", aws.get_partition_output(opts=opts).partition, ":s3:::", bucket_name)


_ASCII_ALPHANUMERIC = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def physical_name(raw: str, limit: int = 64, allowed: str = "-_") -> str:
    """`raw` as a name of ASCII letters, digits and `allowed` (anything else becomes '-'), at most `limit`
    characters (default: Lambda function names, [A-Za-z0-9-_]{1,64}). A longer name is cut and ends in a hash
    of the whole, so two names that differ only beyond the limit stay different."""
    cleaned = "".join(c if c in _ASCII_ALPHANUMERIC or c in allowed else "-" for c in raw)
    if len(cleaned) <= limit:
        return cleaned
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{cleaned[: limit - len(digest) - 1]}-{digest}"


def stack_scoped_name(name: str, limit: int = 64, allowed: str = "-_") -> str:
    """`<project>-<stack>-<name>` as a physical name: unique per stack for account-wide (or bucket-wide) names
    that Pulumi does not auto-name, so two stacks in one account never share or overwrite them."""
    return physical_name(f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}", limit, allowed)
