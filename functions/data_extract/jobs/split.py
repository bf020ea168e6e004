"""Big PDFs across workers: the split of a file unit into page-range units, their processing, and the merge.

- The split is decided by the worker that claims a PDF's unit (the API never parses a PDF): it counts the pages and
  samples whether they are scans (pypdfium2, in the guard's child process). Above one unit's worth of pages
  (``split_text_pages_per_unit``, or ``split_ocr_pages_per_unit`` for scans that OCR will read) the unit is split:
  one DynamoDB transaction marks it split for this run, writes the page-range units and raises the run's expected
  unit count, then one work message per range is sent. The transaction's condition makes a redelivered message
  find the unit split already: it re-sends the ranges still queued and never splits twice.
- A range unit reads only its pages (``ExtractOptions.page_range``), keeps its extracted part in S3 and is counted
  for the run like any unit. The file itself stays ``running``: the ranges stand for it in the run's count.
- Finalize merges a split file before it builds the run's result: the parts in page order, then normalize, chunk
  and output once over the whole document, so chunk ids, indices and page numbers are those of a single worker's
  result. A range that failed fails the file with its error (its pages named); a range skipped by a cancel skips
  the file; the job's other files are untouched.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from data_extract.contract import now_rfc3339
from data_extract.pipeline.pages import PageRange, merge_parts, part_from_json, part_of, plan_ranges, survey_isolated
from data_extract.pipeline.types import ErrorType, ExtractionError, ExtractOptions
from data_extract.settings import Settings, get_settings
from data_extract.store import ObjectNotFound, Store

if TYPE_CHECKING:
    from data_extract.jobs.units import UnitMessage, UnitOutcome
    from data_extract.pipeline.run import FileResult

logger = logging.getLogger(__name__)

# DynamoDB takes 100 items per transaction: the unit, the run and at most this many ranges.
MAX_RANGES = 97
SURVEY_TIMEOUT_S = 30.0


def part_key(job_id: str, unit_id: str, first_page: int) -> str:
    """S3 key of a page range's extracted part (a record: only the merge reads it)."""
    return f"records/jobs/{job_id}/parts/{unit_id}/{first_page:06d}.json.gz"


def range_message(job_id: str, unit_id: str, run: int, first_page: int) -> dict[str, Any]:
    return {"job_id": job_id, "unit_id": unit_id, "run": run, "first_page": first_page}


# ---------------------------------------------------------------- the split (worker, on the file's own message


def plan_split(
    settings: Settings, run_config: dict[str, Any], unit: dict[str, Any], data: bytes, password: str | None
) -> list[PageRange] | FileResult | None:
    """The page ranges of a PDF too long for one worker; None to process it whole; a failed result when it is
    over even the split page limit."""
    from data_extract.pipeline.detect import detect_format
    from data_extract.pipeline.run import FileResult

    try:
        if detect_format(data, unit["source_path"].rsplit("/", 1)[-1]) != "pdf":
            return None
    except ExtractionError:
        return None  # not a format we read: the whole-file path says so
    survey = survey_isolated(data, password, SURVEY_TIMEOUT_S, settings.extract_memory_mb)
    if survey is None:
        return None
    ocr = settings.ocr_enabled and bool(run_config.get("ocr", True))
    per_unit = settings.split_ocr_pages_per_unit if survey.scanned and ocr else settings.split_text_pages_per_unit
    if survey.page_count <= per_unit:
        return None
    if survey.page_count > settings.max_split_pages:
        return FileResult(
            status="failed",
            file_hash="",
            error_type=ErrorType.TOO_MANY_PAGES.value,
            error_message=f"The PDF has {survey.page_count} pages; the limit is {settings.max_split_pages}.",
            page_count=survey.page_count,
        )
    return plan_ranges(survey.page_count, per_unit, MAX_RANGES)


def split_unit(
    store: Store,
    msg: UnitMessage,
    unit: dict[str, Any],
    source: tuple[str, str, str],
    ranges: list[PageRange],
    now: str,
) -> UnitOutcome:
    """Record the split and queue its ranges. ``source`` is the input's bucket, key and content hash."""
    from data_extract.jobs.units import UnitOutcome

    bucket, key, file_hash = source
    fields = {"file_hash": file_hash, "page_count": ranges[-1].last, "split_at": now}
    fields.update(input_bucket=bucket, input_key=key)
    items = [
        {
            "parent_unit_id": msg.unit_id,
            "first_page": r.first,
            "last_page": r.last,
            "run": msg.run,
            "status": "queued",
            "source_path": unit["source_path"],
            "input_bucket": bucket,
            "input_key": key,
            "size_bytes": unit.get("size_bytes"),
        }
        for r in ranges
    ]
    if store.table.split_unit(msg.job_id, msg.unit_id, msg.run, fields, items, now):
        store.table.add_event(
            msg.job_id,
            "split",
            f"{unit['source_path']}: {ranges[-1].last} pages in {len(ranges)} page ranges",
            {"unit_id": msg.unit_id, "run": msg.run, "pages": ranges[-1].last, "ranges": len(ranges)},
        )
    resend_queued_ranges(store, msg.job_id, msg.unit_id, msg.run)
    return UnitOutcome("split", page_count=ranges[-1].last, size_bytes=len_or_none(unit.get("size_bytes")))


