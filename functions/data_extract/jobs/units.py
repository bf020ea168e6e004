"""Processing one file unit (the worker's business logic) and handing the run over to finalize."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from data_extract.contract import TERMINAL_JOB_STATUSES, now_rfc3339
from data_extract.jobs import incremental, paths
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions
from data_extract.settings import Settings
from data_extract.store import ConditionFailed, ObjectNotFound, SecretUnavailable, Store, open_secret

if TYPE_CHECKING:
    from data_extract.pipeline.output import OutputOptions
    from data_extract.pipeline.run import FileResult

logger = logging.getLogger(__name__)

# A claimed finalize that has not finished after this long is handed over again (the claimer may have
# died between claiming and sending); it outlasts a finalize attempt so two never overlap.
FINALIZE_RESEND_AFTER = timedelta(minutes=35)  # longer than the finalize queue's visibility timeout


MAX_LISTED_OUTPUTS = 100


@dataclass(frozen=True)
class UnitMessage:
    job_id: str
    unit_id: str
    run: int
    first_page: int | None = None  # a page range of a split unit (jobs/split.py), named by its first page

    @classmethod
    def parse(cls, body: str) -> UnitMessage:
        data = json.loads(body)
        first_page = data.get("first_page")
        return cls(
            str(data["job_id"]), str(data["unit_id"]), int(data["run"]), int(first_page) if first_page else None
        )


@dataclass
class UnitOutcome:
    status: str  # processed | failed | skipped | duplicate | stale | split (into page ranges) | range (one done)
    error_type: str | None = None
    chunk_count: int = 0
    detected_format: str | None = None
    stage_timings_ms: dict[str, float] | None = None
    page_count: int | None = None
    size_bytes: int | None = None


def output_options(run_config: dict[str, Any]) -> OutputOptions:
    """What the per-file pipeline needs from a run's resolved configuration."""
    from data_extract.pipeline.output import OutputOptions

    return OutputOptions(
        output_format=run_config["output_format"],
        chunk_size=int(run_config["chunk_size"]),
        overlap=int(run_config["chunk_overlap"]),
        include_metadata=bool(run_config.get("include_metadata", False)),
        per_chunk=bool(run_config.get("per_chunk", False)),
        organize=bool(run_config.get("organize", False)),
        strategy=run_config.get("strategy"),
        delimiter=run_config["delimiter"],
        table_csv=bool(run_config.get("table_csv", False)),
    )


def extract_options(
    settings: Settings, run_config: dict[str, Any], password: str | None, page_range: tuple[int, int] | None = None
) -> ExtractOptions:
    """A file's extraction options; a page range of a split PDF is held to the split page limit instead."""
    return ExtractOptions(
        password=password,
        ocr=settings.ocr_enabled and bool(run_config.get("ocr", True)),
        ocr_languages=settings.ocr_languages,
        max_pages=settings.max_pages if page_range is None else settings.max_split_pages,
        max_chars=settings.max_chars,
        page_range=page_range,
    )


def _job_of(store: Store, msg: UnitMessage, jobs: dict[str, dict[str, Any]] | None) -> dict[str, Any] | None:
    job = jobs.get(msg.job_id) if jobs is not None else None
    if job is None:
        job = store.table.get_job(msg.job_id)
        if job is not None and jobs is not None:
            jobs[msg.job_id] = job
    return job


