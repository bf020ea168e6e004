"""Read models: job list and detail with live progress, artifacts, sessions."""

from __future__ import annotations

import posixpath
from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from data_extract.contract import (
    ArtifactInfo,
    FileStatus,
    JobDetail,
    JobEvent,
    JobFile,
    JobProgress,
    JobSummary,
    SessionDetail,
    SessionSummary,
)
from data_extract.jobs import dispatch, incremental, paths, records
from data_extract.jobs.errors import NotFound
from data_extract.jobs.records import JobRecord, UnitRecord
from data_extract.store import ObjectNotFound, Store


def _summary(job: JobRecord) -> JobSummary:
    return JobSummary(
        job_id=job["job_id"],
        status=job["status"],
        input_path=job["input_path"],
        output_dir=job["output_dir"],
        created_at=job["created_at"],
        started_at=job.get("started_at"),
        finished_at=job.get("finished_at"),
        session_id=job.get("session_id"),
    )


def list_jobs(store: Store, limit: int, offset: int) -> list[JobSummary]:
    return [_summary(j) for j in records.jobs_page(store, limit, offset)]


def _require_job(store: Store, job_id: str) -> JobRecord:
    job = records.job(store, job_id)
    if job is None:
        raise NotFound(f"Job not found: {job_id}")
    return job


def _job_file(u: UnitRecord) -> JobFile:
    return JobFile(
        file_id=u["unit_id"],
        source_path=u["source_path"],
        output_path=u.get("output_path"),
        status=u["status"],
        chunk_count=int(u.get("chunk_count", 0)),
        retry_count=int(u.get("retry_count", 0)),
        size_bytes=u.get("size_bytes"),
        detected_format=u.get("detected_format"),
        error_type=u.get("error_type"),
        error_message=u.get("error_message"),
        stage_timings_ms=u.get("stage_timings_ms") or {},
        updated_at=u.get("updated_at"),
        current_job_id=u.get("current_job_id"),
        current_output_path=u.get("current_output_path"),
    )


def progress_of(units: list[UnitRecord], unwritten: int = 0) -> JobProgress:
    """Counts by status; ``unwritten`` file units of a fan-out still under way count as queued."""
    counts = Counter(u["status"] for u in units)
    queued = counts.get(FileStatus.queued, 0) + unwritten
    running = counts.get(FileStatus.running, 0)
    return JobProgress(
        total=len(units) + unwritten,
        queued=queued,
        running=running,
        processed=counts.get(FileStatus.processed, 0),
        failed=counts.get(FileStatus.failed, 0),
        skipped=counts.get(FileStatus.skipped, 0),
        pending=queued + running,
    )


def job_detail(store: Store, job_id: str, file_limit: int, event_limit: int) -> JobDetail:
    job = _require_job(store, job_id)
    units = records.units(store, job_id)
    result_payload = None
    if job.get("result_key"):
        try:
            result_payload = store.objects.get_json(job["result_key"])
        except ObjectNotFound:
            result_payload = None
    run_config = job["run_config"]
    return JobDetail(
        job_id=job_id,
        status=job["status"],
        input_path=job["input_path"],
        output_dir=job["output_dir"],
        requested_format=job["requested_format"],
        chunk_size=int(job["chunk_size"]),
        effective_format=run_config["output_format"],
        effective_chunk_size=int(run_config["chunk_size"]),
        effective_chunk_overlap=int(run_config["chunk_overlap"]),
        preset=job.get("preset"),
        request_hash=job["request_hash"],
        dispatch_state=job["dispatch_state"],
        dispatch_attempts=int(job.get("dispatch_attempts", 1)),
        artifact_dir=job["artifact_dir"],
        artifact_sync_state=job.get("artifact_sync_state", "pending"),
        artifact_sync_attempts=int(job.get("artifact_sync_attempts", 0)),
        artifact_sync_error=job.get("artifact_sync_error"),
        result_checksum=job.get("result_checksum"),
        created_at=job["created_at"],
        started_at=job.get("started_at"),
        finished_at=job.get("finished_at"),
        updated_at=job["updated_at"],
        session_id=job.get("session_id"),
        request_payload=job["request_payload"],
        result_payload=result_payload,
        progress=progress_of(units, dispatch.unwritten_units(job, len(units))),
        # Newest activity first: with a file_limit, the files a person is watching are the ones still changing.
        files=[
            _job_file(u)
            for u in sorted(units, key=lambda u: (u.get("updated_at", ""), u["unit_id"]), reverse=True)[:file_limit]
        ],
        events=[
            JobEvent(
                event_type=e["event_type"],
                message=e["message"],
                payload=e.get("payload") or {},
                event_time=e["event_time"],
            )
            for e in store.table.list_events(job_id, event_limit)
        ],
        pipeline_profile=job.get("pipeline_profile") or run_config.get("pipeline_profile") or "auto",
        source=job.get("source_id"),
        incremental=incremental.incremental_summary(job, units),
        resumes=job.get("resumes"),
        ignored_fields=job.get("ignored_fields") or {},
        notes=job.get("notes") or [],
    )


