"""Semantic Lambda: one SQS record = one run's corpus semantic stage, after which it finishes the run."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

# Loaded at init (outside the billed handler time of the first run, as Lambda's init phase allows): the
# numerical stack only this function carries.
import data_extract.pipeline.semantic.analyze  # noqa: F401 - imported for its side effect, loading the stack at init
from data_extract.jobs.semantic import SemanticMessage, run_semantic_stage
from data_extract.observability import make_tracer
from data_extract.store import get_store

logger = Logger()
tracer = make_tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


@tracer.capture_method
def record_handler(record: SQSRecord) -> str:
    msg = SemanticMessage.parse(record.body)
    logger.append_keys(job_id=msg.job_id, run=msg.run)
    outcome = run_semantic_stage(get_store(), msg)
    metrics.add_metric(name=f"SemanticRuns{outcome.capitalize()}", unit=MetricUnit.Count, value=1)
    logger.info("semantic stage done", extra={"outcome": outcome})
    return outcome


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