def process_unit(
    store: Store, settings: Settings, msg: UnitMessage, jobs: dict[str, dict[str, Any]] | None = None
) -> UnitOutcome:
    """Process one file unit exactly once per run, whatever SQS redelivers.

    ``jobs`` caches job records for the units of one batch (the worker passes one per invocation): a batch's
    units mostly share a job, and its record is read once for them.
    """
    from data_extract.jobs import split
    from data_extract.pipeline.run import FileResult

    job = _job_of(store, msg, jobs)
    if msg.first_page is not None:
        return split.process_range(store, settings, msg, job)
    now = now_rfc3339()
    # The claim is the unit's read and its "running" mark in one conditional write.
    unit = store.table.claim_unit(msg.job_id, msg.unit_id, msg.run, now) if job is not None else None
    if job is None or unit is None:
        return _unclaimed(store, msg, job)
    if unit.get("split_run") == msg.run:
        # A redelivery of a unit already split into page ranges: they carry its work (and its count, and a
        # cancel's skip); queue any not yet sent.
        split.resend_queued_ranges(store, msg.job_id, msg.unit_id, msg.run)
        return UnitOutcome("duplicate")
    if job["status"] in CANCELLED_STATES:
        # Stage boundary 1, free: the job was read anyway. A cancelled job's queued files are never extracted.
        return _skip_cancelled(store, msg, unit, "Not processed: the job was cancelled.")
    if job["status"] == "queued":
        store.table.mark_job_running(msg.job_id, msg.run, now)  # conditional: one unit of the run wins
        job["status"] = "running"
    run_config = job["run_config"]
    source = (unit["input_bucket"], unit["input_key"])
    if job.get("halted") and not run_config.get("continue_on_error", True):
        result = FileResult(
            status="skipped",
            file_hash="",
            error_type="halted",
            error_message="Not processed: an earlier file failed and continue_on_error is false.",
        )
    else:
        ran = _run_pipeline(store, settings, job, unit, msg, run_config, now)
        if isinstance(ran, UnitOutcome):
            return ran  # split into page ranges
        result, kept_key = ran
        if kept_key:
            source = (store.objects.bucket, kept_key)
        # Stage boundary 2, one small read: a cancel that arrived during extraction discards its results
        # before anything is written.
        if store.table.get_job_status(msg.job_id) in CANCELLED_STATES:
            return _skip_cancelled(
                store, msg, unit, "Processing stopped: the job was cancelled before this file's results were written."
            )
    return _record_result(store, msg, job, unit, result, source, now)


def _unclaimed(store: Store, msg: UnitMessage, job: dict[str, Any] | None) -> UnitOutcome:
    if job is None or store.table.get_unit(msg.job_id, msg.unit_id) is None:
        logger.warning(
            "unit message for an unknown job or unit", extra={"job_id": msg.job_id, "unit_id": msg.unit_id}
        )
        return UnitOutcome("stale")
    # Redelivery of a unit that already has its result (or belongs to an older run): change nothing, but make
    # sure the run's hand-over to finalize happened (the first delivery may have died right after).
    hand_over_if_complete(store, msg.job_id, msg.run)
    return UnitOutcome("duplicate")


def write_outputs(store: Store, job_id: str, result: FileResult) -> list[str]:
    """The file's output objects; returns their keys."""
    output_keys = []
    for out in result.outputs:
        key = paths.output_key(job_id, out.name)
        store.objects.put_bytes(key, out.data, out.content_type)
        output_keys.append(key)
    return output_keys


def result_record(
    job_id: str, unit: dict[str, Any], result: FileResult, output_keys: list[str], source: tuple[str, str]
) -> dict[str, Any]:
    """What a file unit's item keeps of its result."""
    return {
        "status": result.status,
        "chunk_count": result.chunk_count,
        "detected_format": result.detected_format,
        "file_hash": result.file_hash or None,
        "error_type": result.error_type,
        "error_message": result.error_message,
        "stage_timings_ms": result.stage_timings_ms,
        "output_path": output_keys[0]
        if len(output_keys) == 1
        else (paths.output_key(job_id, "") if output_keys else None),
        # per_chunk/organize layouts can write thousands of files: keep the item far below DynamoDB's 400 KB.
        "output_files": output_keys[:MAX_LISTED_OUTPUTS],
        "output_count": len(output_keys),
        "warnings": result.warnings[:20],
        "input_bucket": source[0],
        "input_key": source[1],
        **incremental.pointer_fields(unit, result.error_type),
    }


def file_event(unit: dict[str, Any], result: FileResult, run: int) -> tuple[str, str, dict[str, Any]]:
    return (
        "file",
        f"{unit['source_path']}: {result.status}" + (f" ({result.error_type})" if result.error_type else ""),
        {
            "unit_id": unit["unit_id"],
            "source_path": unit["source_path"],
            "status": result.status,
            "error_type": result.error_type,
            "chunk_count": result.chunk_count,
            "run": run,
        },
    )


