"""Fanning a large job out asynchronously: its file units and work messages are written one bounded slice at a time.

The submitting request resolves the inputs as for any job, stores the unit records in slices
(``dispatch/<job_id>/slice-<k>.json``), records the job and its run (no units yet) and sends one dispatch message
for slice 0. Each dispatch message creates its slice's units (each only if absent), queues their work messages,
then moves the job's cursor (``dispatch_slice``) from its slice to the next with a conditional write and sends the
next slice's message. So no invocation makes more than a few hundred calls, and a crash resumes from the last
slice without duplicating units:

- a redelivered slice whose cursor has not moved creates only its missing units and queues again those still
  queued (a second message for a queued unit is harmless: the worker's conditional claim and result write let one
  delivery count it);
- a message whose slice the cursor has passed is a duplicate and does nothing, unless the cursor was moved by
  this very message (``dispatch_by`` is its SQS message id, the same on every redelivery), which then died before
  sending the next slice's message: it sends that message again.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from data_extract.contract import now_rfc3339
from data_extract.jobs.units import fail_unsent_units
from data_extract.settings import Settings
from data_extract.store import ConditionFailed, QueueError, Store

logger = logging.getLogger(__name__)


def fans_out_async(settings: Settings, units_to_queue: int) -> bool:
    """The one place that decides: a job with more file units to queue than the threshold is fanned out in slices
    by the dispatch function; a smaller one is written and queued within the submitting request."""
    return units_to_queue > settings.dispatch_inline_max_units


def fan_out_pending(job: Mapping[str, Any]) -> bool:
    """Has this job's fan-out slices left to write, or not yet marked its dispatch submitted? (Workers move
    ``dispatch_state`` on to ``running`` as soon as the first slice's files start.)"""
    if "dispatch_slices" not in job:
        return False
    written = int(job.get("dispatch_slice", 0)) >= int(job["dispatch_slices"])
    return not written or job.get("dispatch_state") == "pending_dispatch"


def unwritten_units(job: Mapping[str, Any], written: int) -> int:
    """File units a fan-out still under way has not written yet (0 once every slice is written)."""
    if "dispatch_units" not in job or int(job.get("dispatch_slice", 0)) >= int(job.get("dispatch_slices", 0)):
        return 0
    return max(0, int(job["dispatch_units"]) - written)


def slice_key(job_id: str, index: int) -> str:
    return f"{slice_prefix(job_id)}slice-{index:05d}.json"


def slice_prefix(job_id: str) -> str:
    # Outside jobs/<id>/: the slices are working state, never one of the job's artifacts.
    return f"dispatch/{job_id}/"


@dataclass(frozen=True)
class DispatchMessage:
    job_id: str
    run: int
    slice: int

    @classmethod
    def parse(cls, body: str) -> DispatchMessage:
        data = json.loads(body)
        return cls(str(data["job_id"]), int(data["run"]), int(data["slice"]))

    def body(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "run": self.run, "slice": self.slice}


def store_slices(store: Store, settings: Settings, job_id: str, units: Sequence[Mapping[str, Any]]) -> int:
    """Write the job's unit records in slices (before the job exists, so no dispatch finds one missing)."""
    size = settings.dispatch_slice_units
    count = 0
    for count, start in enumerate(range(0, len(units), size), start=1):
        store.objects.put_json(slice_key(job_id, count - 1), units[start : start + size])
    return count


def start_fan_out(store: Store, job_id: str, run: int) -> None:
    store.queues.send_dispatch(DispatchMessage(job_id, run, 0).body())


