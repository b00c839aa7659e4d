"""Event delivery the way AWS does it, on top of moto (which stores the configurations but, without Docker,
delivers nothing to Lambda and builds thin events).

- S3 bucket notifications: moto's S3 backend runs in this process; its `send_event` hook is replaced so each
  new/removed object produces AWS's event (S3 event structure 2.1, keys URL-encoded with quote_plus,
  `versionId`, an increasing `sequencer` of 16 or 18 hex digits: sequencers.py) for the bucket's configured
  topics, queues and functions,
  checked against the destination's resource policy like AWS (topic policy, queue policy, Lambda permission).
  moto sends no event for a delete marker: that is added (ObjectRemoved:DeleteMarkerCreated).
- EventBridge: when the bucket has EventBridge notifications on, the event ("Object Created" / "Object
  Deleted", with `sequencer`, `version-id`, `deletion-type`; "Object Tags Added" / "Object Tags Deleted" for
  PutObjectTagging / DeleteObjectTagging only: tagging.py) goes to the default bus; each enabled rule whose
  pattern matches sends it to its targets (SQS, Lambda), checked against the target's resource policy with
  `aws:SourceArn` = the rule. AWS's pages do not say whether `detail.object.key` is URL-encoded: the key is
  sent as is by default, or quote_plus-encoded with `eventbridge_keys="quote_plus"`, so consumers can be
  tested under both readings.
- SNS -> Lambda: moto's lambda subscriptions are taken over: the function is invoked asynchronously with the
  SNS event (`Sns.Message` is the published text), if its permission allows sns.amazonaws.com from the topic.
Deliveries happen on one dispatcher thread, in order, off moto's request threads.
"""

from __future__ import annotations

import json
import queue
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote_plus

import moto.s3.notifications as s3_notifications
from moto.events.models import events_backends
from moto.s3.models import S3Backend
from moto.sns.models import Subscription, sns_backends
from moto.sqs.models import sqs_backends

from offline.aws.events import tagging
from offline.aws.events.delivery_policy import delivery_decision
from offline.aws.events.sequencers import S3Sequencers

Invoker = Callable[[str, bytes, str], Any]
"""(function name or ARN, payload, source) -> request id: an asynchronous invocation."""
# How `detail.object.key` is written into EventBridge events (see the module docstring).
EVENTBRIDGE_KEY_ENCODINGS = ("raw", "quote_plus")


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class DeliveryStats:
    s3_events: int = 0
    sns_to_lambda: int = 0
    eventbridge_events: int = 0
    eventbridge_deliveries: int = 0
    denied: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    eventbridge_recent: deque[dict[str, str]] = field(default_factory=lambda: deque(maxlen=1000))
    """The last EventBridge S3 events put on the bus: detail-type, bucket, key (as sent), sequencer."""