def _record_result(
    store: Store,
    msg: UnitMessage,
    job: dict[str, Any],
    unit: dict[str, Any],
    result: FileResult,
    source: tuple[str, str],
    now: str,
) -> UnitOutcome:
    """Write the outputs, then the unit's result with its count for the run; hand the run over when complete.
    ``now`` is when the unit was claimed: the processing timestamp of its outputs and chunk record."""
    run_config = job["run_config"]
    output_keys = write_outputs(store, msg.job_id, result)
    if run_config.get("include_semantic") and result.status == "processed":
        keep_chunk_record(store, msg, unit, result, output_keys, now)
    record = result_record(msg.job_id, unit, result, output_keys, source)
    recorded = store.table.record_unit_result(
        msg.job_id, msg.unit_id, msg.run, record, file_event(unit, result, msg.run), now_rfc3339()
    )
    if recorded and result.status == "failed" and not run_config.get("continue_on_error", True):
        store.table.update_job(msg.job_id, {"halted": True})
        job["halted"] = True  # the batch's cached record too: the rest of the batch is skipped
    hand_over_if_complete(store, msg.job_id, msg.run)
    if not recorded:
        return UnitOutcome("duplicate")
    return UnitOutcome(
        result.status,
        result.error_type,
        result.chunk_count,
        result.detected_format,
        result.stage_timings_ms,
        result.page_count,
        _int_or_none(unit.get("size_bytes")),
    )


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


CANCELLED_STATES = ("cancelling", "cancelled")


def _skip_cancelled(store: Store, msg: UnitMessage, unit: dict[str, Any], message: str) -> UnitOutcome:
    recorded = skip_unit_cancelled(store, msg.job_id, unit, msg.run, message)
    hand_over_if_complete(store, msg.job_id, msg.run)
    return UnitOutcome("skipped", ErrorType.CANCELLED.value) if recorded else UnitOutcome("duplicate")


def skip_unit_cancelled(
    store: Store,
    job_id: str,
    unit: dict[str, Any],
    run: int,
    message: str,
    from_statuses: tuple[str, ...] = ("queued", "running"),
) -> bool:
    """Record a unit skipped because its job was cancelled; False when it already had its result."""
    record = {
        "status": "skipped",
        "error_type": ErrorType.CANCELLED.value,
        "error_message": message,
        "chunk_count": 0,
    }
    event = (
        "file",
        f"{unit['source_path']}: skipped (cancelled)",
        {
            "unit_id": unit["unit_id"],
            "source_path": unit["source_path"],
            "status": "skipped",
            "error_type": ErrorType.CANCELLED.value,
            "chunk_count": 0,
            "run": run,
        },
    )
    return store.table.record_unit_result(
        job_id, unit["unit_id"], run, record, event, now_rfc3339(), from_statuses=from_statuses
    )


def keep_chunk_record(
    store: Store,
    msg: UnitMessage,
    unit: dict[str, Any],
    result: FileResult,
    output_keys: list[str],
    processing_timestamp: str,
) -> None:
    """The file's chunks for the run's semantic stage, which reads them instead of parsing the outputs (so it
    works for every output format) and writes the outputs again with the quality it computed."""
    from data_extract.store.records import put_chunk_record

    put_chunk_record(
        store.objects,
        paths.chunk_record_key(msg.job_id, msg.unit_id),
        {
            "schema_version": 1,
            "job_id": msg.job_id,
            "unit_id": msg.unit_id,
            "run": msg.run,
            "source_path": unit["source_path"],
            "file_hash": result.file_hash,
            "detected_format": result.detected_format,
            "warnings": list(result.warnings),
            "processing_timestamp": processing_timestamp,
            "output_keys": output_keys,
            "records": result.chunk_records,
        },
    )


def open_password(job: dict[str, Any], job_id: str) -> str | ExtractionError | None:
    """The job's document password, None without one, or why it cannot be opened."""
    if not job.get("sealed_password"):
        return None
    try:
        return open_secret(job["sealed_password"], job_id)
    except SecretUnavailable as exc:
        return ExtractionError(ErrorType.ENCRYPTED, f"Cannot open the document: {exc}.")


