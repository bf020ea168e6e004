"""Retry the failed file units of a finished job, keeping everything that succeeded."""

from __future__ import annotations

from data_extract.contract import TERMINAL_JOB_STATUSES, JobStatus, now_rfc3339
from data_extract.jobs import paths, records
from data_extract.jobs.errors import Conflict, NotFound
from data_extract.jobs.records import RunRecord
from data_extract.jobs.submit import check_admission
from data_extract.jobs.units import dispatch_units
from data_extract.pipeline.types import ErrorType
from data_extract.settings import Settings
from data_extract.store import ConditionFailed, Store


def retry_failures(store: Store, settings: Settings, job_id: str) -> JobStatus:
    job = records.job(store, job_id)
    if job is None:
        raise NotFound(f"Job not found: {job_id}")
    if job["status"] not in TERMINAL_JOB_STATUSES:
        raise Conflict(f"Job {job_id} is {job['status']}; retry it once it has finished.")
    if job["status"] == JobStatus.cancelled:
        raise Conflict(f"Job {job_id} was cancelled; submit it again to process its files.")
    if job.get("cleaned"):
        raise Conflict(f"Job {job_id} had its artifacts cleaned; its inputs are gone, so it cannot be retried.")
    units = records.units(store, job_id)
    # Files halted by continue_on_error=false never ran: they are retried along with the failures.
    failed = [
        u
        for u in units
        if u["status"] == "failed" or (u["status"] == "skipped" and u.get("error_type") == ErrorType.HALTED.value)
    ]
    if not failed:
        raise Conflict(f"Job {job_id} has no failed files to retry.")
    retryable = [u for u in failed if int(u.get("retry_count", 0)) < settings.max_retries_per_file]
    if not retryable:
        raise Conflict(
            f"Every failed file of job {job_id} was already retried {settings.max_retries_per_file} times."
        )
    check_admission(store, settings)

    previous_run = int(job["current_run"])
    new_run = previous_run + 1
    now = now_rfc3339()
    run: RunRecord = {
        "run": new_run,
        "kind": "retry",
        "session_id": paths.new_session_id(),
        "total_units": len(retryable),
        "done_units": 0,
        "counter_shards": settings.run_counter_shards,
        "status": "queued",
        "started_at": now,
    }
    try:
        store.table.start_retry_run(job_id, previous_run, records.item(run), now)
    except ConditionFailed:
        raise Conflict(f"Job {job_id} changed while the retry was being set up; reload it and try again.") from None
    items = [records.item(u) for u in retryable]
    store.table.requeue_units(job_id, items, new_run, now)
    dispatch_units(store, job_id, new_run, items, "retry_enqueue")
    return JobStatus.queued
