"""Notifier Lambda: one SQS record = one delivery attempt of a job-finished notice (EventBridge + callback)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from data_extract.jobs.notify import NoticeMessage, deliver
from data_extract.observability import make_tracer
from data_extract.settings import get_settings
from data_extract.store import get_store, read_secret

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@lru_cache(maxsize=1)
def signing_secret() -> str | None:
    """Read once per container; rotating the secret takes effect as containers are recycled."""
    secret_id = get_settings().callback_secret_id
    return read_secret(secret_id) if secret_id else None


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    try:
        msg = NoticeMessage.parse(record.body)
    except (ValueError, KeyError, TypeError):
        logger.error("unreadable notice dropped", extra={"message_id": record.message_id})
        return "unreadable"
    logger.append_keys(job_id=msg.notice["job_id"], notice_id=msg.notice["id"], attempt=msg.attempt)
    outcome = deliver(get_store(), get_settings(), msg, signing_secret)
    metrics.add_metric(name=f"Notices{outcome.capitalize().replace('_', '')}", unit=MetricUnit.Count, value=1)
    logger.info("notice attempt", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
