"""The sweeper: jobs that stopped moving are finished or failed, so none stays queued or running forever.

SQS redelivery and the dead-letter queues already end every unit whose message exists. What they cannot see:

- a job that was never dispatched: the submitting invocation died between writing the job and queueing its units
  (``dispatch_state`` still ``pending_dispatch``): its queued units are dispatched now (a cancelled one's skipped);
- a run whose last unit ended but whose finalize was never claimed, or was claimed and its message lost: it is
  handed to finalize (``hand_over_if_complete`` claims it, or sends a claim that is long overdue again);
- a large job whose fan-out stopped between slices (``dispatch_slices``): the slice at its cursor is sent again,
  a few times, then the files of the slices left fail as ``dispatch_failed``;
- a unit ``running`` past its lease, longer than SQS keeps redelivering it: it fails as ``lease_expired``
  (retryable), and its run can end.

Jobs are found through GSI2, the sparse index of active jobs keyed by their last progress: one query, never a
scan. A job the sweeper inspected is looked at again one grace period later.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from data_extract.contract import TERMINAL_JOB_STATUSES, rfc3339, utc_now
from data_extract.jobs import dispatch
from data_extract.jobs.units import dispatch_units, hand_over_if_complete, skip_unit_cancelled
from data_extract.pipeline.types import ErrorType
from data_extract.settings import Settings
from data_extract.store import Store

logger = logging.getLogger(__name__)


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def sweep(store: Store, settings: Settings, now: datetime | None = None) -> dict[str, int]:
    """Inspect every active job without progress for ``sweep_grace_seconds``; returns counts per outcome."""
    now = now or utc_now()
    cutoff = rfc3339(now - timedelta(seconds=settings.sweep_grace_seconds))
    outcomes: Counter[str] = Counter()
    for job_id in store.table.list_stalled_jobs(cutoff, settings.sweep_max_jobs):
        try:
            for outcome in sweep_job(store, settings, job_id, now):
                outcomes[outcome] += 1
        except Exception:
            logger.exception("sweeping a job failed", extra={"job_id": job_id})
            outcomes["error"] += 1
    return dict(outcomes)


def sweep_job(store: Store, settings: Settings, job_id: str, now: datetime) -> list[str]:
    """Fix what is stuck in one job; returns what was done (``healthy`` when nothing was)."""
    job = store.table.get_job(job_id)
    if job is None:
        return ["gone"]
    if job["status"] in TERMINAL_JOB_STATUSES:
        store.table.leave_active_index(job_id)
        return ["ended"]
    run = int(job["current_run"])
    done: list[str] = []
    units = [u for u in store.table.list_units(job_id) if int(u["run"]) == run]
    if dispatch.fan_out_pending(job):
        done += _resume_fan_out(store, settings, job, run)
    elif job.get("dispatch_state") == "pending_dispatch" and "dispatch_slices" not in job:
        done += _dispatch_stranded(store, job, run, units)
    else:
        done += _fail_expired_leases(store, settings, job_id, run, units, now)
    if hand_over_if_complete(store, job_id, run):
        store.table.add_event(
            job_id,
            "sweep",
            "The run's last file had ended but finalize never ran; it was handed to finalize",
            {"run": run},
        )
        done.append("finalize_handed_over")
    store.table.record_progress(job_id, rfc3339(now))
    return done or ["healthy"]


def _resume_fan_out(store: Store, settings: Settings, job: dict[str, Any], run: int) -> list[str]:
    """A large job whose fan-out stopped between slices (its message lost, refused or dead-lettered): the slice at
    its cursor is sent again, up to ``sweep_dispatch_resumes`` times; then the files of the slices left fail."""
    job_id, cursor, total = job["job_id"], int(job.get("dispatch_slice", 0)), int(job["dispatch_slices"])
    if cursor >= total:  # every slice written, but the last one ended before marking the dispatch submitted
        dispatch.finish_fan_out(store, job_id, run, total)
        return ["fan_out_finished"]
    if int(job.get("dispatch_resumes", 0)) < settings.sweep_dispatch_resumes:
        dispatch.resume_fan_out(store, job, run)
        store.table.add_event(
            job_id,
            "sweep",
            f"The job's fan-out stopped at slice {cursor + 1} of {total}; it was resumed",
            {"run": run},
        )
        return ["fan_out_resumed"]
    failed = dispatch.fail_remaining_slices(store, job, run)
    store.table.add_event(
        job_id,
        "sweep",
        f"The job's fan-out kept stopping at slice {cursor + 1} of {total}; its {failed} file(s) left were failed",
        {"run": run, "units": failed},
    )
    return ["fan_out_failed"]


def _dispatch_stranded(store: Store, job: dict[str, Any], run: int, units: list[dict[str, Any]]) -> list[str]:
    job_id = job["job_id"]
    queued = [u for u in units if u["status"] == "queued"]
    if job["status"] == "cancelling":
        for unit in queued:
            skip_unit_cancelled(
                store, job_id, unit, run, "Not processed: the job was cancelled.", from_statuses=("queued",)
            )
        return ["skipped_cancelled"] if queued else []
    store.table.add_event(
        job_id,
        "sweep",
        f"The job was never dispatched (the submitting request ended before "
        f"queueing it); {len(queued)} file unit(s) queued now",
        {"run": run, "units": len(queued)},
    )
    dispatch_units(store, job_id, run, queued, "sweeper")
    return ["redispatched"]


def _fail_expired_leases(
    store: Store, settings: Settings, job_id: str, run: int, units: list[dict[str, Any]], now: datetime
) -> list[str]:
    lease_ends = now - timedelta(seconds=settings.unit_lease_seconds)
    # A file split into page ranges stays running until finalize merges it; its ranges carry the leases.
    split = [u for u in units if int(u.get("split_run", 0)) == run]
    expired = [
        u
        for u in units
        if u["status"] == "running" and int(u.get("split_run", 0)) != run and _parse(u["updated_at"]) < lease_ends
    ]
    failed = sum(_fail_expired_unit(store, settings, job_id, run, unit, now) for unit in expired)
    failed += sum(_fail_expired_ranges(store, settings, job_id, run, unit, lease_ends, now) for unit in split)
    if failed:
        store.table.add_event(
            job_id,
            "sweep",
            f"{failed} file unit(s) ran past their lease and were failed",
            {"run": run, "units": failed},
        )
        return ["lease_expired"] * failed
    return []


def _lease_expired_record(settings: Settings, what: str) -> dict[str, Any]:
    return {
        "status": "failed",
        "error_type": ErrorType.LEASE_EXPIRED.value,
        "chunk_count": 0,
        "error_message": f"The {what} was still running {settings.unit_lease_seconds} s after it started, "
        "longer than its message is redelivered; retry the job's failed files.",
    }


def _fail_expired_unit(
    store: Store, settings: Settings, job_id: str, run: int, unit: dict[str, Any], now: datetime
) -> bool:
    event = (
        "file",
        f"{unit['source_path']}: failed (lease_expired)",
        {
            "unit_id": unit["unit_id"],
            "source_path": unit["source_path"],
            "status": "failed",
            "error_type": ErrorType.LEASE_EXPIRED.value,
            "chunk_count": 0,
            "run": run,
        },
    )
    # Only if nobody touched the unit since it was read: a fresh delivery that just started it keeps it.
    return store.table.record_unit_result(
        job_id,
        unit["unit_id"],
        run,
        _lease_expired_record(settings, "file"),
        event,
        rfc3339(now),
        from_statuses=("running",),
        seen_updated_at=unit["updated_at"],
    )


def _fail_expired_ranges(
    store: Store,
    settings: Settings,
    job_id: str,
    run: int,
    unit: dict[str, Any],
    lease_ends: datetime,
    now: datetime,
) -> int:
    """Page ranges of a split file running past their lease fail as one unit would; finalize then fails the file
    with the range's error when it merges the ranges."""
    failed = 0
    for part in store.table.list_unit_ranges(job_id, unit["unit_id"]):
        if int(part.get("run", 0)) != run or part["status"] != "running" or _parse(part["updated_at"]) >= lease_ends:
            continue
        record = _lease_expired_record(settings, "page range")
        if store.table.record_range_result(
            job_id, unit["unit_id"], int(part["first_page"]), run, record, rfc3339(now)
        ):
            failed += 1
    return failed
