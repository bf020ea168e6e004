"""Sources, incremental runs and resume: what a new job need not process, and the source state a run leaves.

A *source* is where a job's files come from: the S3 location of an ``input_path`` job (with ``recursive`` as part
of it, since it changes what the location holds), or, for uploads, the client's ``source`` label with the uploaded
relative paths. Unlabeled uploads have no source.

Incremental runs (``incremental=true``) compare each file with the source's state: per relative path, the content
SHA-256, size and ETag of the version last processed, the options digest it was processed with, and the job and
output key that hold its result. A file is ``unchanged`` when its content and the output-shaping options are the
same and that job still holds the output; it is then skipped, pointing at that output. The comparison happens in
two places: at submit, where uploaded bytes are hashed anyway and an S3 object's ETag and size match the state's
(no download); and in the worker, which hashes the bytes it fetched before extracting anything (an object
rewritten with the same content gets a new ETag). Files the state knows that are gone from the source are counted
as deleted. ``force=true`` processes everything and refreshes the state.

A run's state changes are committed once, by its finalize, under the source's commit lock: a conditional write
takes the lock, every write batch re-checks it, so commits never interleave and the state after concurrent runs
is the state of some serial order of their commits. Each commit applies the run as if it ran last: a path keeps
the current entry when that already holds the same content, otherwise it gets this run's result; paths this run
found gone are removed.

Resume (``resume=true`` or ``resume_session=<id>``) starts from a finished session that did not finish every file
of its source (failed or halted files, a cancelled run, or files added since): files with a successful result in
that session's job are skipped as ``already_processed`` with a pointer to their output, the rest are processed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from data_extract.contract import JobOptions, now_rfc3339
from data_extract.jobs import records
from data_extract.jobs.errors import BadRequest, Conflict, NotFound
from data_extract.jobs.records import (
    Baseline,
    IncrementalState,
    JobRecord,
    JobSourceFields,
    PointerFields,
    ResumeLink,
    SourcePathRecord,
    UnitRecord,
)
from data_extract.pipeline.types import ErrorType
from data_extract.settings import Settings
from data_extract.store import ConditionFailed, ObjectNotFound, Store

if TYPE_CHECKING:
    from data_extract.pipeline.run import FileResult

logger = logging.getLogger(__name__)

# How many of a source's newest jobs resume=true looks through for an unfinished session.
SOURCE_JOBS_SCANNED = 20
# A commit of up to a thousand paths takes seconds; the lease outlasts it by far, and a holder that died
# releases the source once it runs out. Finalize waits longer than a lease (and far less than its 300 s timeout),
# so a dead holder never sends a run to the finalize queue's long redelivery.
LOCK_LEASE_SECONDS = 120
LOCK_WAIT_SECONDS = 150
MAX_LISTED_DELETIONS = 1000

# Skipped results that are a file's final answer: resume does not process such files again.
_DONE_SKIPS = frozenset(
    {
        ErrorType.UNSUPPORTED_FORMAT.value,
        ErrorType.EMPTY.value,
        ErrorType.UNCHANGED.value,
        ErrorType.ALREADY_PROCESSED.value,
    }
)
_POINTER_SKIPS = frozenset({ErrorType.UNCHANGED.value, ErrorType.ALREADY_PROCESSED.value})
# Run options that shape a file's output: an output made with other values is not current for this run.
_OUTPUT_OPTIONS = (
    "output_format",
    "chunk_size",
    "chunk_overlap",
    "include_metadata",
    "per_chunk",
    "organize",
    "strategy",
    "delimiter",
    "ocr",
)

PROFILE_NOTE = (
    "pipeline_profile '{profile}': one deterministic, sentence-aware chunker serves every format here, "
    "so auto, legacy and advanced select the same pipeline and produce the same output"
)


class PlannedFile(Protocol):
    """What planning reads of a resolved input file (``submit.InputFile``)."""

    rel_path: str
    size: int
    fingerprint: str  # content SHA-256 (bytes uploaded in the request) or the S3 ETag
    data: bytes | None


# A resolved file's output in an earlier job: (job id, output key).
Pointer = tuple[str, str | None]


class SourceBusy(Exception):
    """Another run held the source's commit lock for longer than finalize waits; the message is retried."""


@dataclass(frozen=True)
class SourceIdentity:
    source_id: str  # what users see, e.g. "s3://bucket/in/ (recursive)" or "upload:finance/q3"
    digest: str  # the table key

    @classmethod
    def of(cls, source_id: str) -> SourceIdentity:
        return cls(source_id, hashlib.sha256(source_id.encode("utf-8")).hexdigest()[:32])


