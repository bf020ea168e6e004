"""Delete a finished job's artifacts for good (records stay)."""

from __future__ import annotations

from data_extract.contract import TERMINAL_JOB_STATUSES, now_rfc3339
from data_extract.jobs import paths
from data_extract.jobs.errors import Conflict, NotFound
from data_extract.store import Store


def cleanup_artifacts(store: Store, job_id: str) -> tuple[bool, int]:
    job = store.table.get_job(job_id)
    if job is None:
        raise NotFound(f"Job not found: {job_id}")
    if job["status"] not in TERMINAL_JOB_STATUSES:
        raise Conflict(f"Job {job_id} is {job['status']}; its artifacts can be cleaned once it has finished.")
    removed_count = store.objects.delete_prefix(paths.job_prefix(job_id))
    now = now_rfc3339()
    # Nothing writes under a cleaned job's prefix again: retries are refused and finalize only runs for a new run.
    store.table.update_job(job_id, {"cleaned": True, "cleaned_at": now, "updated_at": now})
    store.table.add_event(job_id, "cleanup", "Job artifacts cleaned",
                          {"removed": removed_count > 0, "objects": removed_count})
    return removed_count > 0, removed_count
