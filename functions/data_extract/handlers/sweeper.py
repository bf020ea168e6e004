"""Sweeper Lambda: a scheduled run that finishes or fails jobs stuck past their deadline (see jobs/sweep.py)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent, event_source

from data_extract.jobs.sweep import sweep
from data_extract.observability import make_tracer
from data_extract.settings import get_settings
from data_extract.store import get_store

logger = Logger()
tracer = make_tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=EventBridgeEvent)
def lambda_handler(event: EventBridgeEvent, context: Any) -> dict[str, Any]:
    outcomes = sweep(get_store(), get_settings())
    for outcome, count in outcomes.items():
        metrics.add_metric(name=f"Swept{outcome.title().replace('_', '')}", unit=MetricUnit.Count, value=count)
    logger.info("sweep done", extra={"scheduled_at": event.time, "outcomes": outcomes})
    return {"outcomes": outcomes}