def dispatch_slice(store: Store, msg: DispatchMessage, message_id: str) -> str:
    """Write and queue one slice. Returns 'dispatched', 'resent_next', 'duplicate' or 'stale'."""
    job = store.table.get_job(msg.job_id)
    if job is None or int(job.get("current_run", 0)) != msg.run or "dispatch_slices" not in job:
        return "stale"
    cursor, total = int(job.get("dispatch_slice", 0)), int(job["dispatch_slices"])
    if cursor > msg.slice:
        if cursor == msg.slice + 1 and job.get("dispatch_by") == message_id:
            _hand_on(store, msg, total)  # this message moved the cursor, then died before the next message
            return "resent_next"
        return "duplicate"
    units: list[dict[str, Any]] = store.objects.get_json(slice_key(msg.job_id, msg.slice))
    waiting = store.table.add_units(msg.job_id, units)
    _queue_units(store, msg, waiting)
    try:
        store.table.update_job(
            msg.job_id,
            {"dispatch_slice": msg.slice + 1, "dispatch_by": message_id},
            condition="#c0 = :slice",
            condition_values={":slice": msg.slice},
            extra_names={"#c0": "dispatch_slice"},
        )
    except ConditionFailed:
        return "duplicate"  # a copy of this message moved the cursor first and goes on from here
    _hand_on(store, msg, total)
    return "dispatched"


def _queue_units(store: Store, msg: DispatchMessage, units: list[dict[str, Any]]) -> None:
    """One work message per unit; units whose message could not be sent are failed, so the run still ends."""
    try:
        store.queues.send_work([{"job_id": msg.job_id, "unit_id": u["unit_id"], "run": msg.run} for u in units])
    except QueueError as exc:
        logger.error("work messages of a slice could not all be queued", extra={"job_id": msg.job_id})
        store.table.add_event(
            msg.job_id,
            "error",
            "Some file units could not be queued",
            {"run": msg.run, "slice": msg.slice, "queued": exc.sent, "failed": len(units) - exc.sent},
        )
        fail_unsent_units(store, msg.job_id, msg.run, units[exc.sent :])


def _hand_on(store: Store, msg: DispatchMessage, total: int) -> None:
    """Send the next slice's message, or, after the last slice, mark the job's fan-out done."""
    if msg.slice + 1 < total:
        store.queues.send_dispatch(DispatchMessage(msg.job_id, msg.run, msg.slice + 1).body())
        return
    finish_fan_out(store, msg.job_id, msg.run, total)


def finish_fan_out(store: Store, job_id: str, run: int, total: int) -> None:
    """Every slice is written: the dispatch is submitted, the slices go, an event says so (repeatable)."""
    # A fast worker may already have moved the job on; only a still-pending dispatch becomes "submitted".
    with contextlib.suppress(ConditionFailed):
        store.table.update_job(
            job_id,
            {"dispatch_state": "submitted", "updated_at": now_rfc3339()},
            condition="dispatch_state = :pending",
            condition_values={":pending": "pending_dispatch"},
        )
    store.objects.delete_prefix(slice_prefix(job_id))
    store.table.add_event(
        job_id,
        "dispatch",
        "File units submitted to the work queue",
        {"source": "dispatch", "slices": total, "run": run},
    )


def resume_fan_out(store: Store, job: Mapping[str, Any], run: int) -> None:
    """Send the message of the slice the job's cursor is at again (its own message was lost or dead-lettered)."""
    store.table.update_job(job["job_id"], {"dispatch_resumes": int(job.get("dispatch_resumes", 0)) + 1})
    store.queues.send_dispatch(DispatchMessage(job["job_id"], run, int(job.get("dispatch_slice", 0))).body())


def fail_remaining_slices(store: Store, job: Mapping[str, Any], run: int) -> int:
    """Give up on a fan-out that keeps failing: the units of every slice from the cursor on are created (those
    missing) and failed as ``dispatch_failed``, so the run ends and a retry can take them. Returns how many."""
    job_id, failed = job["job_id"], 0
    total = int(job["dispatch_slices"])
    for index in range(int(job.get("dispatch_slice", 0)), total):
        units: list[dict[str, Any]] = store.objects.get_json(slice_key(job_id, index))
        waiting = store.table.add_units(job_id, units)  # created now, or created before and still queued
        fail_unsent_units(store, job_id, run, waiting)
        failed += len(waiting)
    store.table.update_job(job_id, {"dispatch_slice": total})
    finish_fan_out(store, job_id, run, total)
    return failed
