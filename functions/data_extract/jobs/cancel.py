"""Cancel a job: queued files are skipped without extraction, running ones stop at their next stage boundary.

The job turns ``cancelling`` at once; the run's finalize still runs exactly once (when its last file unit has
ended) and ends the job ``cancelled`` with a ``cancelled`` event and the counts of what really happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from data_extract.contract import TERMINAL_JOB_STATUSES, JobStatus, now_rfc3339
from data_extract.jobs import records
from data_extract.jobs.errors import Conflict, NotFound
from data_extract.jobs.units import hand_over_if_complete, skip_unit_cancelled
from data_extract.store import Store

# Queued units the cancel request skips itself, so a cancelled job ends without waiting for the work queue to
# reach its messages; the rest are skipped by the worker when their messages arrive (no extraction either way).
SKIP_INLINE_UNITS = 100


@dataclass(frozen=True)
class CancelOutcome:
    status: JobStatus
    cancel_requested_at: str | None


def cancel_job(store: Store, job_id: str) -> CancelOutcome:
    """Ask a queued or running job to stop. Idempotent while it is cancelling; 409 once it has ended."""
    job = records.job(store, job_id)
    if job is None:
        raise NotFound(f"Job not found: {job_id}")
    if job["status"] == JobStatus.cancelling:
        return CancelOutcome(JobStatus.cancelling, job.get("cancel_requested_at"))
    if job["status"] in TERMINAL_JOB_STATUSES:
        raise Conflict(f"Job {job_id} already ended with status {job['status']}; there is nothing to cancel.")
    run = int(job["current_run"])
    now = now_rfc3339()
    if not store.table.request_cancel(job_id, run, now):
        # Lost a race: a concurrent cancel (fine, same answer) or the job ended meanwhile (409).
        current = records.job(store, job_id) or job
        if current["status"] == JobStatus.cancelling:
            return CancelOutcome(JobStatus.cancelling, current.get("cancel_requested_at"))
        raise Conflict(f"Job {job_id} already ended with status {current['status']}; there is nothing to cancel.")

    queued = [u for u in records.units(store, job_id) if int(u["run"]) == run and u["status"] == "queued"]
    for unit in queued[:SKIP_INLINE_UNITS]:
        # Only a unit still queued: one a worker has started stops at its own stage boundary.
        skip_unit_cancelled(
            store, job_id, records.item(unit), run, "Not processed: the job was cancelled.", from_statuses=("queued",)
        )
    hand_over_if_complete(store, job_id, run)
    after = records.job(store, job_id) or job
    return CancelOutcome(JobStatus(after["status"]), after.get("cancel_requested_at", now))