class EventRouter:
    """S3 notifications, EventBridge rules and SNS -> Lambda, wired into moto's in-process backends."""

    def __init__(
        self, account_id: str, region: str, invoke_async: Invoker, *, eventbridge_keys: str = "raw"
    ) -> None:
        """eventbridge_keys: "raw" (default) or "quote_plus", how EventBridge events carry object keys; may
        also be set on the attribute of the same name while the router runs."""
        self.account_id = account_id
        self.region = region
        self.invoke_async = invoke_async
        self.eventbridge_keys = eventbridge_keys
        self.stats = DeliveryStats()
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._sequencers = S3Sequencers()
        self._thread: threading.Thread | None = None
        self._originals: dict[str, Any] = {}

    @property
    def eventbridge_keys(self) -> str:
        return self._eventbridge_keys

    @eventbridge_keys.setter
    def eventbridge_keys(self, encoding: str) -> None:
        if encoding not in EVENTBRIDGE_KEY_ENCODINGS:
            raise ValueError(f"eventbridge_keys must be one of {EVENTBRIDGE_KEY_ENCODINGS}, got {encoding!r}")
        self._eventbridge_keys = encoding

    # -- lifecycle --------------------------------------------------------------------------------------
    def install(self) -> None:
        if self._originals:
            return
        router = self
        self._originals = {
            "send_event": s3_notifications.send_event,
            "delete_object": S3Backend.delete_object,
            "subscription_publish": Subscription.publish,
        }
        original_delete = S3Backend.delete_object
        original_publish = Subscription.publish

        def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
            name = str(getattr(event_name, "value", event_name))
            if tagging.is_tagging_event(name) and not tagging.from_tagging_api():
                return  # moto's PutObject / CopyObject store their tags this way; S3 sends no tag event
            router._enqueue(lambda: router._s3_event(name, bucket, key))

        def delete_object(
            backend: S3Backend,
            bucket_name: str,
            key_name: str,
            version_id: str | None = None,
            bypass: bool = False,
        ):
            result = original_delete(backend, bucket_name, key_name, version_id=version_id, bypass=bypass)
            success, meta = result
            if success and version_id is None and meta.get("delete-marker") == "true":
                bucket = backend.get_bucket(bucket_name)
                marker = SimpleNamespace(name=key_name, size=0, etag="", version_id=meta.get("version-id"))
                router._enqueue(
                    lambda: router._s3_event("s3:ObjectRemoved:DeleteMarkerCreated", bucket, marker)
                )
            elif success and version_id is not None:
                bucket = backend.get_bucket(bucket_name)
                if key_name in bucket.keys:
                    # moto notifies only when the key's last version goes; S3 sends s3:ObjectRemoved:Delete
                    # whenever "a versioned object is permanently deleted" (S3 User Guide, "Event
                    # notification types and destinations").
                    gone = SimpleNamespace(name=key_name, size=0, etag="", version_id=version_id)
                    router._enqueue(lambda: router._s3_event("s3:ObjectRemoved:Delete", bucket, gone))
            return result

        def publish(
            subscription: Subscription,
            message: str,
            message_id: str,
            subject: str | None = None,
            message_attributes: Any = None,
            *args: Any,
            **kwargs: Any,
        ) -> None:
            if subscription.protocol != "lambda":
                return original_publish(
                    subscription, message, message_id, subject, message_attributes, *args, **kwargs
                )
            if (
                subscription._filter_policy_matcher is not None
                and not subscription._filter_policy_matcher.matches(message_attributes, message)
            ):
                return None
            router._enqueue(
                lambda: router._sns_to_lambda(subscription, message, message_id, subject, message_attributes)
            )
            return None

        s3_notifications.send_event = send_event
        S3Backend.delete_object = delete_object
        Subscription.publish = publish
        tagging.install()
        self._thread = threading.Thread(target=self._dispatch, name="offline-events", daemon=True)
        self._thread.start()

    def uninstall(self) -> None:
        if not self._originals:
            return
        s3_notifications.send_event = self._originals["send_event"]
        S3Backend.delete_object = self._originals["delete_object"]
        Subscription.publish = self._originals["subscription_publish"]
        tagging.uninstall()
        self._originals = {}
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def _enqueue(self, delivery: Callable[[], None]) -> None:
        with self._lock:
            self._pending += 1
        self._queue.put(delivery)

    def _dispatch(self) -> None:
        while True:
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                delivery()
            except Exception as exc:  # a failed delivery is recorded, never silently dropped
                self.stats.errors.append(f"{type(exc).__name__}: {exc}")
                print(f"offline events: delivery failed: {exc}", file=sys.stderr)
            finally:
                with self._lock:
                    self._pending -= 1

    # -- S3 ---------------------------------------------------------------------------------------------
    def _s3_event(self, event_name: str, bucket: Any, key: Any) -> None:
        config = bucket.notification_configuration
        if config is None:
            return
        sequencer = self._sequencers.next()
        for notification in config.topic:
            if notification.matches(event_name, key.name):
                record = self._s3_record(event_name, bucket, key, notification.id, sequencer)
                if self._allowed_from_s3("sns", notification.arn, bucket):
                    self.stats.s3_events += 1
                    sns_backends[self.account_id][notification.arn.split(":")[3]].publish(
                        message=json.dumps({"Records": [record]}),
                        arn=notification.arn,
                        subject="Amazon S3 Notification",
                    )
        for notification in config.queue:
            if notification.matches(event_name, key.name):
                record = self._s3_record(event_name, bucket, key, notification.id, sequencer)
                if self._allowed_from_s3("sqs", notification.arn, bucket):
                    self.stats.s3_events += 1
                    self._send_sqs(notification.arn, json.dumps({"Records": [record]}))
        for notification in config.cloud_function:
            if notification.matches(event_name, key.name):
                record = self._s3_record(event_name, bucket, key, notification.id, sequencer)
                if self._allowed_from_s3("lambda", notification.arn, bucket):
                    self.stats.s3_events += 1
                    self.invoke_async(
                        notification.arn, json.dumps({"Records": [record]}).encode(), "s3-notification"
                    )
        if config.event_bridge is not None:
            self._eventbridge_s3(event_name, bucket, key, sequencer)

    def _s3_record(
        self, event_name: str, bucket: Any, key: Any, configuration_id: str, sequencer: int
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "key": quote_plus(key.name, safe="/"),
            "sequencer": S3Sequencers.render(sequencer),
        }
        if "ObjectRemoved" not in event_name:
            obj["size"] = key.size
            obj["eTag"] = key.etag.replace('"', "")
        version_id = getattr(key, "version_id", None)
        if bucket.is_versioned and version_id and version_id != "null":
            obj["versionId"] = version_id
        return {
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": bucket.region_name,
            "eventTime": _now_iso(),
            "eventName": event_name.removeprefix("s3:"),
            "userIdentity": {"principalId": "AWS:OFFLINE"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {
                "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                "x-amz-id-2": uuid.uuid4().hex,
            },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": configuration_id,
                "bucket": {
                    "name": bucket.name,
                    "ownerIdentity": {"principalId": "OFFLINE"},
                    "arn": f"arn:aws:s3:::{bucket.name}",
                },
                "object": obj,
            },
        }

    def _allowed_from_s3(self, service: str, target_arn: str, bucket: Any) -> bool:
        return self._resource_allows(
            service,
            target_arn,
            "s3.amazonaws.com",
            {"aws:SourceArn": f"arn:aws:s3:::{bucket.name}", "aws:SourceAccount": self.account_id},
        )

    # -- EventBridge ------------------------------------------------------------------------------------
    def _eventbridge_s3(self, event_name: str, bucket: Any, key: Any, sequencer: int) -> None:
        removed = "ObjectRemoved" in event_name
        object_key = key.name if self.eventbridge_keys == "raw" else quote_plus(key.name, safe="/")
        if tagging.is_tagging_event(event_name):
            detail_type, detail = tagging.tag_event_detail(
                event_name, bucket, key, object_key, self.account_id
            )
            self._put_on_bus(bucket, detail_type, detail)
            return
        if not removed and "ObjectCreated" not in event_name:
            return  # ACL/restore events exist too; nothing here subscribes to them
        version_id = getattr(key, "version_id", None)
        detail: dict[str, Any] = {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": {"key": object_key, "sequencer": S3Sequencers.render(sequencer, lowercase=True)},
            "request-id": uuid.uuid4().hex[:16].upper(),
            "requester": self.account_id,
            "source-ip-address": "127.0.0.1",
            "reason": "DeleteObject" if removed else "PutObject",
        }
        if version_id and version_id != "null":
            detail["object"]["version-id"] = version_id
        if removed:
            detail["deletion-type"] = (
                "Delete Marker Created" if "DeleteMarker" in event_name else "Permanently Deleted"
            )
        else:
            detail["object"]["size"] = key.size
            detail["object"]["etag"] = key.etag.replace('"', "")
        self._put_on_bus(bucket, "Object Deleted" if removed else "Object Created", detail)

    def _put_on_bus(self, bucket: Any, detail_type: str, detail: dict[str, Any]) -> None:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.s3",
            "account": self.account_id,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": bucket.region_name,
            "resources": [f"arn:aws:s3:::{bucket.name}"],
            "detail": detail,
        }
        self.stats.eventbridge_events += 1
        self.stats.eventbridge_recent.append(
            {
                "detail-type": event["detail-type"],
                "bucket": bucket.name,
                "key": detail["object"]["key"],
                "sequencer": detail["object"].get("sequencer", ""),
            }
        )
        backend = events_backends[self.account_id][bucket.region_name]
        bus = backend.event_buses.get("default")
        if bus is None:
            return
        for rule in list(bus.rules.values()):
            if rule.state != "ENABLED" or not rule.event_pattern.matches_event(event):
                continue
            for target in rule.targets:
                self._eventbridge_target(rule, target, event)

    def _eventbridge_target(self, rule: Any, target: dict[str, Any], event: dict[str, Any]) -> None:
        arn = target["Arn"]
        service = arn.split(":")[2]
        if target.get("Input"):
            body = target["Input"]
        elif target.get("InputTransformer") or target.get("InputPath"):
            self.stats.errors.append(f"rule {rule.name}: input transformers are not emulated offline")
            return
        else:
            body = json.dumps(event)
        context = {"aws:SourceArn": rule.arn, "aws:SourceAccount": self.account_id}
        if not self._resource_allows(service, arn, "events.amazonaws.com", context):
            return
        self.stats.eventbridge_deliveries += 1
        if service == "sqs":
            self._send_sqs(arn, body)
        elif service == "lambda":
            self.invoke_async(arn, body.encode(), "eventbridge")
        else:
            self.stats.errors.append(f"rule {rule.name}: target {arn} ({service}) is not emulated offline")

    # -- SNS -> Lambda ----------------------------------------------------------------------------------
    def _sns_to_lambda(
        self, subscription: Subscription, message: str, message_id: str, subject: str | None, attributes: Any
    ) -> None:
        topic_arn = subscription.topic.arn
        if not self._resource_allows(
            "lambda",
            subscription.endpoint,
            "sns.amazonaws.com",
            {"aws:SourceArn": topic_arn, "aws:SourceAccount": self.account_id},
        ):
            return
        record = {
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription.arn,
            "Sns": {
                "Type": "Notification",
                "MessageId": message_id,
                "TopicArn": topic_arn,
                "Subject": subject,
                "Message": message,
                "Timestamp": _now_iso(),
                "SignatureVersion": "1",
                "Signature": "OFFLINE",
                "SigningCertUrl": "https://sns.offline.invalid/cert.pem",
                "UnsubscribeUrl": f"https://sns.offline.invalid/?Action=Unsubscribe&SubscriptionArn={subscription.arn}",
                "MessageAttributes": {
                    name: {
                        "Type": value.get("DataType", "String"),
                        "Value": value.get("StringValue") or value.get("Value"),
                    }
                    for name, value in (attributes or {}).items()
                },
            },
        }
        self.stats.sns_to_lambda += 1
        self.invoke_async(subscription.endpoint, json.dumps({"Records": [record]}).encode(), "sns")

    # -- shared -----------------------------------------------------------------------------------------
    def _send_sqs(self, queue_arn: str, body: str) -> None:
        _, _, _, region, account, name = queue_arn.split(":")
        sqs_backends[account][region].send_message(queue_name=name, message_body=body)

    def _resource_allows(
        self, service: str, target_arn: str, principal: str, context: dict[str, Any]
    ) -> bool:
        """Whether the target's resource policy lets the AWS service principal deliver (as AWS checks)."""
        action, decision = delivery_decision(service, target_arn, principal, context)
        if not decision.allowed:
            entry = {
                "action": action,
                "resource": target_arn,
                "caller": principal,
                "reason": f"resource policy: {decision.reason}",
            }
            self.stats.denied.append(entry)
            print(
                f"offline events: {principal} may not {action} on {target_arn}: {decision.reason}",
                file=sys.stderr,
            )
        return decision.allowed