def resend_queued_ranges(store: Store, job_id: str, unit_id: str, run: int) -> int:
    """Queue the split unit's ranges of this run that have not started (all of them right after the split; after
    a crash between the split and the send, those the first delivery did not get to). Returns how many."""
    queued = [r for r in store.table.list_unit_ranges(job_id, unit_id) if r["run"] == run and r["status"] == "queued"]
    if queued:
        store.queues.send_work([range_message(job_id, unit_id, run, int(r["first_page"])) for r in queued])
    return len(queued)


def len_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) else None


# ---------------------------------------------------------------- one page range (worker)


def process_range(store: Store, settings: Settings, msg: UnitMessage, job: dict[str, Any] | None) -> UnitOutcome:
    """Extract one page range of a split unit and count it for the run, exactly once per run."""
    from data_extract.jobs.units import CANCELLED_STATES, UnitOutcome, hand_over_if_complete

    first_page = _first_page(msg)
    now = now_rfc3339()
    claimed = store.table.claim_range(msg.job_id, msg.unit_id, first_page, msg.run, now) if job else None
    if job is None or claimed is None:
        hand_over_if_complete(store, msg.job_id, msg.run)
        return UnitOutcome("duplicate" if job is not None else "stale")
    pages = PageRange(first_page, int(claimed["last_page"]))
    if job["status"] in CANCELLED_STATES:
        record = _cancelled_range("Not processed: the job was cancelled.")
    else:
        record = _extract_range(store, settings, msg, job, claimed, pages)
        if store.table.get_job_status(msg.job_id) in CANCELLED_STATES:
            record = _cancelled_range("Processing stopped: the job was cancelled before these pages were kept.")
    recorded = store.table.record_range_result(msg.job_id, msg.unit_id, first_page, msg.run, record, now_rfc3339())
    hand_over_if_complete(store, msg.job_id, msg.run)
    if not recorded:
        return UnitOutcome("duplicate")
    timings = {"extract": float(record.get("extract_ms") or 0.0)}
    return UnitOutcome(
        "range", record.get("error_type"), stage_timings_ms=timings, page_count=pages.last - pages.first + 1
    )


def _first_page(msg: UnitMessage) -> int:
    if msg.first_page is None:
        raise ValueError(f"unit {msg.unit_id}: not a page-range message")
    return msg.first_page


def _cancelled_range(message: str) -> dict[str, Any]:
    return {"status": "skipped", "error_type": ErrorType.CANCELLED.value, "error_message": message}


def _extract_range(
    store: Store,
    settings: Settings,
    msg: UnitMessage,
    job: dict[str, Any],
    claimed: dict[str, Any],
    pages: PageRange,
) -> dict[str, Any]:
    """Read the range's pages and keep its part; returns the range's result record."""
    from data_extract.jobs.units import extract_options, open_password
    from data_extract.pipeline.run import PipelineLimits, extract_range
    from data_extract.store.records import put_chunk_record

    try:
        data = store.objects.get_bytes(claimed["input_key"], bucket=claimed["input_bucket"])
    except ObjectNotFound:
        return {
            "status": "failed",
            "error_type": ErrorType.SOURCE_NOT_FOUND.value,
            "error_message": f"Input object s3://{claimed['input_bucket']}/{claimed['input_key']} no longer exists.",
        }
    password = open_password(job, msg.job_id)
    if isinstance(password, ExtractionError):
        return {"status": "failed", "error_type": password.error_type.value, "error_message": password.message}
    options: ExtractOptions = extract_options(settings, job["run_config"], password, (pages.first, pages.last))
    limits = PipelineLimits(settings.max_file_bytes, settings.extract_timeout_seconds, settings.extract_memory_mb)
    result, document, no_text = extract_range(
        data, source_path=claimed["source_path"], options=options, limits=limits
    )
    if document is None and no_text is None:
        return {"status": "failed", "error_type": result.error_type, "error_message": result.error_message}
    key = part_key(msg.job_id, msg.unit_id, pages.first)
    put_chunk_record(store.objects, key, dict(part_of(pages, document, no_text)))
    return {"status": "processed", "part_key": key, "extract_ms": result.stage_timings_ms.get("extract", 0.0)}


