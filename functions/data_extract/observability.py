"""Logs, metrics and traces shared by every function: correlation keys, metric names, EMF emission.

Correlation: every log line written while a function handles a job carries ``job_id`` and, where they apply,
``unit_id`` (one file unit) and ``run`` (1 for the first run, 2+ for retries). That holds for the lines of the
handler's Powertools ``Logger`` and for those of every ``logging.getLogger(__name__)`` module logger of the
package: ``route_package_logs`` gives the ``data_extract`` logger the handler's formatter, so one set of keys
reaches all of them. The keys live in a context variable (Powertools' thread-safe keys), so the local stack's
pollers, one thread per function, never mix them up.

Metrics (CloudWatch EMF, namespace from POWERTOOLS_METRICS_NAMESPACE, dimension ``service``): the names below
are the ones template.yaml's dashboard and alarms read; tests assert them.

The metrics library is imported where metrics are emitted (worker, finalize), not by the API function.

Traces: ``make_tracer`` gives Powertools' Tracer where tracing is active (in Lambda, unless
POWERTOOLS_TRACE_DISABLED), and an untraced stand-in elsewhere (tests, the local stack, benchmarks). Powertools'
Tracer imports the X-Ray SDK even when disabled, about 110 ms of every cold import; where nothing receives
traces there is no reason to pay it.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import datetime
from typing import Any, Protocol, cast

from aws_lambda_powertools import Logger

_TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})


def tracing_active() -> bool:
    """Where Powertools' Tracer would record: in Lambda, not under SAM or Chalice local emulation, and not
    switched off by POWERTOOLS_TRACE_DISABLED (the same rules as Powertools' own check)."""
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in _TRUTHY:
        return False
    if os.environ.get("AWS_SAM_LOCAL") or os.environ.get("AWS_CHALICE_CLI_MODE"):
        return False
    return bool(os.environ.get("LAMBDA_TASK_ROOT"))


class TraceProvider(Protocol):
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> AbstractContextManager[Any]: ...


class TracerLike(Protocol):
    """The part of Powertools' Tracer the functions use: decorators that keep the decorated function's type."""

    @property
    def provider(self) -> TraceProvider: ...

    def capture_lambda_handler[F: Callable[..., Any]](self, handler: F) -> F: ...

    def capture_method[F: Callable[..., Any]](self, method: F) -> F: ...

    def put_annotation(self, key: str, value: Any) -> None: ...


class _UntracedProvider:
    def in_subsegment(self, name: str | None = None, **_: Any) -> AbstractContextManager[Any]:
        return nullcontext()


class UntracedTracer:
    """The part of Powertools' Tracer the functions use, recording nothing (tracing is not active)."""

    def __init__(self) -> None:
        self._provider = _UntracedProvider()

    @property
    def provider(self) -> TraceProvider:
        return self._provider

    def capture_lambda_handler[F: Callable[..., Any]](self, handler: F) -> F:
        return handler

    def capture_method[F: Callable[..., Any]](self, method: F) -> F:
        return method

    def put_annotation(self, key: str, value: Any) -> None:
        return None


@functools.cache
def make_tracer() -> TracerLike:
    """One tracer per process: Powertools' where tracing is active, else ``UntracedTracer``."""
    if not tracing_active():
        return UntracedTracer()
    from aws_lambda_powertools import Tracer

    # Powertools' Tracer has these methods (with more options, and an overload for decorating with arguments
    # that the protocol leaves out): the cast names only the part the functions use.
    return cast(TracerLike, Tracer())


CORRELATION_KEYS = ("job_id", "unit_id", "run")
PACKAGE_LOGGER = "data_extract"

# Per file unit, with the dimension sets [service], [service, format] and, for failed and skipped files,
# [service, format, error_type].
FILES_PROCESSED = "FilesProcessed"
FILES_FAILED = "FilesFailed"
FILES_SKIPPED = "FilesSkipped"
PAGES = "Pages"  # pages, slides or sheets read from one file
INPUT_BYTES = "InputBytes"
QUEUE_WAIT_MS = "QueueWaitMs"  # work message sent -> worker picked it up
STAGE_MS = {"extract": "ExtractMs", "normalize": "NormalizeMs", "chunk": "ChunkMs", "output": "OutputMs"}
# Per run, from finalize: submission (or retry request) -> terminal status, and the run's verdict.
JOB_DURATION_MS = "JobDurationMs"
RETRY_RUN_DURATION_MS = "RetryRunDurationMs"
FINALIZE_QUEUE_WAIT_MS = "FinalizeQueueWaitMs"
JOB_STATUS_METRICS = {
    "completed": "JobsCompleted",
    "partial": "JobsPartial",
    "failed": "JobsFailed",
    "cancelled": "JobsCancelled",
}


def route_package_logs(logger: Logger) -> None:
    """Send the package's module loggers (data_extract.*) through ``logger``'s JSON formatter and handler."""
    import logging

    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logging.getLogger(PACKAGE_LOGGER)  # registered, so the copy finds it even before any module logged
    copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE_LOGGER})


