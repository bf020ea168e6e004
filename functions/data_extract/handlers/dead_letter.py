"""Dead-letter Lambda: messages that exhausted their retries end their file unit or run as failed.

A work message (a file unit) is recorded failed, so its run can still finish; a finalize message (a run)
ends its job as failed; a semantic message (a run's corpus analysis) gets a failed semantic outcome and the run
goes back to finalize, which finishes it with its extraction results. Either way no job stays queued or running
forever.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from data_extract.jobs.finalize import FinalizeMessage, abandon_run
from data_extract.jobs.semantic import SemanticMessage, fail_from_dead_letter
from data_extract.jobs.units import UnitMessage, fail_unit_from_dead_letter
from data_extract.observability import correlated, make_tracer, route_package_logs
from data_extract.store import get_store

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
route_package_logs(logger)


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    msg: UnitMessage | FinalizeMessage | SemanticMessage
    try:
        body = json.loads(record.body)
        is_unit = isinstance(body, dict) and "unit_id" in body
        is_semantic = isinstance(body, dict) and body.get("stage") == "semantic"
        if is_semantic:
            msg = SemanticMessage.parse(record.body)
        else:
            msg = UnitMessage.parse(record.body) if is_unit else FinalizeMessage.parse(record.body)
    except (ValueError, KeyError, TypeError):
        logger.error("unreadable dead-letter message dropped", extra={"message_id": record.message_id})
        return "unreadable"
    receive_count = record.attributes.approximate_receive_count
    count = int(receive_count) if receive_count else None
    with correlated(logger, job_id=msg.job_id, unit_id=getattr(msg, "unit_id", None), run=msg.run):
        if isinstance(msg, SemanticMessage):
            # The analysis kept failing: the run still finishes, with the semantic outcome failed.
            outcome = fail_from_dead_letter(get_store(), msg, count)
            metrics.add_metric(name="SemanticRunsDeadLettered", unit=MetricUnit.Count, value=1)
        elif isinstance(msg, UnitMessage):
            outcome = "unit_failed" if fail_unit_from_dead_letter(get_store(), msg, count) else "unit_already_done"
            metrics.add_metric(name="UnitsDeadLettered", unit=MetricUnit.Count, value=1)
        else:
            outcome = abandon_run(get_store(), msg, count)
            metrics.add_metric(name="RunsDeadLettered", unit=MetricUnit.Count, value=1)
        logger.warning("dead-lettered message handled", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
