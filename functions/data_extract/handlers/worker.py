"""Worker Lambda: one SQS record = one file unit; failures are reported per record."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from data_extract.jobs.readiness import report_worker_readiness
from data_extract.jobs.units import UnitMessage, process_unit
from data_extract.observability import correlated, emit_file_metrics, make_tracer, queue_wait_ms, route_package_logs
from data_extract.settings import get_settings
from data_extract.store import get_store

Handler = TypeVar("Handler", bound=Callable[..., Any])


class TracerUsed(Protocol):
    """What this handler uses of its tracer (Powertools' Tracer, or the untraced stand-in make_tracer gives)."""

    def capture_method(self, method: Handler) -> Handler: ...
    def capture_lambda_handler(self, lambda_handler: Handler) -> Handler: ...
    def put_annotation(self, key: str, value: str) -> None: ...


logger = Logger()
tracer: TracerUsed = make_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
# Job records read by this invocation's units, shared across its batch (cleared per invocation).
batch_jobs: dict[str, dict[str, Any]] = {}
route_package_logs(logger)
# Outcomes that are not a file's end: a PDF split into page-range units, and one of those ranges done.
BATCH_METRICS = {"split": "FilesSplit", "range": "PageRangesDone"}


def _sent_timestamp(record: SQSRecord) -> str | None:
    # Lambda always sends it; a record built by hand (a replayed or test event) may not, and must still run.
    return (record.raw_event.get("attributes") or {}).get("SentTimestamp")


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    msg = UnitMessage.parse(record.body)
    with correlated(logger, job_id=msg.job_id, unit_id=msg.unit_id, run=msg.run):
        tracer.put_annotation(key="job_id", value=msg.job_id)
        outcome = process_unit(get_store(), get_settings(), msg, batch_jobs)
        metrics.add_metric(name="UnitsReceived", unit=MetricUnit.Count, value=1)
        # Finished files get one EMF record of their own (dimensions by format and error type); the batch's
        # metrics count redeliveries and stale messages.
        if not emit_file_metrics(outcome, queue_wait_ms(_sent_timestamp(record))):
            name = BATCH_METRICS.get(outcome.status, f"Files{outcome.status.capitalize()}")
            metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
        logger.info(
            "file unit done",
            extra={
                "status": outcome.status,
                "error_type": outcome.error_type,
                "detected_format": outcome.detected_format,
                "chunk_count": outcome.chunk_count,
                "first_page": msg.first_page,
            },
        )
    return outcome.status


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    report_worker_readiness(get_store())
    batch_jobs.clear()
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
