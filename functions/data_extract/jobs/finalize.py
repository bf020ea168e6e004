"""Finalize a run once its last file unit ended: result, governance, session record, terminal status."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from data_extract.contract import now_rfc3339
from data_extract.jobs import incremental, paths, split
from data_extract.store import Store

logger = logging.getLogger(__name__)

STAGES = ("extract", "normalize", "chunk", "semantic", "output")
SEMANTIC_STEPS = ("semantic_tfidf", "semantic_similarity", "semantic_lsa", "semantic_quality")
# What the table keeps of a session record (the list view); the whole record lives in S3.
SESSION_PROJECTION_FIELDS = (
    "session_id",
    "job_id",
    "run",
    "status",
    "source_directory",
    "total_files",
    "processed_count",
    "failed_count",
    "skipped_count",
    "updated_at",
)


@dataclass(frozen=True)
class FinalizeMessage:
    job_id: str
    run: int

    @classmethod
    def parse(cls, body: str) -> FinalizeMessage:
        data = json.loads(body)
        return cls(str(data["job_id"]), int(data["run"]))


def source_key(path: str) -> str:
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


def job_status(processed: int, failed: int) -> str:
    if failed and processed:
        return "partial"
    if failed:
        return "failed"
    return "completed"


def exit_code(processed: int, failed: int) -> int:
    if failed == 0:
        return 0
    return 1 if processed else 2


def semantic_outcome(run_config: dict[str, Any], stored: dict[str, Any] | None = None) -> dict[str, Any]:
    """The corpus semantic stage's outcome (jobs/semantic.py stores it), stated honestly when it did not run.

    It works for every output format: the stage reads the chunk records the workers keep, not the outputs.
    """
    if not run_config.get("include_semantic"):
        return {
            "status": "disabled",
            "reason_code": None,
            "message": "Semantic stage not requested.",
            "summary": None,
            "artifacts": [],
            "stage_timings_ms": {},
        }
    if stored is not None:
        return stored
    return {
        "status": "skipped",
        "reason_code": "semantic_stage_unavailable",
        "message": "The corpus semantic stage is not available in this deployment (no semantic queue is "
        "configured); no analysis was run.",
        "summary": None,
        "artifacts": [],
        "stage_timings_ms": {},
    }


def _file_entries(
    units: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    processed: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for u in sorted(units, key=lambda u: u["source_path"]):
        base = {"path": u["source_path"], "source_key": source_key(u["source_path"]), "unit_id": u["unit_id"]}
        if u["status"] == "processed":
            processed.append(
                {
                    **base,
                    "output_path": u.get("output_path"),
                    "output_files": u.get("output_files", []),
                    "chunk_count": int(u.get("chunk_count", 0)),
                    "detected_format": u.get("detected_format"),
                    "stage_timings_ms": {s: float(u.get("stage_timings_ms", {}).get(s, 0.0)) for s in STAGES},
                }
            )
        elif u["status"] == "failed":
            failed.append(
                {
                    **base,
                    "error_type": u.get("error_type"),
                    "error_message": u.get("error_message"),
                    "retry_count": int(u.get("retry_count", 0)),
                }
            )
        elif u["status"] == "skipped":
            skipped.append({**base, "error_type": u.get("error_type"), "error_message": u.get("error_message")})
    return processed, failed, skipped


def build_result(
    job: dict[str, Any],
    units: list[dict[str, Any]],
    run: dict[str, Any],
    finished_at: str,
    bucket: str,
    semantic: dict[str, Any] | None = None,
) -> dict[str, Any]:
    processed, failed, skipped = _file_entries(units)
    totals = {s: round(sum(p["stage_timings_ms"][s] for p in processed), 3) for s in STAGES}
    semantic = semantic_outcome(job["run_config"], semantic)
    # The corpus stage's time is the run's semantic total, with its steps beside it, so one number says what the
    # stage cost and the steps say where.
    semantic_timings = semantic.get("stage_timings_ms") or {}
    if "semantic_total" in semantic_timings:
        totals["semantic"] = round(totals["semantic"] + float(semantic_timings["semantic_total"]), 3)
    for step in SEMANTIC_STEPS:
        if step in semantic_timings:
            totals[step] = float(semantic_timings[step])
    return {
        "job_id": job["job_id"],
        "status": job_status(len(processed), len(failed)),
        "run": int(run["run"]),
        "total_files": len(units),
        "processed_count": len(processed),
        "failed_count": len(failed),
        "skipped_count": len(skipped),
        "output_dir": job["output_dir"],
        "session_id": run["session_id"],
        "processed_files": processed,
        "failed_files": failed,
        "skipped_files": skipped,
        "stage_totals_ms": totals,
        "started_at": job.get("started_at") or run.get("started_at"),
        "finished_at": finished_at,
        "artifact_dir": job["artifact_dir"],
        "result_path": f"s3://{bucket}/{paths.result_artifact_key(job['job_id'])}",
        "request_hash": job["request_hash"],
        "exit_code": exit_code(len(processed), len(failed)),
        "semantic": semantic,
        "evaluation": None,
        **incremental.result_fields(job, units),
    }


def _session_record(
    job: dict[str, Any], run: dict[str, Any], run_units: list[dict[str, Any]], status: str, finished_at: str
) -> dict[str, Any]:
    processed, failed, skipped = _file_entries(run_units)
    return {
        "schema_version": "2.0",
        "session_id": run["session_id"],
        "job_id": job["job_id"],
        "run": int(run["run"]),
        "kind": run.get("kind", "process"),
        "status": status,
        "source_directory": job["input_path"],
        "total_files": len(run_units),
        "processed_count": len(processed),
        "failed_count": len(failed),
        "skipped_count": len(skipped),
        "started_at": run.get("started_at"),
        "updated_at": finished_at,
        "configuration": {
            "preset": job.get("preset"),
            **job["run_config"],
            "output_dir": job["output_dir"],
            "idempotency_key": job.get("idempotency_key"),
            "request_hash": job["request_hash"],
            "source": job.get("source_id"),
            "incremental": bool(job.get("incremental")),
            "resumes": job.get("resumes"),
        },
        "processed_files": processed,
        "failed_files": failed,
        "skipped_files": skipped,
        "statistics": {
            "total_files": len(run_units),
            "processed_count": len(processed),
            "failed_count": len(failed),
            "skipped_count": len(skipped),
        },
    }


def _open_run(store: Store, msg: FinalizeMessage) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """The run and its job, or 'stale' (gone) / 'duplicate' (already finalized, or superseded by a retry)."""
    run = store.table.get_run(msg.job_id, msg.run)
    job = store.table.get_job(msg.job_id)
    if run is None or job is None:
        return "stale"
    if run.get("finalize_state") == "done" or int(job.get("current_run", 0)) != msg.run:
        return "duplicate"
    return run, job


def finalize_run(store: Store, msg: FinalizeMessage) -> str:
    """Returns 'finalized', 'semantic_queued', 'duplicate' or 'stale'. Safe to call any number of times per run."""
    from data_extract.jobs.notify import resend_pending_notice

    # A cancel can land between reading the job and the final write; the write then fails on the status it saw
    # and the run is finalized again with the new status. Twice at most: cancel is the only such change.
    for _ in range(3):
        loaded = _open_run(store, msg)
        if isinstance(loaded, str):
            if loaded == "duplicate":
                resend_pending_notice(store, msg.job_id, msg.run)
            return loaded
        run, job = loaded
        outcome = _finalize_once(store, msg, run, job)
        if outcome != "changed":
            return outcome
    return "duplicate"


def _finalize_once(store: Store, msg: FinalizeMessage, run: dict[str, Any], job: dict[str, Any]) -> str:
    from data_extract.jobs.notify import build_notice, queue_notice

    run_config = job["run_config"]
    units = store.table.list_units(msg.job_id)
    # Split files get their one result from their page ranges first: the semantic stage reads their chunks.
    if split.assemble_split_units(store, job, msg.run, units):
        units = store.table.list_units(msg.job_id)
    semantic = None
    if run_config.get("include_semantic"):
        from data_extract.jobs.semantic import hand_over, stored_outcome

        semantic = stored_outcome(store, msg.job_id, msg.run)
        if semantic is None and store.queues.semantic_url and job["status"] != "cancelling":
            # The semantic function analyses the run, then finishes it (jobs/semantic.py); a cancelled job ends
            # without it.
            hand_over(store, msg.job_id, msg.run)
            return "semantic_queued"
    finished_at = now_rfc3339()
    result = _run_result(store, msg, job, units, run, finished_at, semantic)
    record_key, job_fields = _write_result(store, msg, job, result)
    run_units = [u for u in units if int(u.get("run", 0)) == msg.run]
    session = _session_record(job, run, run_units, result["status"], finished_at)
    store.objects.put_json(paths.session_record_key(run["session_id"]), session)
    projection = {k: session[k] for k in SESSION_PROJECTION_FIELDS}
    job_fields.update(
        {"status": result["status"], "finished_at": finished_at, "updated_at": finished_at, "dispatch_state": "done"}
    )
    counts = {
        "processed": result["processed_count"],
        "failed": result["failed_count"],
        "skipped": result["skipped_count"],
    }
    notice = build_notice(
        job, msg.run, result["status"], counts, finished_at, f"s3://{store.objects.bucket}/{record_key}"
    )
    job_fields.update(notice=notice, notice_state="pending")
    event, status_events = _outcome_events(result, msg.run, counts, cancelled=job["status"] == "cancelling")
    # The source's state is committed before the job shows as finished: a run submitted after it sees the state.
    incremental.commit_source_state(store, job, units, msg.run)
    if not store.table.complete_run(
        msg.job_id,
        msg.run,
        job_fields,
        projection,
        event,
        finished_at,
        seen_status=job["status"],
        extra_events=status_events,
    ):
        return "changed"  # already finalized, or cancelled meanwhile: the caller reloads and decides
    sync_error = job_fields["artifact_sync_error"]
    store.table.add_event(
        msg.job_id,
        "artifact",
        "Canonical result payload synced to artifact store" if sync_error is None else "Artifact sync failed",
        {} if sync_error is None else {"error": sync_error},
    )
    queue_notice(store, msg.job_id, msg.run, notice)
    return "finalized"


def _run_result(
    store: Store,
    msg: FinalizeMessage,
    job: dict[str, Any],
    units: list[dict[str, Any]],
    run: dict[str, Any],
    finished_at: str,
    semantic: dict[str, Any] | None,
) -> dict[str, Any]:
    """The run's result: its files, the governance evaluation, and the status a cancel gives it."""
    from data_extract.governance.evaluate import evaluate

    run_config = job["run_config"]
    result = build_result(job, units, run, finished_at, store.objects.bucket, semantic)
    if run_config.get("include_evaluation", True):
        existing = {o.key for o in store.objects.list(paths.output_key(msg.job_id, ""))}
        evaluation = evaluate(
            result, policy_id=run_config.get("evaluation_policy", "baseline_v1"), existing_outputs=existing
        )
        result["evaluation"] = evaluation
        if run_config.get("evaluation_fail_on_bad") and evaluation.get("verdict") == "bad":
            result["status"] = "failed"
            result["exit_code"] = max(result["exit_code"], 1)
    if job["status"] == "cancelling":
        # The counts stay what happened: files done before the cancel keep their results.
        result["status"] = "cancelled"
        result["exit_code"] = max(result["exit_code"], 1)
    return result


