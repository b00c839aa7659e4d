"""Building the indexer from its settings: once per cold start, so a bad configuration fails there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3

from handlers.common.history import HistoryStore
from handlers.throttled_indexer.batch import BatchConfig, BatchRunner
from handlers.throttled_indexer.deleter import Deleter
from handlers.throttled_indexer.gateway import Gateway
from handlers.throttled_indexer.http_gateway import ApiKeySource, HttpGateway, sigv4_signer
from handlers.throttled_indexer.importer import Importer
from handlers.throttled_indexer.pacing import DynamoSlotBook, PaceableGateway, PacedGateway, Pacer
from handlers.throttled_indexer.rekognition_gateway import RekognitionGateway
from handlers.throttled_indexer.rekognition_users import RekognitionUsersGateway
from handlers.throttled_indexer.settings import Settings

ClientFactory = Callable[[str], Any]


def build_gateway(settings: Settings, clients: ClientFactory) -> PaceableGateway:
    if settings.gateway == "rekognition":
        assert settings.collection_id is not None  # Settings validated it
        if settings.rekognition_mode == "users":
            return RekognitionUsersGateway(
                clients("rekognition"),
                settings.collection_id,
                user_match_threshold=settings.user_match_threshold,
            )
        return RekognitionGateway(clients("rekognition"), settings.collection_id)
    assert settings.gateway_url is not None
    signer = None
    if settings.gateway_auth == "sigv4":
        session = boto3.Session()
        region = session.region_name  # Lambda sets AWS_REGION; boto3 reads it
        if not region:
            raise ValueError("GATEWAY_AUTH=sigv4 needs the AWS region (AWS_REGION)")
        signer = sigv4_signer(session.get_credentials, region)
    api_key = None
    if settings.gateway_auth == "api-key":
        assert settings.gateway_api_key_secret_arn is not None
        api_key = ApiKeySource(clients("secretsmanager"), settings.gateway_api_key_secret_arn)
    return HttpGateway(
        settings.gateway_url,
        timeout_seconds=settings.gateway_timeout_seconds,
        signer=signer,
        api_key=api_key,
    )


def build_runner(
    settings: Settings,
    clients: ClientFactory,
    history_table: Callable[[str], Any],
    count: Callable[[str], None],
    root_logger: Any = None,
) -> BatchRunner:
    """`clients(service)` gives AWS clients; `history_table(name)` a boto3 DynamoDB Table resource."""
    s3 = clients("s3")
    assert settings.history_table is not None  # Settings validated it (required for this function)
    history = HistoryStore(history_table(settings.history_table), ttl_days=settings.history_ttl_days)
    paceable = build_gateway(settings, clients)
    gateway: Gateway = paceable
    if settings.gateway_rates:
        # Every worker takes its call slots from one book in the history table (pacing.py).
        book = DynamoSlotBook(history.table)
        gateway = PacedGateway(paceable, Pacer(settings.gateway_rates, book))
    deleter = Deleter(s3=s3, history=history, gateway=gateway)
    importer = Importer(
        s3=s3,
        history=history,
        gateway=gateway,
        max_image_bytes=settings.max_image_bytes,
        quarantine_bucket=settings.quarantine_bucket,
        quarantine_prefix=settings.quarantine_prefix,
        retire_superseded=deleter.retire_superseded,
    )
    config = BatchConfig(
        max_receive_count=settings.max_receive_count,
        backoff_base_seconds=settings.backoff_base_seconds,
        backoff_max_seconds=settings.backoff_max_seconds,
        max_wait_seconds=int(settings.max_wait_hours * 3600),
        queue_url=settings.queue_url,
        dlq_url=settings.dlq_url,
        # Do not start a message that the gateway timeout could carry past the function's timeout.
        time_margin_ms=int(settings.gateway_timeout_seconds * 1000) * 2 + 5_000,
        # A throttled import waits its place at the registering APIs' rate (IndexFaces, in mode users also
        # CreateUser and AssociateFaces / the HTTP API).
        gateway_rate_per_second=_registering_rate(settings),
    )
    return BatchRunner(
        sqs=clients("sqs"),
        history=history,
        process_import=importer.process,
        process_delete=deleter.process,
        config=config,
        count=count,
        root_logger=root_logger,
    )


# The paced APIs one registration calls, by gateway and rekognitionMode.
_REGISTERING_APIS = {
    ("rekognition", "faces"): ("IndexFaces",),
    ("rekognition", "users"): ("CreateUser", "IndexFaces", "AssociateFaces"),
    ("http", "faces"): ("http",),
}


def _registering_rate(settings: Settings) -> float | None:
    """The slowest paced rate among the APIs a registration calls (else the slowest paced rate at all)."""
    rates = settings.gateway_rates
    apis = _REGISTERING_APIS[(settings.gateway, settings.rekognition_mode)]
    registering = [rates[api] for api in apis if rates.get(api)]
    return min(registering) if registering else (min(rates.values()) if rates else None)
