"""Finalize Lambda: one SQS record = one finished run (result, governance, session, terminal status)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from data_extract.jobs.finalize import FinalizeMessage, finalize_run
from data_extract.observability import correlated, emit_run_metrics, make_tracer, queue_wait_ms, route_package_logs
from data_extract.store import get_store

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
route_package_logs(logger)


def _sent_timestamp(record: SQSRecord) -> str | None:
    # Lambda always sends it; a record built by hand (a replayed or test event) may not, and must still run.
    return (record.raw_event.get("attributes") or {}).get("SentTimestamp")


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    msg = FinalizeMessage.parse(record.body)
    with correlated(logger, job_id=msg.job_id, run=msg.run):
        tracer.put_annotation(key="job_id", value=msg.job_id)
        outcome = finalize_run(get_store(), msg)
        metrics.add_metric(name=f"Runs{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
        emit_run_metrics(
            get_store(),
            msg.job_id,
            msg.run,
            finalized=outcome == "finalized",
            wait_ms=queue_wait_ms(_sent_timestamp(record)),
        )
        logger.info("run finalize", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