def _fetch_input(store: Store, settings: Settings, unit: dict[str, Any]) -> bytes | FileResult:
    """The input's bytes, or the failed result when it is too large or gone."""
    from data_extract.pipeline.run import FileResult

    if int(unit.get("size_bytes") or 0) > settings.max_file_bytes:
        # Checked before downloading: an oversized object must not take the worker's memory.
        return FileResult(
            status="failed",
            file_hash="",
            error_type=ErrorType.TOO_LARGE.value,
            error_message=f"File is {unit['size_bytes']} bytes; the per-file limit is {settings.max_file_bytes}.",
        )
    try:
        return store.objects.get_bytes(unit["input_key"], bucket=unit["input_bucket"])
    except ObjectNotFound:
        return FileResult(
            status="failed",
            file_hash="",
            error_type=ErrorType.SOURCE_NOT_FOUND.value,
            error_message=f"Input object s3://{unit['input_bucket']}/{unit['input_key']} no longer exists.",
        )


def _run_pipeline(
    store: Store,
    settings: Settings,
    job: dict[str, Any],
    unit: dict[str, Any],
    msg: UnitMessage,
    run_config: dict[str, Any],
    now: str,
) -> tuple[FileResult, str | None] | UnitOutcome:
    """Fetch the input and run the pipeline; returns the result and the job's own copy of the input, if made, or
    the outcome of splitting a long PDF into page-range units (jobs/split.py)."""
    from data_extract.jobs import split
    from data_extract.pipeline.run import FileResult, PipelineLimits, process_file

    data = _fetch_input(store, settings, unit)
    if isinstance(data, FileResult):
        return data, None
    unchanged = incremental.unchanged_in_worker(unit, data)
    if unchanged is not None:
        return unchanged, None  # incremental run: same content as the output that is current; nothing to extract
    password = open_password(job, msg.job_id)
    if isinstance(password, ExtractionError):
        return FileResult("failed", "", error_type=password.error_type.value, error_message=password.message), None
    kept_key = None
    if unit["input_key"].startswith("uploads/") and unit["input_bucket"] == store.objects.bucket:
        # Presigned uploads expire with the bucket's lifecycle; keep the job's own copy for retries.
        kept_key = paths.input_key(msg.job_id, unit["source_path"])
        store.objects.put_bytes(kept_key, data)
    ranges = split.plan_split(settings, run_config, unit, data, password)
    if isinstance(ranges, FileResult):
        return ranges, kept_key
    if ranges:
        source = (store.objects.bucket, kept_key) if kept_key else (unit["input_bucket"], unit["input_key"])
        return split.split_unit(store, msg, unit, (*source, hashlib.sha256(data).hexdigest()), ranges, now)
    result = process_file(
        data,
        source_path=unit["source_path"],
        options=output_options(run_config),
        extract_options=extract_options(settings, run_config, password),
        limits=PipelineLimits(settings.max_file_bytes, settings.extract_timeout_seconds, settings.extract_memory_mb),
        processing_timestamp=now,
    )
    return result, kept_key


def fail_unit_from_dead_letter(store: Store, msg: UnitMessage, receive_count: int | None) -> bool:
    """A unit whose message kept failing: record it failed so its job can still finish."""
    from data_extract.jobs import split

    if msg.first_page is not None:
        return split.fail_range_from_dead_letter(store, msg, receive_count)
    unit = store.table.get_unit(msg.job_id, msg.unit_id)
    if unit is None:
        return False
    if unit.get("split_run") == msg.run:
        # Split already: its page ranges carry the work and are counted instead (queue any never sent).
        split.resend_queued_ranges(store, msg.job_id, msg.unit_id, msg.run)
        return False
    record: dict[str, Any] = {
        "status": "failed",
        "error_type": ErrorType.DELIVERY_EXHAUSTED.value,
        "error_message": "Processing failed repeatedly (the worker crashed or timed out on every attempt)"
        + (f"; {receive_count} deliveries." if receive_count else "."),
        "chunk_count": 0,
    }
    if unit["input_key"].startswith("uploads/") and unit["input_bucket"] == store.objects.bucket:
        # The worker never got to keep its own copy; make it now, before the upload expires, so a retry can run.
        kept = paths.input_key(msg.job_id, unit["source_path"])
        try:
            store.objects.copy(unit["input_bucket"], unit["input_key"], kept)
            record.update(input_bucket=store.objects.bucket, input_key=kept)
        except Exception:
            logger.exception("could not keep the input of a dead-lettered unit", extra={"job_id": msg.job_id})
    event = (
        "file",
        f"{unit['source_path']}: failed (delivery_exhausted)",
        {
            "unit_id": msg.unit_id,
            "source_path": unit["source_path"],
            "status": "failed",
            "error_type": ErrorType.DELIVERY_EXHAUSTED.value,
            "run": msg.run,
        },
    )
    recorded = store.table.record_unit_result(msg.job_id, msg.unit_id, msg.run, record, event, now_rfc3339())
    hand_over_if_complete(store, msg.job_id, msg.run)
    return recorded