def source_of(source_uri: str | None, options: JobOptions) -> SourceIdentity | None:
    """The source of a job: its S3 location (``source_uri`` of the resolved inputs) or its upload label."""
    if source_uri is not None:
        if options.source:
            raise BadRequest("source labels name upload sources; an input_path job's source is its S3 location")
        recursive = options.recursive and source_uri.endswith("/")
        return SourceIdentity.of(source_uri + (" (recursive)" if recursive else ""))
    if options.source:
        return SourceIdentity.of(f"upload:{options.source}")
    return None


def options_digest(run_config: dict[str, Any]) -> str:
    values = {k: run_config.get(k) for k in _OUTPUT_OPTIONS}
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _finished(job: JobRecord) -> bool:
    # Not by a list of terminal statuses: any status a run ends in (cancelled included) comes with finished_at.
    return job["status"] not in ("queued", "running") and bool(job.get("finished_at"))


def _holds_outputs(job: JobRecord | None) -> bool:
    return job is not None and not job.get("cleaned")


@dataclass
class FilePlan:
    """How a new job starts one file: queued (optionally with a baseline to compare in the worker) or skipped."""

    status: str = "queued"
    error_type: str | None = None
    error_message: str | None = None
    current_job_id: str | None = None
    current_output_path: str | None = None
    baseline: Baseline | None = None

    def apply_to(self, unit: UnitRecord) -> None:
        """Start the file's unit as this plan says: its status and, for a file not processed again, why and where
        its current output lives."""
        unit["status"] = self.status
        if self.error_type is not None:
            unit["error_type"] = self.error_type
        if self.error_message is not None:
            unit["error_message"] = self.error_message
        if self.current_job_id is not None:
            unit["current_job_id"] = self.current_job_id
        if self.current_output_path is not None:
            unit["current_output_path"] = self.current_output_path
        if self.baseline is not None:
            unit["baseline"] = self.baseline


@dataclass
class RunPlan:
    source: SourceIdentity | None = None
    files: dict[str, FilePlan] = field(default_factory=dict)
    incremental: IncrementalState | None = None
    resumes: ResumeLink | None = None
    notes: list[str] = field(default_factory=list)
    ignored_fields: dict[str, str] = field(default_factory=dict)
    pipeline_profile: str = "auto"
    discard_older_sessions: bool = False

    def file(self, rel_path: str) -> FilePlan:
        return self.files.get(rel_path) or FilePlan()

    def job_fields(self) -> JobSourceFields:
        return {
            "source_id": self.source.source_id if self.source else None,
            "source_digest": self.source.digest if self.source else None,
            "incremental": self.incremental,
            "resumes": self.resumes,
            "notes": self.notes,
            "ignored_fields": self.ignored_fields,
            "pipeline_profile": self.pipeline_profile,
        }


# ---------------------------------------------------------------- submit: planning a run


def plan_run(
    store: Store,
    settings: Settings,
    options: JobOptions,
    files: Sequence[PlannedFile],
    source_uri: str | None,
    run_config: dict[str, Any],
) -> RunPlan:
    """Decide, before a job is created, which of its files it processes (``files``: the resolved InputFiles)."""
    plan = RunPlan(
        source=source_of(source_uri, options),
        pipeline_profile=str(options.pipeline_profile or settings.pipeline_profile),
    )
    given = options.model_fields_set
    if "output_path" in given and options.output_path:
        plan.ignored_fields["output_path"] = (
            "outputs always go to the job's own S3 prefix (output_dir); a request cannot choose another location"
        )
    if "non_interactive" in given:
        plan.ignored_fields["non_interactive"] = "jobs here never prompt: every job runs non-interactively"
    if "pipeline_profile" in given:
        plan.notes.append(PROFILE_NOTE.format(profile=plan.pipeline_profile))

    done = _plan_resume(store, options, plan, {f.rel_path for f in files})
    for rel_path, (job_id, output_path) in done.items():
        plan.files[rel_path] = FilePlan(
            status="skipped",
            error_type=ErrorType.ALREADY_PROCESSED.value,
            current_job_id=job_id,
            current_output_path=output_path,
            error_message=f"Already has a result in the resumed session (job {job_id}); not processed again.",
        )
    if options.incremental:
        _plan_incremental(store, options, plan, [f for f in files if f.rel_path not in done], files, run_config)
    if options.force and not options.resume and not options.resume_session and plan.source is not None:
        plan.discard_older_sessions = True
        plan.notes.append("force: earlier unfinished sessions of this source are no longer offered to resume=true")
    return plan