def fail_range_from_dead_letter(store: Store, msg: UnitMessage, receive_count: int | None) -> bool:
    """A range whose message kept failing: record it failed (its file fails with it) so the run can end."""
    from data_extract.jobs.units import hand_over_if_complete

    first_page = _first_page(msg)
    record = {
        "status": "failed",
        "error_type": ErrorType.DELIVERY_EXHAUSTED.value,
        "error_message": "Processing failed repeatedly (the worker crashed or timed out on every attempt)"
        + (f"; {receive_count} deliveries." if receive_count else "."),
    }
    recorded = store.table.record_range_result(msg.job_id, msg.unit_id, first_page, msg.run, record, now_rfc3339())
    hand_over_if_complete(store, msg.job_id, msg.run)
    return recorded


# ---------------------------------------------------------------- the merge (finalize)


def assemble_split_units(store: Store, job: dict[str, Any], run: int, units: list[dict[str, Any]]) -> bool:
    """Give every split unit of this run still waiting for its merge its one result; True when any was given
    (the caller reads the units again). Idempotent: a re-run of finalize writes the same outputs and finds the
    unit's result already recorded."""
    waiting = [u for u in units if u.get("split_run") == run and u.get("status") == "running"]
    for unit in waiting:
        assemble_unit(store, job, run, unit)
    return bool(waiting)


def fail_unmerged_units(store: Store, job_id: str, run: int, units: list[dict[str, Any]]) -> bool:
    """A run abandoned before its split units were merged (finalize kept failing, perhaps in the merge): each
    such unit fails, so the session counts every file. True when any did."""
    from data_extract.jobs.units import file_event
    from data_extract.pipeline.run import FileResult

    waiting = [u for u in units if u.get("split_run") == run and u.get("status") == "running"]
    for unit in waiting:
        result = FileResult(
            "failed",
            str(unit.get("file_hash") or ""),
            "pdf",
            error_type=ErrorType.INTERNAL_ERROR.value,
            error_message="Merging this file's page ranges failed repeatedly; it has been logged.",
        )
        record = {"status": result.status, "error_type": result.error_type, "error_message": result.error_message}
        store.table.record_split_result(
            job_id, unit["unit_id"], run, record, file_event(unit, result, run), now_rfc3339()
        )
    return bool(waiting)


def assemble_unit(store: Store, job: dict[str, Any], run: int, unit: dict[str, Any]) -> bool:
    from data_extract.jobs.units import UnitMessage, file_event, keep_chunk_record, result_record, write_outputs

    msg = UnitMessage(job["job_id"], unit["unit_id"], run)
    ranges = sorted(
        (r for r in store.table.list_unit_ranges(msg.job_id, msg.unit_id) if r["run"] == run),
        key=lambda r: int(r["first_page"]),
    )
    result = merged_result(store, job["run_config"], unit, ranges)
    output_keys = write_outputs(store, msg.job_id, result)
    if job["run_config"].get("include_semantic") and result.status == "processed":
        keep_chunk_record(store, msg, unit, result, output_keys, str(unit["split_at"]))
    record = result_record(msg.job_id, unit, result, output_keys, (unit["input_bucket"], unit["input_key"]))
    record["range_count"] = len(ranges)
    return store.table.record_split_result(
        msg.job_id, msg.unit_id, run, record, file_event(unit, result, run), now_rfc3339()
    )


def merged_result(
    store: Store, run_config: dict[str, Any], unit: dict[str, Any], ranges: list[dict[str, Any]]
) -> FileResult:
    """The file's result from its ranges: the first range's failure, a cancel, or the merged document's."""
    from data_extract.jobs.units import output_options
    from data_extract.pipeline.run import FileResult, process_document
    from data_extract.store.records import get_chunk_record

    file_hash = str(unit["file_hash"])
    unfinished = [r for r in ranges if r["status"] not in ("processed", "failed", "skipped")]
    if len(ranges) != int(unit["range_count"]) or unfinished:
        return FileResult(
            "failed",
            file_hash,
            "pdf",
            error_type=ErrorType.INTERNAL_ERROR.value,
            error_message="Some page ranges of this file have no result; it has been logged.",
        )
    for r in ranges:
        if r["status"] != "processed":
            label = PageRange(int(r["first_page"]), int(r["last_page"])).label
            status = "skipped" if r.get("error_type") == ErrorType.CANCELLED.value else "failed"
            message = f"{label[0].upper()}{label[1:]}: {r.get('error_message')}"
            return FileResult(status, file_hash, "pdf", error_type=r.get("error_type"), error_message=message)
    parts = [part_from_json(get_chunk_record(store.objects, r["part_key"])) for r in ranges]
    extract_ms = round(sum(float(r.get("extract_ms") or 0.0) for r in ranges), 3)
    try:
        document = merge_parts(parts, int(unit["page_count"]), get_settings().max_chars)
    except ExtractionError as exc:
        result = FileResult(exc.status, file_hash, "pdf", error_type=exc.error_type.value, error_message=exc.message)
        result.stage_timings_ms["extract"] = extract_ms
        return result
    return process_document(
        document,
        file_hash=file_hash,
        source_path=unit["source_path"],
        options=output_options(run_config),
        processing_timestamp=str(unit["split_at"]),
        extract_ms=extract_ms,
    )
