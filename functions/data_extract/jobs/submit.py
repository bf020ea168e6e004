"""Submitting a job: resolve its inputs, admit it, record it and fan it out (one message per file unit)."""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import json
import logging
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from data_extract.contract import JobOptions, JobStatus, now_rfc3339
from data_extract.jobs import dispatch, incremental, paths
from data_extract.jobs.errors import BadRequest, Conflict, Overloaded, PayloadTooLarge, Unprocessable
from data_extract.jobs.records import JobRecord, JobSourceFields, RunRecord, UnitRecord
from data_extract.jobs.units import dispatch_units, hand_over_if_complete
from data_extract.jobs.uploads import verify_uploaded
from data_extract.settings import Settings
from data_extract.store import ObjectNotFound, QueueError, SecretUnavailable, Store, parse_s3_uri, seal_secret

logger = logging.getLogger(__name__)

_GLOB_CHARS = set("*?[")


@dataclass
class InputFile:
    """One file a job will process, wherever its bytes are."""

    rel_path: str  # path shown to users and used for output names, e.g. "reports/a.pdf"
    bucket: str
    key: str
    size: int
    fingerprint: str  # content hash (uploads) or ETag (S3 inputs): part of the idempotency hash
    data: bytes | None = field(default=None, repr=False)  # multipart bytes not yet stored
    content_type: str = "application/octet-stream"


@dataclass
class ResolvedInputs:
    files: list[InputFile]
    display_path: str  # input_path shown in job summaries
    source_uri: str | None = None  # input_path jobs: the S3 location, normalized (the job's source)


@dataclass
class SubmitOutcome:
    job_id: str
    status: JobStatus
    created: bool  # False for an idempotent replay