def _find_session(store: Store, session_id: str) -> dict[str, Any] | None:
    from data_extract.jobs import paths

    session = store.table.get_session(session_id)
    if session is None:
        try:
            session = store.objects.get_json(paths.session_record_key(session_id))
        except (ObjectNotFound, ValueError):
            return None
    return session


def _source_label(job: JobRecord) -> str:
    return job.get("source_id") or (
        "an unlabeled upload" if str(job.get("input_path", "")).startswith("upload") else str(job.get("input_path"))
    )


def _plan_resume(store: Store, options: JobOptions, plan: RunPlan, listing: set[str]) -> dict[str, Pointer]:
    """The files the resumed session already has a result for (path -> (job id, output key)); records the link."""
    picked: tuple[JobRecord, str] | None
    if options.resume_session:
        session = _find_session(store, options.resume_session)
        job = records.job(store, session["job_id"]) if session else None
        if job is None and plan.source is not None:
            # A session has no record until its run ends: look among the source's own jobs for a running one.
            for item in store.table.list_source_jobs(plan.source.digest, SOURCE_JOBS_SCANNED):
                candidate = records.job(store, item["job_id"])
                if candidate is not None and candidate.get("session_id") == options.resume_session:
                    job = candidate
                    break
        if job is None:
            raise NotFound(f"Session not found: {options.resume_session}")
        if not _finished(job):
            raise Conflict(
                f"Session {options.resume_session} (job {job['job_id']}) is still {job['status']}; "
                "resume it once it has finished."
            )
        mine = plan.source.source_id if plan.source else None
        if job.get("source_id") != mine:
            raise BadRequest(
                f"Session {options.resume_session} ran over {_source_label(job)}, not over "
                f"{mine or 'an unlabeled upload'}; resume it with the same input_path or source label."
            )
        picked = (job, options.resume_session)
    elif options.resume:
        if plan.source is None:
            plan.notes.append(
                "resume: an upload without a `source` label has no earlier session to resume; every file is processed"
            )
            return {}
        picked = _newest_unfinished(store, plan.source, listing)
        if picked is None:
            plan.notes.append("resume: this source has no unfinished session; every file is processed")
            return {}
    else:
        return {}
    job, session_id = picked
    done = {path: ptr for path, ptr in _done_files(store, job).items() if path in listing}
    plan.resumes = {"session_id": session_id, "job_id": job["job_id"]}
    plan.notes.append(
        f"resume: resuming session {session_id} of job {job['job_id']}; {len(done)} of "
        f"{len(listing)} file(s) already have a result there and are not processed again"
    )
    return done


def _done_files(store: Store, job: JobRecord) -> dict[str, Pointer]:
    done: dict[str, Pointer] = {}
    for unit in records.units(store, job["job_id"]):
        if unit["status"] == "processed":
            done[unit["source_path"]] = (job["job_id"], unit.get("output_path"))
        elif unit["status"] == "skipped" and unit.get("error_type") in _DONE_SKIPS:
            if unit.get("error_type") in _POINTER_SKIPS:
                done[unit["source_path"]] = (
                    unit.get("current_job_id") or job["job_id"],
                    unit.get("current_output_path"),
                )
            else:
                done[unit["source_path"]] = (job["job_id"], None)
    return done


def _newest_unfinished(store: Store, source: SourceIdentity, listing: set[str]) -> tuple[JobRecord, str] | None:
    """The newest finished session of the source that left files without a result; None when the newest
    finished session has none left (older sessions are then superseded by it)."""
    floor = (store.table.get_source(source.digest) or {}).get("resume_floor")
    for item in store.table.list_source_jobs(source.digest, SOURCE_JOBS_SCANNED):
        if floor and item["created_at"] < floor:
            return None
        job = records.job(store, item["job_id"])
        if job is None or not _finished(job):
            continue
        if job["status"] != "completed" or listing - _done_files(store, job).keys():
            return job, job["session_id"]
        return None
    return None


def _baseline(entry: SourcePathRecord) -> Baseline:
    return {
        "sha256": entry.get("sha256"),
        "size": entry.get("size"),
        "etag": entry.get("etag"),
        "job_id": entry.get("job_id"),
        "unit_id": entry.get("unit_id"),
        "output_path": entry.get("output_path"),
    }


def _same_content(f: PlannedFile, entry: SourcePathRecord) -> bool:
    """Whether a file is the entry's version, judged at submit without downloading anything."""
    if f.data is not None:  # uploaded in this request: its fingerprint is the content's SHA-256
        return f.fingerprint == entry["sha256"]
    return bool(f.fingerprint) and f.fingerprint == entry.get("etag") and f.size == entry.get("size")