def _write_result(
    store: Store, msg: FinalizeMessage, job: dict[str, Any], result: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The run's result record and the job's result.json; returns the record's key and the job fields saying
    where it is and whether result.json was written."""
    canonical = json.dumps(result, sort_keys=True, separators=(",", ":"), default=str).encode()
    record_key = paths.result_record_key(msg.job_id, msg.run)
    store.objects.put_json(record_key, result)
    sync_state, sync_error = "synced", None
    try:
        store.objects.put_json(paths.result_artifact_key(msg.job_id), result)
    except Exception as exc:
        logger.exception("result artifact write failed", extra={"job_id": msg.job_id})
        sync_state, sync_error = "failed", type(exc).__name__
    return record_key, {
        "result_key": record_key,
        "result_checksum": hashlib.sha256(canonical).hexdigest(),
        "artifact_sync_state": sync_state,
        "artifact_sync_error": sync_error,
        "artifact_sync_attempts": int(job.get("artifact_sync_attempts", 0)) + 1,
    }


def _outcome_events(
    result: dict[str, Any], run: int, counts: dict[str, Any], *, cancelled: bool
) -> tuple[tuple[str, str, dict[str, Any]], tuple[tuple[str, str, dict[str, Any]], ...]]:
    """The run's outcome event, and the events named after its status that follow it."""
    if cancelled:
        # The cancelled event is the run's outcome event: clients follow a run's status by the event named after it.
        return (
            "cancelled",
            f"Job cancelled: {counts['processed']} processed, {counts['failed']} failed, {counts['skipped']} skipped",
            {"run": run, **counts},
        ), ()
    event = (
        "finished",
        f"Job finished with status={result['status']}",
        {"run": run, **counts, "verdict": (result.get("evaluation") or {}).get("verdict")},
    )
    # Clients follow a run's outcome by an event named after its status (completed, partial, failed).
    status_event = (
        result["status"],
        f"Job {result['status']}",
        {"run": run, **counts, "deleted": result["deleted_count"]},
    )
    return event, (status_event,)


def abandon_run(store: Store, msg: FinalizeMessage, receive_count: int | None) -> str:
    """A run whose finalize kept failing (its message reached the dead-letter queue): end the job as failed.

    The session's counts come from the file units; nothing here depends on the step that kept failing (governance, S3
    writes), so the job never stays queued or running. Returns 'abandoned', 'duplicate' or 'stale'.
    """
    loaded = _open_run(store, msg)
    if isinstance(loaded, str):
        return loaded
    run, job = loaded
    now = now_rfc3339()
    if run.get("finalize_state") != "claimed":
        store.table.claim_finalize(msg.job_id, msg.run, now)
    units = store.table.list_units(msg.job_id)
    if split.fail_unmerged_units(store, msg.job_id, msg.run, units):
        units = store.table.list_units(msg.job_id)
    detail = (
        "Finalizing the run failed repeatedly"
        + (f" ({receive_count} attempts)" if receive_count else "")
        + "; file results are kept, but no result.json or governance evaluation was produced."
    )
    run_units = [u for u in units if int(u.get("run", 0)) == msg.run]
    session = _session_record(job, run, run_units, "failed", now)
    projection = {k: session[k] for k in SESSION_PROJECTION_FIELDS}
    job_fields: dict[str, Any] = {
        "status": "failed",
        "finished_at": now,
        "updated_at": now,
        "artifact_sync_state": "failed",
        "artifact_sync_error": "finalize_exhausted",
        "dispatch_state": "done",
    }
    event = ("error", detail, {"run": msg.run, "reason": "finalize_exhausted"})
    from data_extract.jobs.notify import build_notice, queue_notice

    counts = {k: session[f"{k}_count"] for k in ("processed", "failed", "skipped")}
    notice = build_notice(job, msg.run, "failed", counts, now, None)
    job_fields.update(notice=notice, notice_state="pending")
    if not store.table.complete_run(msg.job_id, msg.run, job_fields, projection, event, now):
        return "duplicate"
    queue_notice(store, msg.job_id, msg.run, notice)
    try:
        store.objects.put_json(paths.session_record_key(run["session_id"]), session)
    except Exception:
        logger.exception("session record write failed while abandoning a run", extra={"job_id": msg.job_id})
    return "abandoned"