def list_artifacts(store: Store, job_id: str) -> list[ArtifactInfo]:
    _require_job(store, job_id)
    prefix = paths.job_prefix(job_id)
    return sorted(
        (
            ArtifactInfo(path=o.key[len(prefix) :], size_bytes=o.size, modified_at=o.last_modified)
            for o in store.objects.list(prefix)
        ),
        key=lambda a: a.path,
    )


@dataclass
class ArtifactDownload:
    key: str
    filename: str
    content_type: str
    size: int


def locate_artifact(store: Store, job_id: str, artifact_path: str) -> ArtifactDownload:
    """Find a downloadable artifact; the path has already passed ``paths.validate_artifact_path``.

    The path names the key literally. Only when no key has that name, a key whose name holds percent-escapes
    that decode to it is taken (when exactly one does): a client that pasted a listed name such as
    ``50%25off.txt`` into the URL unencoded, or a gateway that decoded the path once more, still reaches the
    file the listing showed.
    """
    _require_job(store, job_id)
    prefix = paths.job_prefix(job_id)
    key = prefix + artifact_path
    try:
        info = store.objects.head(key)
    except ObjectNotFound:
        decoded_to = [
            o
            for o in store.objects.list(prefix)
            if "%" in o.key[len(prefix) :] and unquote(o.key[len(prefix) :]) == artifact_path
        ]
        if len(decoded_to) != 1:
            raise NotFound(f"Artifact not found: {artifact_path}") from None
        info = decoded_to[0]
        key, artifact_path = info.key, info.key[len(prefix) :]
    filename = posixpath.basename(artifact_path)
    content_type = _content_type(artifact_path)
    return ArtifactDownload(key=key, filename=filename, content_type=content_type, size=info.size)


# Types served as what they are: data a browser shows but never runs. Everything else (an uploaded .html or .svg
# input, an HTML output) goes out as application/octet-stream, so no artifact can become a page of this origin.
# The one exception is the service's own semantic report: its HTML is written by the service with every text
# escaped, and it is served with a policy that runs no script and gives it no origin (see REPORT_CSP).
_INERT_TYPES = {
    ".json": "application/json",
    ".jsonl": "application/json",
    ".ndjson": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    ".log": "text/plain; charset=utf-8",
    ".dot": "text/plain; charset=utf-8",
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".bmp": "image/bmp",
}


DOWNLOAD_MEDIA_TYPES = sorted({"application/octet-stream", "text/html; charset=utf-8", *_INERT_TYPES.values()})


REPORT_PREFIX = "semantic/"
REPORT_CONTENT_TYPE = "text/html; charset=utf-8"
# Inline styles and data: images (the report's histogram) only; sandbox without allow-scripts or allow-same-origin.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def _content_type(artifact_path: str) -> str:
    extension = posixpath.splitext(artifact_path.lower())[1]
    if extension == ".html" and artifact_path.startswith(REPORT_PREFIX):
        return REPORT_CONTENT_TYPE
    return _INERT_TYPES.get(extension, "application/octet-stream")


# ---------------------------------------------------------------- sessions


def _session_summary(item: dict[str, Any]) -> SessionSummary:
    return SessionSummary(
        session_id=item["session_id"],
        job_id=item["job_id"],
        run=int(item.get("run", 1)),
        status=item["status"],
        source_directory=item["source_directory"],
        total_files=int(item["total_files"]),
        processed_count=int(item["processed_count"]),
        failed_count=int(item["failed_count"]),
        skipped_count=int(item.get("skipped_count", 0)),
        updated_at=item["updated_at"],
    )


def list_sessions(store: Store, limit: int, offset: int) -> list[SessionSummary]:
    """Sessions from the DynamoDB projection, completed by the S3 records the projection is missing."""
    wanted = offset + limit
    projected = store.table.list_sessions(limit=wanted)
    known = {s["session_id"] for s in projected}
    records: list[dict[str, Any]] = list(projected)
    # Only records the projection is missing are read, newest first, and never more than the page needs:
    # a record is written when its session ends, so its object time orders it like updated_at.
    missing = [
        o
        for o in store.objects.list(paths.SESSION_RECORD_PREFIX)
        if posixpath.basename(o.key).removesuffix(".json") not in known
    ]
    missing.sort(key=lambda o: o.last_modified, reverse=True)
    for obj in missing[:wanted]:
        try:
            records.append(store.objects.get_json(obj.key))
        except (ObjectNotFound, ValueError):
            continue
    records.sort(key=lambda s: (s["updated_at"], s["session_id"]), reverse=True)
    return [_session_summary(s) for s in records[offset : offset + limit]]


def session_detail(store: Store, session_id: str) -> SessionDetail:
    if not session_id.isalnum() or len(session_id) > 64:
        raise NotFound(f"Session not found: {session_id}")
    try:
        record = store.objects.get_json(paths.session_record_key(session_id))
    except ObjectNotFound:
        raise NotFound(f"Session not found: {session_id}") from None
    return SessionDetail(**{k: v for k, v in record.items() if k in SessionDetail.model_fields})