def _compare(f: PlannedFile, entry: SourcePathRecord) -> FilePlan:
    """A file the state knows, with current output: skipped when unchanged, else queued with the baseline (the
    worker compares the bytes it fetches with it)."""
    baseline = _baseline(entry)
    if not _same_content(f, entry):
        return FilePlan(baseline=baseline)
    return FilePlan(
        status="skipped",
        error_type=ErrorType.UNCHANGED.value,
        current_job_id=entry["job_id"],
        current_output_path=entry.get("output_path"),
        baseline=baseline,
        error_message=unchanged_message(entry["job_id"], entry.get("output_path")),
    )


def _plan_incremental(
    store: Store,
    options: JobOptions,
    plan: RunPlan,
    candidates: Sequence[PlannedFile],
    files: Sequence[PlannedFile],
    run_config: dict[str, Any],
) -> None:
    if plan.source is None:
        plan.notes.append(
            "incremental: an upload without a `source` label has nothing to compare with; every "
            "file is processed (send source=<label> to compare uploads of that label)"
        )
        return
    digest = options_digest(run_config)
    state = {e["path"]: e for e in records.source_paths(store, plan.source.digest)}
    holders = {job_id: _holds_outputs(records.job(store, job_id)) for job_id in {e["job_id"] for e in state.values()}}
    for f in candidates:
        entry = state.get(f.rel_path)
        if (
            options.force
            or entry is None
            or not holders.get(entry["job_id"])
            or entry.get("options_digest") != digest
        ):
            continue
        plan.files[f.rel_path] = _compare(f, entry)
    unchanged = sum(1 for p in plan.files.values() if p.error_type == ErrorType.UNCHANGED.value)
    listing = {f.rel_path for f in files}
    full_listing = not options.source_files
    deleted = sorted(p for p in state if p not in listing) if full_listing else []
    plan.incremental = {
        "source": plan.source.source_id,
        "force": options.force,
        "options_digest": digest,
        "full_listing": full_listing,
        "deleted_count": len(deleted),
        "deleted_files": deleted[:MAX_LISTED_DELETIONS],
    }
    plan.notes.append(
        f"incremental: compared with the state of {plan.source.source_id}: "
        + (
            "force=true, every file is processed and the state refreshed"
            if options.force
            else f"{unchanged} file(s) unchanged at submit, {len(deleted)} deleted"
        )
    )


def unchanged_message(job_id: str, output_path: str | None) -> str:
    return f"Unchanged since job {job_id} processed it; its output is current: {output_path or '(none)'}"


def record_job(store: Store, job_id: str, created_at: str, plan: RunPlan) -> None:
    """After the job exists: list it under its source (for resume), and apply force's discard."""
    if plan.source is None:
        return
    store.table.record_source_job(plan.source.digest, plan.source.source_id, job_id, created_at)
    if plan.discard_older_sessions:
        store.table.set_resume_floor(plan.source.digest, plan.source.source_id, created_at)


# ---------------------------------------------------------------- worker


def unchanged_in_worker(unit: Mapping[str, Any], data: bytes) -> FileResult | None:
    """A FileResult 'skipped/unchanged' when the fetched bytes are the baseline's content, else None."""
    from data_extract.pipeline.run import FileResult

    baseline: Baseline | None = unit.get("baseline")
    if not baseline:
        return None
    sha = hashlib.sha256(data).hexdigest()
    if sha != baseline.get("sha256"):
        return None
    return FileResult(
        status="skipped",
        file_hash=sha,
        error_type=ErrorType.UNCHANGED.value,
        error_message=unchanged_message(str(baseline["job_id"]), baseline.get("output_path")),
    )


def pointer_fields(unit: Mapping[str, Any], error_type: str | None) -> PointerFields:
    baseline: Baseline | None = unit.get("baseline")
    if error_type != ErrorType.UNCHANGED.value or not baseline:
        return {}
    return {"current_job_id": baseline["job_id"], "current_output_path": baseline.get("output_path")}


# ---------------------------------------------------------------- finalize: committing a run's state


