"""Delete a finished job's artifacts for good (records stay)."""

from __future__ import annotations

from data_extract.contract import TERMINAL_JOB_STATUSES, now_rfc3339
from data_extract.jobs import paths
from data_extract.jobs.errors import Conflict, NotFound
from data_extract.store import ConditionFailed, Store


def cleanup_artifacts(store: Store, job_id: str) -> tuple[bool, int]:
    job = store.table.get_job(job_id)
    if job is None:
        raise NotFound(f"Job not found: {job_id}")
    if job["status"] not in TERMINAL_JOB_STATUSES:
        raise Conflict(f"Job {job_id} is {job['status']}; its artifacts can be cleaned once it has finished.")
    now = now_rfc3339()
    # Mark first, conditionally: a retry cannot start on a cleaned job, and nothing writes under a cleaned
    # job's prefix again (finalize only runs for a new run, and no new run can start).
    try:
        store.table.update_job(
            job_id,
            {"cleaned": True, "cleaned_at": now, "updated_at": now},
            condition="#c0 IN (:completed, :partial, :failed, :cancelled)",
            condition_values={
                ":completed": "completed",
                ":partial": "partial",
                ":failed": "failed",
                ":cancelled": "cancelled",
            },
            extra_names={"#c0": "status"},
        )
    except ConditionFailed:
        raise Conflict(f"Job {job_id} started running again; clean it up once it has finished.") from None
    removed_count = store.objects.delete_prefix(paths.job_prefix(job_id))
    # The chunk records the semantic stage read hold the documents' text: they go with the artifacts.
    store.objects.delete_prefix(paths.chunk_record_prefix(job_id))
    store.table.add_event(
        job_id, "cleanup", "Job artifacts cleaned", {"removed": removed_count > 0, "objects": removed_count}
    )
    return removed_count > 0, removed_count
