"""Dead-letter Lambda: a file unit whose message exhausted its retries is recorded failed, so its job ends."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from data_extract.jobs.units import UnitMessage, fail_unit_from_dead_letter
from data_extract.store import get_store

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> bool:
    try:
        msg = UnitMessage.parse(record.body)
    except (ValueError, KeyError, TypeError):
        logger.error("unreadable dead-letter message dropped", extra={"message_id": record.message_id})
        return False
    receive_count = record.attributes.approximate_receive_count
    recorded = fail_unit_from_dead_letter(get_store(), msg, int(receive_count) if receive_count else None)
    metrics.add_metric(name="UnitsDeadLettered", unit=MetricUnit.Count, value=1)
    logger.warning("file unit dead-lettered", extra={"job_id": msg.job_id, "unit_id": msg.unit_id,
                                                     "recorded": recorded})
    return recorded


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