def commit_source_state(store: Store, job: Mapping[str, Any], units: Sequence[Mapping[str, Any]], run: int) -> bool:
    """Apply an incremental run's results to its source's state, under the commit lock. Idempotent.

    ``job`` and ``units`` are the run's ``JobRecord`` and ``UnitRecord`` items."""
    inc: IncrementalState | None = job.get("incremental")
    digest: str | None = job.get("source_digest")
    if not inc or not digest:
        return False
    job_id: str = job["job_id"]
    owner = f"{job_id}#{run}"
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    delay = 0.1
    while not store.table.acquire_source_lock(digest, job["source_id"], owner, time.time(), LOCK_LEASE_SECONDS):
        if time.monotonic() > deadline:
            raise SourceBusy(f"source {job['source_id']} stayed locked for {LOCK_WAIT_SECONDS} s")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    try:
        state = _CurrentState(store, job_id, inc["options_digest"], records.source_paths(store, digest))
        puts = [entry for unit in units if (entry := _new_entry(state, unit, bool(inc.get("force")))) is not None]
        deletes: list[str] = []
        if inc.get("full_listing") and run == 1:
            listing = {u["source_path"] for u in units}
            deletes = sorted(p for p in state.current if p not in listing)
        store.table.write_source_paths(digest, owner, [records.item(e) for e in puts], deletes)
    finally:
        try:
            store.table.release_source_lock(digest, owner, job_id, now_rfc3339())
        except ConditionFailed:
            logger.warning("source lock was taken over before release", extra={"job_id": job_id})
    return True


class _CurrentState:
    """A source's state as a commit found it, and which jobs still hold their outputs (asked once per job)."""

    def __init__(self, store: Store, job_id: str, digest: str, entries: list[SourcePathRecord]) -> None:
        self.job_id = job_id  # the committing job: it holds its outputs
        self.digest = digest
        self.now = now_rfc3339()
        self.current = {e["path"]: e for e in entries}
        self._store = store
        self._holders: dict[str, bool] = {}

    def holds(self, job_id: str) -> bool:
        if job_id not in self._holders:
            self._holders[job_id] = job_id == self.job_id or _holds_outputs(records.job(self._store, job_id))
        return self._holders[job_id]

    def has(self, path: str, sha: str | None) -> bool:
        """Whether the current entry of ``path`` already holds this content, made with the same options."""
        cur = self.current.get(path)
        return (
            cur is not None
            and cur.get("sha256") == sha
            and cur.get("options_digest") == self.digest
            and self.holds(cur["job_id"])
        )

    def entry(self, path: str, base: Baseline, job_id: str) -> SourcePathRecord:
        return {
            "path": path,
            "sha256": base["sha256"],
            "size": base.get("size"),
            "etag": base.get("etag"),
            "job_id": job_id,
            "unit_id": base.get("unit_id"),
            "output_path": base.get("output_path"),
            "options_digest": self.digest,
            "updated_at": self.now,
        }


def _new_entry(state: _CurrentState, unit: Mapping[str, Any], force: bool) -> SourcePathRecord | None:
    """The state entry a unit of the run leaves for its path, or None when the current entry stays."""
    path: str = unit["source_path"]
    if unit["status"] == "processed" and unit.get("file_hash"):
        if not force and state.has(path, unit["file_hash"]) and state.current[path]["job_id"] != state.job_id:
            return None  # an output of this same content is already current
        produced: Baseline = {
            "sha256": unit["file_hash"],
            "size": unit.get("size_bytes"),
            "etag": unit.get("etag"),
            "job_id": state.job_id,
            "unit_id": unit["unit_id"],
            "output_path": unit.get("output_path"),
        }
        return state.entry(path, produced, state.job_id)
    base: Baseline | None = unit.get("baseline")
    if unit["status"] == "skipped" and unit.get("error_type") == ErrorType.UNCHANGED.value and base:
        holder = base["job_id"]
        if holder is None or state.has(path, base["sha256"]) or not state.holds(holder):
            return None
        return state.entry(path, base, holder)
    return None


# ---------------------------------------------------------------- read side


def result_fields(job: Mapping[str, Any], units: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What result.json adds for incremental runs and resumes (``job``/``units``: the run's records)."""
    inc: IncrementalState | None = job.get("incremental")
    return {
        "deleted_count": int(inc.get("deleted_count", 0)) if inc else 0,
        "deleted_files": list(inc.get("deleted_files", [])) if inc else [],
        "unchanged_count": sum(1 for u in units if u.get("error_type") == ErrorType.UNCHANGED.value),
        "source": job.get("source_id"),
        "resumes": job.get("resumes"),
    }


def incremental_summary(job: JobRecord, units: Sequence[UnitRecord]) -> dict[str, Any] | None:
    inc = job.get("incremental")
    if not inc:
        return None
    return {
        "source": inc["source"],
        "force": bool(inc.get("force")),
        "unchanged_count": sum(1 for u in units if u.get("error_type") == ErrorType.UNCHANGED.value),
        "deleted_count": int(inc.get("deleted_count", 0)),
        "deleted_files": list(inc.get("deleted_files", [])),
    }
