"""AWS clients for the CLI: the ordinary credential chain, `--region`, `--endpoint-url` (offline runtime)."""

from __future__ import annotations

import argparse
import functools
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from .errors import UsageError
from .handler_code import strip_account_host_prefix

# Standard retries (throttling and 5xx are retried with back-off); an operator waits, so short timeouts.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "AWS", "the ordinary credential chain (environment, profile, SSO, role)"
    )
    group.add_argument("--region", help="AWS region (default: the profile's / AWS_REGION)")
    group.add_argument("--profile", help="named profile of the shared AWS config")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="one endpoint for every service (the offline runtime's moto server)",
    )


@dataclass
class Aws:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    clients: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Aws:
        return cls(region=args.region, profile=args.profile, endpoint_url=args.endpoint_url)

    @functools.cached_property
    def session(self) -> boto3.Session:
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
        except Exception as exc:  # botocore's ProfileNotFound and friends: all bad usage
            raise UsageError(f"cannot open AWS profile {self.profile!r}: {exc}") from None
        if session.get_credentials() is None:
            raise UsageError(
                "no AWS credentials found (environment variables, --profile / AWS_PROFILE, SSO, or an "
                "instance role); sign in first, e.g. `aws sso login` or export AWS_ACCESS_KEY_ID"
            )
        if not session.region_name:
            raise UsageError("no AWS region: give --region or set AWS_REGION (the stack's region)")
        return session

    def client(self, service: str) -> Any:
        """One client per service for the life of the command."""
        if service not in self.clients:
            made = self.session.client(service, endpoint_url=self.endpoint_url, config=CLIENT_CONFIG)
            if service == "s3control" and self.endpoint_url:
                made.meta.events.register("before-sign.s3-control", strip_account_host_prefix)
            self.clients[service] = made
        return self.clients[service]

    def table(self, name: str) -> Any:
        return self.session.resource("dynamodb", endpoint_url=self.endpoint_url, config=CLIENT_CONFIG).Table(
            name
        )
