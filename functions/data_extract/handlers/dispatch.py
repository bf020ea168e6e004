"""Dispatch Lambda: one SQS record = one slice of a large job's fan-out (its file units and work messages)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from data_extract.jobs.dispatch import DispatchMessage, dispatch_slice
from data_extract.observability import correlated, make_tracer, route_package_logs
from data_extract.store import get_store

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
route_package_logs(logger)


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    msg = DispatchMessage.parse(record.body)
    with correlated(logger, job_id=msg.job_id, run=msg.run):
        tracer.put_annotation(key="job_id", value=msg.job_id)
        # The message id is the same on every redelivery: it tells a resumed slice from a duplicate one.
        outcome = dispatch_slice(get_store(), msg, record.message_id)
        metrics.add_metric(name=f"DispatchSlices{outcome.title().replace('_', '')}", unit=MetricUnit.Count, value=1)
        logger.info("dispatch slice", extra={"slice": msg.slice, "outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
