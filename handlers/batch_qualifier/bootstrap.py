"""Building the qualifier from its settings: once per cold start, so a bad configuration fails there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from handlers.batch_qualifier.provider_loader import build_provider
from handlers.batch_qualifier.qualifier import HistoryRecorder, Qualifier
from handlers.batch_qualifier.registration import ClientFactory, needs_full_rescans
from handlers.batch_qualifier.settings import Settings

logger = Logger(child=True)


def build_qualifier(
    settings: Settings, clients: ClientFactory, history_table: Callable[[str], Any]
) -> Qualifier:
    """`clients(service)` gives AWS clients; `history_table(name)` a boto3 DynamoDB Table resource."""
    assert settings.queue_url is not None  # Settings validated it (required for this function)
    provider = build_provider(settings.provider, settings.provider_config, clients)
    if needs_full_rescans(provider):
        # Once per cold start: what an operator of an incremental stack has to know about this provider.
        logger.warning(
            "the registration provider's changes send no S3 event: incremental inventories do not see them; "
            "re-qualify by a full re-scan (bulk-loader import-now --source generate) after it changes",
            extra={"provider": settings.provider},
        )
    history: HistoryRecorder | None = None
    if settings.history_table:
        # The import-history access layer (issue 5); only needed when a history table is configured.
        from handlers.common.history import HistoryStore

        history = HistoryStore(history_table(settings.history_table), ttl_days=settings.history_ttl_days)
    return Qualifier(
        s3=clients("s3"),
        sqs=clients("sqs"),
        queue_url=settings.queue_url,
        provider=provider,
        image_suffixes=settings.image_suffixes,
        history=history,
    )
