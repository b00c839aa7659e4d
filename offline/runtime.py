"""OfflineRuntime: the whole stack on this machine (ARCHITECTURE section 5).

    with OfflineRuntime() as runtime:          # moto on 127.0.0.1 + the front door
        deployment = runtime.deploy("dev")     # __main__.py under Pulumi mocks, resources created in moto
        runtime.enforce_iam()                  # from now on every call is authorized against its role
        ... put objects, deliver an inventory ...
        runtime.run_until_idle(120)
        print(runtime.stats())

Everything binds to 127.0.0.1, every loop has a timeout, `stop()` (or leaving the `with`) ends every thread
and worker process it started.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from moto.sqs.models import sqs_backends

from handlers.common.aws import strip_account_host_prefix
from offline.aws.events.routing import EventRouter
from offline.aws.events.sqs_poller import SqsPoller, start_pollers
from offline.aws.front_door import FrontDoor
from offline.aws.moto_server import ACCOUNT_ID, MotoServer
from offline.aws.requests import Caller, Identities, Request, Response, json_response
from offline.aws.s3_batch.api import S3BatchEmulator
from offline.deployment.deployed import Deployment
from offline.deployment.program import REPO_ROOT, deploy_program, read_stack_config
from offline.deployment.resources import CreateContext
from offline.lambda_runtime.service import LogShipper, destination_sender, invoke_route
from offline.lambda_runtime.workers import Workers, worker_environment

ADMIN_USER = "offline-admin"
Progress = Callable[[str, dict[str, Any]], None]
_ACTIVE_LOCK = threading.Lock()


class OfflineRuntime:
    _active: OfflineRuntime | None = None

    def __init__(
        self,
        program_dir: Path | str = REPO_ROOT,
        region: str = "us-east-1",
        workdir: Path | str | None = None,
        max_local_workers: int = 4,
        batch_parallelism: int = 4,
        batch_retry_delays_s: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0),
        async_retry_delays_s: tuple[float, ...] = (1.0, 2.0),
        failed_visibility_timeout_s: int | None = None,
        worker_env: dict[str, dict[str, str]] | None = None,
        progress: Progress | None = None,
    ) -> None:
        """
        max_local_workers: worker processes per function at most (the machine's limit; the deployed reserved
            concurrency still decides throttling).
        failed_visibility_timeout_s: None keeps AWS's behaviour (a failed SQS message reappears after the
            queue's visibility timeout); a number makes them reappear after that many seconds (demo speed).
        worker_env: extra environment per function name (or Pulumi resource name, e.g. "indexer-function"),
            on top of the deployed one (fault injection, short back-off).
        progress: called with (kind, data) on job/task changes and once a second in run_until_idle.
        """
        self.program_dir = Path(program_dir)
        self.region = region
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="bulk-loader-offline-"))
        self.max_local_workers = max_local_workers
        self.batch_parallelism = batch_parallelism
        self.batch_retry_delays_s = batch_retry_delays_s
        self.async_retry_delays_s = async_retry_delays_s
        self.failed_visibility_timeout_s = failed_visibility_timeout_s
        self.worker_env = worker_env or {}
        self.progress = progress
        self.account_id = ACCOUNT_ID
        self.moto = MotoServer()
        self.identities = Identities()
        self.front_door: FrontDoor | None = None
        self.events: EventRouter | None = None
        self.batch: S3BatchEmulator | None = None
        self.workers: Workers | None = None
        self.pollers: list[SqsPoller] = []
        self.deployment: Deployment | None = None
        self._admin: dict[str, str] = {}
        self._role_credentials: dict[str, dict[str, str]] = {}
        self._rekognition: Any = None
        self._ship_logs = LogShipper()
        self._started = False

    # -- lifecycle --------------------------------------------------------------------------------------
    def __enter__(self) -> OfflineRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        if self.front_door is None:
            raise RuntimeError("the offline runtime is not started")
        return self.front_door.endpoint

    def start(self) -> None:
        if self._started:
            return
        # moto's backends and the event router's hooks are process-wide: one runtime per process at a time.
        with _ACTIVE_LOCK:
            if OfflineRuntime._active is not None:
                raise RuntimeError("another OfflineRuntime is running in this process; stop it first")
            OfflineRuntime._active = self
        moto_endpoint = self.moto.start()
        self._started = True
        # The runtime's own identity: a real IAM user, so it keeps working once IAM is enforced.
        iam = self._direct_client("iam", {"AccessKeyId": "offline", "SecretAccessKey": "offline"})
        iam.create_user(UserName=ADMIN_USER)
        iam.put_user_policy(
            UserName=ADMIN_USER,
            PolicyName="administrator",
            # The emulator's operator, not a workload: everything is allowed on purpose.
            PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            ),
        )
        key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
        self._admin = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
        self.identities.add(
            Caller(
                access_key=key["AccessKeyId"],
                kind="admin",
                arn=f"arn:aws:iam::{self.account_id}:user/{ADMIN_USER}",
            )
        )
        self.front_door = FrontDoor(moto_endpoint, self.account_id, self.identities)
        self.front_door.start()
        self.workers = Workers(self.workdir / "logs", self.max_local_workers, self.async_retry_delays_s)
        self.batch = S3BatchEmulator(
            self.account_id,
            self.region,
            endpoint=lambda: self.endpoint,
            role_credentials=self.role_credentials,
            authorize=self.front_door.authorize,
            parallelism=self.batch_parallelism,
            retry_delays_s=self.batch_retry_delays_s,
            progress=self._emit,
        )
        self.front_door.routes["s3control"] = self.batch.handle
        self.front_door.routes["lambda"] = invoke_route(self.workers, self.front_door.authorize)
        self.events = EventRouter(self.account_id, self.region, self._invoke_async)
        self.events.install()

    def stop(self) -> None:
        if not self._started:
            return
        for poller in self.pollers:
            poller.stop()
        if self.batch is not None:
            self.batch.stop()
        if self.workers is not None:
            self.workers.close()
        if self.events is not None:
            self.events.uninstall()
        if self.front_door is not None:
            self.front_door.stop()
        self.moto.stop()
        self._started = False
        with _ACTIVE_LOCK:
            OfflineRuntime._active = None
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- clients ----------------------------------------------------------------------------------------
    def client(self, service: str, max_attempts: int = 3) -> Any:
        """A boto3 client on the front door with the runtime's admin credentials (max_attempts: in total)."""
        return self._client(service, self._admin, self.endpoint, max_attempts)

    def role_client(self, service: str, role_arn: str, max_attempts: int = 3) -> Any:
        """A boto3 client with a deployed role's credentials (what that role's function would get)."""
        return self._client(service, self.role_credentials(role_arn), self.endpoint, max_attempts)

    def _direct_client(self, service: str, credentials: dict[str, str]) -> Any:
        """Straight to moto: the runtime's own bookkeeping, not counted at the front door."""
        assert self.moto.endpoint is not None
        return self._client(service, credentials, self.moto.endpoint)

    def _client(self, service: str, credentials: dict[str, str], endpoint: str, max_attempts: int = 3) -> Any:
        made = boto3.client(
            service,
            region_name=self.region,
            endpoint_url=endpoint,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials.get("SessionToken"),
            # s3control would prefix the host with the account id: unresolvable behind a local endpoint.
            config=Config(
                inject_host_prefix=False,
                retries={"mode": "standard", "total_max_attempts": max_attempts},
                read_timeout=120,
            ),
        )
        if service == "s3control":
            made.meta.events.register("before-sign.s3-control", strip_account_host_prefix)
        return made

    @property
    def admin_credentials(self) -> dict[str, str]:
        """The runtime's own IAM user's keys (AccessKeyId, SecretAccessKey): for `--keep-running` hints."""
        return dict(self._admin)

    def authorize(
        self, caller: Caller, action: str, resource: str, context: dict[str, Any] | None = None
    ) -> None:
        """Raise requests.AccessDenied unless `caller` may do `action` on `resource` (once IAM is enforced).

        For emulators that act with the caller's permissions (Rekognition reading the image from S3).
        """
        assert self.front_door is not None
        self.front_door.authorize(caller, action, resource, context)

    def role_credentials(self, role_arn: str) -> dict[str, str]:
        try:
            return self._role_credentials[role_arn]
        except KeyError:
            raise KeyError(
                f"role {role_arn} is not part of the deployment (no credentials were issued for it)"
            ) from None

    def _assume(self, role_arn: str) -> None:
        sts = self._direct_client("sts", self._admin)
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="offline", DurationSeconds=43200)[
            "Credentials"
        ]
        self._role_credentials[role_arn] = {
            "AccessKeyId": credentials["AccessKeyId"],
            "SecretAccessKey": credentials["SecretAccessKey"],
            "SessionToken": credentials["SessionToken"],
        }
        self.identities.add(
            Caller(
                access_key=credentials["AccessKeyId"],
                kind="role",
                arn=role_arn,
                role_name=role_arn.rsplit("/", 1)[-1],
            )
        )

    # -- deployment -------------------------------------------------------------------------------------
    def deploy(
        self,
        stack: str = "dev",
        config_overrides: dict[str, Any] | None = None,
        prepare: Callable[[CreateContext], None] | None = None,
    ) -> Deployment:
        """Deploy `stack`. `prepare(ctx)` runs first with the deployment's context (admin clients in the
        stack's region): it creates what the stack expects to exist already
        (offline.deployment.stack_prereqs)."""
        if not self._started:
            self.start()
        if self.deployment is not None:
            raise RuntimeError(
                "this runtime already holds a deployment; start another runtime for another stack"
            )
        assert self.workers is not None and self.front_door is not None
        # The stack's region (aws:region) decides every ARN and client from here on.
        _, config = read_stack_config(self.program_dir, stack, config_overrides)
        self.region = config.get("aws:region", self.region)
        if self.batch is not None:
            self.batch.region = self.region
        if self.events is not None:
            self.events.region = self.region
        ctx = CreateContext(
            client=self.client,
            account_id=self.account_id,
            region=self.region,
            workdir=self.workdir,
            rekognition=self._rekognition_as_admin if self._rekognition is not None else None,
        )
        if prepare is not None:
            prepare(ctx)
        deployment = deploy_program(ctx, stack, self.program_dir, config_overrides)
        print(deployment.summary(), file=sys.stderr)
        # Every role gets its credentials now, before IAM is enforced (moto's trust-policy check cannot
        # evaluate service principals).
        for role in deployment.by_type("iam/role:Role"):
            self._assume(role.outputs["arn"])
        for spec in deployment.functions.values():
            env = worker_environment(
                spec,
                self.endpoint,
                self.role_credentials(spec.role_arn),
                self.region,
                # By function name, or by its Pulumi resource name (stable: auto-names get a random suffix).
                self.worker_env.get(spec.name) or self.worker_env.get(spec.urn.rsplit("::", 1)[-1]),
            )
            send = destination_sender(
                functools.partial(self.role_client, role_arn=spec.role_arn),
                lambda name: f"{self.endpoint}/{self.account_id}/{name}",
                self._invoke_async,
            )
            self.workers.add(spec, env, send, self._ship_logs)
        self.pollers.extend(
            start_pollers(
                deployment,
                self.workers,
                lambda role_arn: self.role_client("sqs", role_arn),
                lambda name: f"{self.endpoint}/{self.account_id}/{name}",
                sqs_backends[self.account_id][self.region],
                self.region,
                self.failed_visibility_timeout_s,
            )
        )
        self.deployment = deployment
        return deployment

    def enforce_iam(self) -> None:
        """From now on moto and the emulated services authorize every call against the caller's policies."""
        assert self.front_door is not None
        self.moto.enable_iam()
        self.front_door.enforce_iam = True

    # -- emulated services ------------------------------------------------------------------------------
    def set_rekognition_handler(self, handler: Any) -> None:
        """`handler.handle(action, body: dict, caller) -> (status, body: dict)`; errors carry `__type`."""
        assert self.front_door is not None
        self._rekognition = handler
        self.front_door.routes["rekognition"] = self._rekognition_route

    @property
    def rekognition_handler(self) -> Any:
        return self._rekognition

    def _rekognition_as_admin(self, action: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        caller = Caller(access_key=self._admin["AccessKeyId"], kind="admin")
        return self._rekognition.handle(action, body, caller)

    def _rekognition_route(self, request: Request) -> Response:
        assert self.front_door is not None
        target = request.headers.get("X-Amz-Target") or request.headers.get("x-amz-target") or ""
        action = target.split(".")[-1]
        body = json.loads(request.body or b"{}")
        collection = body.get("CollectionId")
        resource = (
            f"arn:aws:rekognition:{self.region}:{self.account_id}:collection/{collection}"
            if collection
            else "*"
        )
        self.front_door.authorize(request.caller, f"rekognition:{action}", resource, None)
        status, answer = self._rekognition.handle(action, body, request.caller)
        return json_response(status, answer, answer.get("__type") if status >= 300 else None)

    def _invoke_async(self, function: str, payload: bytes, source: str) -> str:
        assert self.workers is not None
        return self.workers.pool(function).invoke_async(payload, source)

    def on_api_call(self, listener: Callable[[Request, int], None]) -> None:
        """Call `listener(request, status)` after the front door has answered each request.

        It runs on the request's thread once the response is sent: e.g. kill the calling function's workers
        right after a gateway call succeeded (`self.workers.pool(name).kill_busy_workers()`).
        """
        assert self.front_door is not None
        self.front_door.listeners.append(listener)

    # -- observing --------------------------------------------------------------------------------------
    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress(kind, data)

    def queue_depths(self) -> dict[str, dict[str, int]]:
        depths: dict[str, dict[str, int]] = {}
        if self.deployment is None:
            return depths
        backend = sqs_backends[self.account_id][self.region]
        for resource in self.deployment.by_type("sqs/queue:Queue"):
            queue = backend.get_queue(resource.outputs["name"])
            depths[resource.outputs["name"]] = {
                "visible": queue.approximate_number_of_messages,
                "in_flight": queue.approximate_number_of_messages_not_visible,
                "delayed": queue.approximate_number_of_messages_delayed,
            }
        return depths

    def _busy(self) -> list[str]:
        """What is still going on (empty when idle)."""
        reasons = []
        if self.events is not None and self.events.busy:
            reasons.append("event deliveries pending")
        if self.workers is not None:
            reasons.extend(
                f"function {name} running" for name, pool in self.workers.pools.items() if pool.busy
            )
        if self.batch is not None and self.batch.busy:
            reasons.append("S3 Batch job running")
        reasons.extend(f"mapping {p.mapping.uuid} processing a batch" for p in self.pollers if p.busy)
        mapped = {p.mapping.queue_arn.split(":")[-1] for p in self.pollers}
        for name, depth in self.queue_depths().items():
            if name in mapped and any(depth.values()):
                reasons.append(f"queue {name} holds {depth}")
        return reasons

    def run_until_idle(self, timeout_s: float) -> None:
        """Wait until all mapped queues are drained, no job runs and no invocation is in flight."""
        deadline = time.monotonic() + timeout_s
        quiet_checks = 0
        last_tick = 0.0
        while True:
            busy = self._busy()
            quiet_checks = 0 if busy else quiet_checks + 1
            # Idle three times in a row: a delivery between two checks cannot slip through.
            if quiet_checks >= 3:
                return
            now = time.monotonic()
            if now - last_tick >= 1.0:
                last_tick = now
                self._emit("tick", self.stats())
            if now > deadline:
                raise TimeoutError(f"not idle after {timeout_s:.0f}s: {'; '.join(busy)}")
            time.sleep(0.2)

    def stats(self) -> dict[str, Any]:
        assert self.front_door is not None and self.workers is not None and self.batch is not None
        door = self.front_door.stats()
        events = self.events.stats if self.events is not None else None
        return {
            "invocations": self.workers.stats(),
            "queues": self.queue_depths(),
            "mappings": {
                p.mapping.uuid: {**vars(p.stats), "queue": p.mapping.queue_arn} for p in self.pollers
            },
            "jobs": self.batch.stats(),
            "api_calls": door["api_calls"],
            "api_calls_by_caller": door["api_calls_by_caller"],
            "access_denied": door["access_denied"] + (list(events.denied) if events else []),
            "access_denied_counts": door["access_denied_counts"],
            "deliveries": {
                "s3_events": events.s3_events if events else 0,
                "sns_to_lambda": events.sns_to_lambda if events else 0,
                "eventbridge_events": events.eventbridge_events if events else 0,
                "eventbridge_deliveries": events.eventbridge_deliveries if events else 0,
                "errors": list(events.errors) if events else [],
            },
            "logs": str(self.workdir / "logs"),
        }


__all__ = ["OfflineRuntime"]