def request_hash(source: dict[str, Any], options: JobOptions) -> str:
    """Identity of a submission: what the client sent (file contents, or the input_path/upload_id it named)
    and its options. Computed before anything is resolved, so an idempotent replay never depends on S3 state."""
    payload = {
        "source": source,
        "options": options.model_dump(mode="json", exclude={"idempotency_key", "password"}),
        # The password changes what the job can read, so it is part of the identity, but never in clear.
        "password": hashlib.sha256(options.password.encode()).hexdigest() if options.password else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def uploaded_source(files: list[InputFile]) -> dict[str, Any]:
    return {"files": sorted([f.rel_path, f.fingerprint, f.size] for f in files)}


# ---------------------------------------------------------------- input resolution


def check_upload_limits(settings: Settings, sizes: list[tuple[str, int]]) -> None:
    if len(sizes) > settings.api_max_upload_files:
        raise PayloadTooLarge(f"Upload file count exceeds limit ({settings.api_max_upload_files}).")
    for name, size in sizes:
        if size > settings.api_max_upload_file_bytes:
            raise PayloadTooLarge(
                f"File '{name}' exceeds per-file upload limit ({settings.api_max_upload_file_bytes} bytes)."
            )
    if sum(size for _, size in sizes) > settings.api_max_upload_total_bytes:
        raise PayloadTooLarge(f"Total upload payload exceeds limit ({settings.api_max_upload_total_bytes} bytes).")


def dedupe_inputs(files: list[InputFile]) -> list[InputFile]:
    """Inputs sorted by path; two inputs with one path are refused (their outputs would collide)."""
    seen: set[str] = set()
    for f in files:
        if f.rel_path in seen:
            raise BadRequest(f"Duplicate file name in upload: {f.rel_path}")
        seen.add(f.rel_path)
    return sorted(files, key=lambda f: f.rel_path)


def resolve_upload_id(store: Store, settings: Settings, upload_id: str) -> ResolvedInputs:
    if not upload_id.isalnum() or len(upload_id) > 64:
        raise BadRequest(f"Invalid upload_id: {upload_id!r}")
    prefix = paths.upload_prefix(upload_id)
    objects = [o for o in store.objects.list(prefix) if not o.key.endswith("/")]
    if not objects:
        raise BadRequest(f"Upload {upload_id} has no files; PUT them to the presigned URLs first.")
    verify_uploaded(store, upload_id, objects)
    files = [InputFile(o.key[len(prefix) :], store.objects.bucket, o.key, o.size, o.etag) for o in objects]
    check_upload_limits(settings, [(f.rel_path, f.size) for f in files])
    return ResolvedInputs(dedupe_inputs(files), f"upload:{upload_id}")


def _inside_roots(bucket: str, key: str, roots: list[str]) -> bool:
    for root in roots:
        root_bucket, root_prefix = parse_s3_uri(root)
        if bucket != root_bucket:
            continue
        if not root_prefix or root_prefix.endswith("/"):
            if key.startswith(root_prefix):
                return True
        elif key == root_prefix or key.startswith(root_prefix + "/"):
            return True
    return False


def resolve_input_path(store: Store, settings: Settings, raw: str, options: JobOptions) -> ResolvedInputs:
    """Turn s3://bucket/prefix, a key, or a glob into the list of objects to process."""
    try:
        return _resolve_input_path(store, settings, raw, options)
    except ObjectNotFound as exc:
        raise BadRequest(f"No files found at input_path '{raw}': {exc} does not exist") from None


def _resolve_input_path(store: Store, settings: Settings, raw: str, options: JobOptions) -> ResolvedInputs:
    text = raw.strip()
    if not text:
        raise BadRequest("Invalid input_path '': input_path must not be empty")
    try:
        bucket, key = parse_s3_uri(text) if text.startswith("s3://") else (store.objects.bucket, text.lstrip("/"))
    except ValueError as exc:
        raise BadRequest(f"Invalid input_path '{raw}': {exc}") from None
    if paths.has_control_characters(text):
        raise BadRequest(f"Invalid input_path {raw!r}: NUL and other control characters are not allowed")
    if ".." in key.split("/"):
        raise BadRequest(f"Invalid input_path '{raw}': '..' segments are not allowed")
    roots = settings.allowed_input_roots
    glob_at = next((i for i, ch in enumerate(key) if ch in _GLOB_CHARS), None)
    fixed = key if glob_at is None else key[:glob_at]
    if not roots or (
        not _inside_roots(bucket, fixed, roots) and not _inside_roots(bucket, key.rstrip("/") + "/", roots)
    ):
        allowed = ", ".join(roots) if roots else "(none configured)"
        raise BadRequest(f"input_path '{raw}' is not allowed. Allowed roots: {allowed}")

    found: list[InputFile] = []
    source_location = key
    if glob_at is not None:
        base = fixed.rsplit("/", 1)[0] + "/" if "/" in fixed else ""
        for obj in store.objects.list(base, bucket=bucket):
            if (
                not obj.key.endswith("/")
                and fnmatch.fnmatchcase(obj.key, key)
                and _inside_roots(bucket, obj.key, roots)
            ):
                found.append(InputFile(obj.key[len(base) :], bucket, obj.key, obj.size, obj.etag))
    else:
        prefix = key if key.endswith("/") or not key else key + "/"
        source_location = prefix
        for obj in store.objects.list(prefix, bucket=bucket):
            rel = obj.key[len(prefix) :]
            if obj.key.endswith("/") or (not options.recursive and "/" in rel):
                continue
            found.append(InputFile(rel, bucket, obj.key, obj.size, obj.etag))
        if not found and key and not key.endswith("/"):
            # Not a single object either (missing, or not readable): the "No files found" error below says so.
            with contextlib.suppress(Exception):
                info = store.objects.head(key, bucket=bucket)
                found.append(InputFile(posixpath.basename(key), bucket, key, info.size, info.etag))
                source_location = key
    if not found:
        raise BadRequest(f"No files found at input_path '{raw}'")
    if options.source_files:
        wanted = {s.strip().lstrip("/") for s in options.source_files}
        by_rel = {f.rel_path: f for f in found}
        missing = sorted(wanted - by_rel.keys())
        if missing:
            raise BadRequest(f"source_files not found under input_path: {', '.join(missing[:20])}")
        found = [by_rel[w] for w in sorted(wanted)]
    if len(found) > settings.api_max_upload_files:
        raise PayloadTooLarge(f"input_path matches {len(found)} files; the limit is {settings.api_max_upload_files}.")
    check_upload_limits(settings, [(f.rel_path, f.size) for f in found])
    return ResolvedInputs(dedupe_inputs(found), text, f"s3://{bucket}/{source_location}")


# ---------------------------------------------------------------- submission


def check_admission(store: Store, settings: Settings) -> None:
    depth = store.queues.depth(store.queues.work_url)
    if depth is None:
        raise Overloaded("Work queue is unreachable; try again later.", settings.api_queue_retry_hint_seconds)
    backlog = depth["visible"] + depth["delayed"]
    if backlog >= settings.api_queue_high_watermark:
        retry_after = max(settings.api_queue_retry_hint_seconds, min(60, backlog // 1000 + 1))
        raise Overloaded(
            f"Queue backlog is above the admission watermark ({backlog}/{settings.api_queue_high_watermark}); "
            f"try again later. Retry after ~{retry_after}s.",
            retry_after,
        )


# Options that are not part of the preset cascade but that every file unit needs.
_PASS_THROUGH = (
    "per_chunk",
    "organize",
    "strategy",
    "delimiter",
    "continue_on_error",
    "ocr",
    "include_semantic",
    "semantic_report",
    "semantic_report_format",
    "semantic_export_graph",
    "semantic_graph_format",
    "include_evaluation",
    "evaluation_policy",
    "evaluation_fail_on_bad",
    "table_csv",
)


def build_run_config(options: JobOptions, resolved: dict[str, Any], pipeline_profile: str = "auto") -> dict[str, Any]:
    """The effective configuration a run uses: preset cascade plus per-job layout and stage switches."""
    return {
        **resolved,
        **options.model_dump(mode="json", include=set(_PASS_THROUGH)),
        "pipeline_profile": pipeline_profile,
        "pipeline_profile_effect": incremental.PROFILE_NOTE.format(profile=pipeline_profile),
    }


# A key whose job was never created (the submitting invocation died in between) is taken over after
# this long: longer than any API invocation can run.
ABANDONED_KEY_AFTER = timedelta(minutes=2)


def _replay(store: Store, existing: dict[str, Any], digest: str, key: str) -> SubmitOutcome | None:
    """The earlier job for this key, or None when the key's job was never created and the key was taken over."""
    if existing.get("request_hash") != digest:
        raise Conflict(f"Idempotency key '{key}' was already used with a different request.")
    job = store.table.get_job(existing["job_id"])
    if job is not None:
        return SubmitOutcome(existing["job_id"], JobStatus(job["status"]), created=False)
    claimed_at = datetime.fromisoformat(existing["created_at"].replace("Z", "+00:00"))
    if datetime.now(UTC) - claimed_at < ABANDONED_KEY_AFTER:
        return SubmitOutcome(existing["job_id"], JobStatus.queued, created=False)  # being created right now
    return None


def submit_job(
    store: Store,
    settings: Settings,
    options: JobOptions,
    source: dict[str, Any],
    resolve: Callable[[], ResolvedInputs],
    request_payload: dict[str, Any],
) -> SubmitOutcome:
    """Admit, record and fan out a job. Idempotent replays return the existing job.

    ``source`` identifies what the client sent (see ``request_hash``); ``resolve`` lists the files, and is
    only called for a new job.
    """
    from data_extract.presets import InvalidRunConfig, PresetError, resolve_run_config

    preset = options.preset or store.table.get_setting("last_preset")
    try:
        run_config = resolve_run_config(options.model_dump(mode="json"), set(options.model_fields_set), preset)
    except PresetError as exc:
        raise Unprocessable(str(exc)) from None
    except InvalidRunConfig as exc:
        raise Unprocessable(f"Invalid configuration: {exc}") from None

    if options.callback_url:
        from data_extract.jobs.notify import CallbackRefused, check_callback_url

        try:
            check_callback_url(options.callback_url, settings)
        except CallbackRefused as exc:
            raise BadRequest(f"Invalid callback_url: {exc}") from None
    digest = request_hash(source, options)
    job_id = paths.new_job_id()
    created_at = now_rfc3339()
    key = options.idempotency_key
    if key:
        existing = store.table.claim_idempotency_key(key, digest, job_id, created_at)
        if existing is not None:
            replay = _replay(store, existing, digest, key)
            if replay is not None:
                return replay
            if not store.table.take_over_idempotency_key(key, existing["job_id"], digest, job_id, created_at):
                raise Conflict(f"Idempotency key '{key}' is being used by a concurrent request; retry shortly.")
    try:
        inputs = resolve()
        check_admission(store, settings)
        if options.password and not settings.secrets_key_id:
            raise SecretUnavailable("no KMS key is configured for job secrets")
        profile = str(options.pipeline_profile or settings.pipeline_profile)
        config = build_run_config(options, run_config.to_dict(), profile)
        plan = incremental.plan_run(store, settings, options, inputs.files, inputs.source_uri, config)
        # Files the job will not process (unchanged, already processed) are not stored again.
        _store_inline_inputs(store, job_id, [f for f in inputs.files if plan.file(f.rel_path).status == "queued"])
        _create_and_dispatch(
            store, settings, job_id, created_at, options, inputs, config, preset, digest, request_payload, plan
        )
    except BaseException:
        if key:
            store.table.release_idempotency_key(key, job_id)
        raise
    return SubmitOutcome(job_id, JobStatus.queued, created=True)


def _store_inline_inputs(store: Store, job_id: str, files: list[InputFile]) -> None:
    for f in files:
        if f.data is not None:
            key = paths.input_key(job_id, f.rel_path)
            store.objects.put_bytes(key, f.data, f.content_type)
            f.bucket, f.key, f.data = store.objects.bucket, key, None


def _create_and_dispatch(
    store: Store,
    settings: Settings,
    job_id: str,
    created_at: str,
    options: JobOptions,
    inputs: ResolvedInputs,
    run_config: dict[str, Any],
    preset: str | None,
    digest: str,
    request_payload: dict[str, Any],
    plan: incremental.RunPlan | None = None,
) -> None:
    plan = plan or incremental.RunPlan()
    session_id = paths.new_session_id()
    units = _unit_records(inputs.files, options, plan, created_at)
    queued = [u for u in units if u["status"] == "queued"]
    fan_out = dispatch.fans_out_async(settings, len(queued))
    # A large job's units are written by the dispatch function, slice by slice: the slices are stored first, so
    # no dispatch message ever finds its job without them.
    slices = dispatch.store_slices(store, settings, job_id, units) if fan_out else 0
    job = _job_record(store, settings, job_id, created_at, options, inputs.display_path, digest, plan.job_fields())
    job.update({"preset": preset, "run_config": run_config, "request_payload": request_payload})
    job["session_id"] = session_id
    if fan_out:
        job.update({"dispatch_slices": slices, "dispatch_slice": 0, "dispatch_units": len(units)})
    # Files skipped at submit (unchanged, already processed) are done from the start.
    run = _first_run(settings, session_id, created_at, len(units), len(units) - len(queued))
    store.table.create_job(
        job,
        [] if fan_out else units,
        run,
        {
            "event_type": "queued",
            "message": "Job queued for processing",
            "payload": {"files": len(units), "to_process": len(queued)},
            "event_time": created_at,
        },
    )
    incremental.record_job(store, job_id, created_at, plan)
    if fan_out:
        _start_fan_out(store, job_id)
        return
    dispatch_units(store, job_id, 1, queued, "process_enqueue")
    if not queued:
        # Nothing to extract: the run goes straight to finalize.
        store.table.mark_job_running(job_id, 1, now_rfc3339())
        hand_over_if_complete(store, job_id, 1)


def _start_fan_out(store: Store, job_id: str) -> None:
    """The first slice's message; when the queue refuses it, the job is recorded and the sweeper resumes it."""
    try:
        dispatch.start_fan_out(store, job_id, 1)
    except QueueError:
        logger.error("the dispatch message could not be sent", extra={"job_id": job_id})
        store.table.add_event(
            job_id,
            "error",
            "The dispatch message could not be sent; the sweeper resumes the job's fan-out",
            {"run": 1},
        )


def _unit_records(
    files: list[InputFile], options: JobOptions, plan: incremental.RunPlan, created_at: str, first: int = 1
) -> list[UnitRecord]:
    """One file unit per input, numbered from ``first`` in input order (the unit id is the file's place)."""
    return [_unit_record(f"{i:05d}", f, options, plan, created_at) for i, f in enumerate(files, start=first)]


def _unit_record(
    unit_id: str, f: InputFile, options: JobOptions, plan: incremental.RunPlan, created_at: str
) -> UnitRecord:
    unit: UnitRecord = {
        "unit_id": unit_id,
        "source_path": f.rel_path,
        "input_bucket": f.bucket,
        "input_key": f.key,
        "size_bytes": f.size,
        "status": "queued",
        "run": 1,
        "retry_count": 0,
        "chunk_count": 0,
        "attempts": 0,
        "updated_at": created_at,
    }
    plan.file(f.rel_path).apply_to(unit)
    if options.incremental and f.data is None and f.fingerprint:
        unit["etag"] = f.fingerprint  # the S3 object's ETag, for incremental runs' cheap comparison at submit
    return unit


def _job_record(
    store: Store,
    settings: Settings,
    job_id: str,
    created_at: str,
    options: JobOptions,
    display_path: str,
    digest: str,
    source: JobSourceFields,
) -> JobRecord:
    """The job item: its fields that follow from the request and the run plan's ``source`` fields; the caller
    sets the configuration and the session (empty here, so the record is whole from the start)."""
    return {
        "preset": None,
        "run_config": {},
        "request_payload": {},
        "session_id": "",
        "source_id": source["source_id"],
        "source_digest": source["source_digest"],
        "incremental": source["incremental"],
        "resumes": source["resumes"],
        "notes": source["notes"],
        "ignored_fields": source["ignored_fields"],
        "pipeline_profile": source["pipeline_profile"],
        "job_id": job_id,
        "status": "queued",
        "input_path": display_path,
        "output_dir": f"s3://{store.objects.bucket}/{paths.output_key(job_id, '')}",
        "artifact_dir": f"s3://{store.objects.bucket}/{paths.job_prefix(job_id)}",
        "requested_format": options.output_format.value,
        "chunk_size": options.chunk_size,
        # Never stored in clear: sealed with the stack's KMS key, bound to this job (only the worker can open it).
        "sealed_password": seal_secret(settings.secrets_key_id, options.password, job_id)
        if options.password
        else None,
        "request_hash": digest,
        "idempotency_key": options.idempotency_key,
        "callback_url": options.callback_url,
        "dispatch_state": "pending_dispatch",
        "dispatch_attempts": 1,
        "artifact_sync_state": "pending",
        "artifact_sync_attempts": 0,
        "created_at": created_at,
        "updated_at": created_at,
        "current_run": 1,
        "cleaned": False,
        "halted": False,
    }


def _first_run(settings: Settings, session_id: str, created_at: str, total: int, done: int) -> RunRecord:
    """Run 1's record; ``done`` counts the files finished at submit, the counter shards count the rest."""
    return {
        "run": 1,
        "kind": "process",
        "session_id": session_id,
        "total_units": total,
        "done_units": done,
        "counter_shards": settings.run_counter_shards,
        "status": "queued",
        "started_at": created_at,
    }