@contextmanager
def correlated(
    logger: Logger, *, job_id: str | None = None, unit_id: str | None = None, run: int | None = None
) -> Iterator[None]:
    """The correlation keys on every line logged inside the block (keys that do not apply are left out)."""
    keys = {
        name: value for name, value in (("job_id", job_id), ("unit_id", unit_id), ("run", run)) if value is not None
    }
    before = dict(logger.thread_safe_get_current_keys())
    others = {name: value for name, value in before.items() if name not in CORRELATION_KEYS}
    # Replaced, never edited in place: Powertools' removal mutates the dict a copied context may share.
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(**others, **keys)
    try:
        yield
    finally:
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**before)


def queue_wait_ms(sent_timestamp: str | None, now_ms: float | None = None) -> float | None:
    """Milliseconds a message waited in its queue (SQS SentTimestamp is epoch milliseconds)."""
    if not sent_timestamp:
        return None
    try:
        sent = int(sent_timestamp)
    except (TypeError, ValueError):
        return None
    now = time.time() * 1000 if now_ms is None else now_ms
    return max(0.0, now - sent)


def emit_file_metrics(outcome: Any, wait_ms: float | None) -> bool:
    """One EMF record per finished file unit (a ``UnitOutcome``): its count by status, format and error type,
    its pages, bytes and stage durations, and how long its message waited. False when the unit did not finish
    here (a redelivery or a stale message): nothing is emitted for it."""
    name = {"processed": FILES_PROCESSED, "failed": FILES_FAILED, "skipped": FILES_SKIPPED}.get(outcome.status)
    if name is None:
        return False
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    detected_format, error_type = outcome.detected_format, outcome.error_type
    metrics = EphemeralMetrics()
    fmt = detected_format or "unknown"
    metrics.add_dimensions(service=metrics.service, format=fmt)
    if error_type:
        metrics.add_dimensions(service=metrics.service, format=fmt, error_type=error_type)
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
    if outcome.page_count:
        metrics.add_metric(name=PAGES, unit=MetricUnit.Count, value=outcome.page_count)
    if outcome.size_bytes is not None:
        metrics.add_metric(name=INPUT_BYTES, unit=MetricUnit.Bytes, value=outcome.size_bytes)
    for stage, elapsed in (outcome.stage_timings_ms or {}).items():
        if stage in STAGE_MS and elapsed:
            metrics.add_metric(name=STAGE_MS[stage], unit=MetricUnit.Milliseconds, value=elapsed)
    if wait_ms is not None:
        metrics.add_metric(name=QUEUE_WAIT_MS, unit=MetricUnit.Milliseconds, value=wait_ms)
    metrics.flush_metrics()
    return True


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def emit_run_metrics(store: Any, job_id: str, run: int, *, finalized: bool, wait_ms: float | None) -> None:
    """One EMF record per finalize message: how long it waited and, when this delivery ended the run, the job's
    terminal status and the run's duration from submission (or retry request) to that status."""
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    metrics = EphemeralMetrics()
    if wait_ms is not None:
        metrics.add_metric(name=FINALIZE_QUEUE_WAIT_MS, unit=MetricUnit.Milliseconds, value=wait_ms)
    job = store.table.get_job(job_id) if finalized else None
    run_item = store.table.get_run(job_id, run) if job else None
    if job and run_item:
        status_metric = JOB_STATUS_METRICS.get(str(job.get("status")))
        if status_metric:
            metrics.add_metric(name=status_metric, unit=MetricUnit.Count, value=1)
        started, finished = _parse_time(run_item.get("started_at")), _parse_time(job.get("finished_at"))
        if started and finished and finished >= started:
            name = RETRY_RUN_DURATION_MS if run_item.get("kind") == "retry" else JOB_DURATION_MS
            metrics.add_metric(
                name=name, unit=MetricUnit.Milliseconds, value=(finished - started).total_seconds() * 1000
            )
    if metrics.metric_set:
        metrics.flush_metrics()