def fail_unsent_units(store: Store, job_id: str, run: int, units: Sequence[Mapping[str, Any]]) -> None:
    """Units whose messages could not be queued are failed at once, so the run still ends and can be retried."""
    for unit in units:
        record = {
            "status": "failed",
            "error_type": ErrorType.DISPATCH_FAILED.value,
            "chunk_count": 0,
            "error_message": "The file could not be queued for processing; retry the job's failed files.",
        }
        event = (
            "file",
            f"{unit['source_path']}: failed (dispatch_failed)",
            {
                "unit_id": unit["unit_id"],
                "source_path": unit["source_path"],
                "status": "failed",
                "error_type": ErrorType.DISPATCH_FAILED.value,
                "run": run,
            },
        )
        store.table.record_unit_result(job_id, unit["unit_id"], run, record, event, now_rfc3339())
    hand_over_if_complete(store, job_id, run)


def dispatch_units(store: Store, job_id: str, run: int, units: Sequence[Mapping[str, Any]], source: str) -> int:
    """Queue one message per unit; whatever could not be queued is failed. Returns the number queued."""
    from data_extract.store import QueueError

    try:
        store.queues.send_work([{"job_id": job_id, "unit_id": u["unit_id"], "run": run} for u in units])
        sent = len(units)
    except QueueError as exc:
        logger.error(
            "work messages could not all be queued", extra={"job_id": job_id, "sent": exc.sent, "total": len(units)}
        )
        sent = exc.sent
        store.table.add_event(
            job_id,
            "error",
            "Some file units could not be queued",
            {"run": run, "queued": sent, "failed": len(units) - sent},
        )
        fail_unsent_units(store, job_id, run, units[sent:])
    # A fast worker may already have moved the job on; only a still-pending dispatch becomes "submitted".
    with contextlib.suppress(ConditionFailed):
        store.table.update_job(
            job_id,
            {"dispatch_state": "submitted"},
            condition="dispatch_state = :pending",
            condition_values={":pending": "pending_dispatch"},
        )
    store.table.add_event(
        job_id, "dispatch", "File units submitted to the work queue", {"source": source, "units": sent, "run": run}
    )
    return sent


def hand_over_if_complete(store: Store, job_id: str, run: int) -> bool:
    """Send the run to finalize when its last unit is done: exactly one caller wins the claim."""
    run_item = store.table.get_run(job_id, run)
    if run_item is None or int(run_item.get("done_units", 0)) < int(run_item["total_units"]):
        return False
    now = now_rfc3339()
    if store.table.claim_finalize(job_id, run, now):
        try:
            store.queues.send_finalize({"job_id": job_id, "run": run})
        except Exception:
            store.table.release_finalize_claim(job_id, run)  # let the retry of this message claim again
            raise
        return True
    if run_item.get("finalize_state") == "claimed":
        claimed_at = datetime.fromisoformat(run_item["finalize_claimed_at"].replace("Z", "+00:00"))
        job = store.table.get_job(job_id)
        stuck = job is not None and job["status"] not in TERMINAL_JOB_STATUSES
        if stuck and datetime.now(UTC) - claimed_at > FINALIZE_RESEND_AFTER:
            store.queues.send_finalize({"job_id": job_id, "run": run})  # finalize itself runs once per run
            return True
    return False
