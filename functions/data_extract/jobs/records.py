"""The records a job keeps in the table, typed once: the job, its file units, its runs, a source's path state.

The key names are the attribute names as stored (store/tables.py writes and reads them as plain items). Keys a
record has from the moment it is written are required; keys a later step adds (a unit's result, a finished run,
a job's notice) are ``NotRequired``. The table returns plain dicts; ``job``/``unit``/``run`` and the list
readers below are the one place that names them as these records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict, cast

from data_extract.store import Store


class StoredKeys(TypedDict, total=False):
    """What the table adds to every item it writes (keys and TTL)."""

    PK: str
    SK: str
    expires_at: int


# ---------------------------------------------------------------- job


class IncrementalState(TypedDict):
    """``job["incremental"]``: how an incremental run compared its files with the source's state."""

    source: str
    force: bool
    options_digest: str
    full_listing: bool
    deleted_count: int
    deleted_files: list[str]


class ResumeLink(TypedDict):
    """``job["resumes"]``: the session (and its job) a resumed job started from."""

    session_id: str
    job_id: str


class Notice(TypedDict):
    """``job["notice"]``: the job-finished notice of the run that ended last (callback and EventBridge)."""

    id: str
    type: str
    job_id: str
    run: int
    status: str
    processed_count: int
    failed_count: int
    skipped_count: int
    finished_at: str
    result_path: str | None


class JobSourceFields(TypedDict):
    """The job's source, incremental and resume fields, as the run plan decides them at submit."""

    source_id: str | None
    source_digest: str | None
    incremental: IncrementalState | None
    resumes: ResumeLink | None
    notes: list[str]
    ignored_fields: dict[str, str]
    pipeline_profile: str


class JobRequestFields(TypedDict):
    """The job's fields that follow from the request alone (``submit._job_record``)."""

    job_id: str
    status: str  # a JobStatus value
    input_path: str
    output_dir: str
    artifact_dir: str
    requested_format: str
    chunk_size: int
    sealed_password: str | None  # KMS ciphertext bound to the job id; never the password itself
    request_hash: str
    idempotency_key: str | None
    callback_url: str | None
    dispatch_state: str
    dispatch_attempts: int
    artifact_sync_state: str
    artifact_sync_attempts: int
    created_at: str
    updated_at: str
    current_run: int
    cleaned: bool
    halted: bool


class JobRecord(JobSourceFields, JobRequestFields, StoredKeys):
    """The job item (SK ``JOB``)."""

    preset: str | None
    run_config: dict[str, Any]  # the resolved configuration every unit of the job runs with
    request_payload: dict[str, Any]  # the request as submitted, without the password
    session_id: str
    started_at: NotRequired[str]
    finished_at: NotRequired[str]
    cancel_requested_at: NotRequired[str]
    # A large job's fan-out (jobs/dispatch.py): its slices, the cursor, the message that moved it, the file count.
    dispatch_slices: NotRequired[int]
    dispatch_slice: NotRequired[int]
    dispatch_by: NotRequired[str]
    dispatch_units: NotRequired[int]
    dispatch_resumes: NotRequired[int]
    result_key: NotRequired[str]
    result_checksum: NotRequired[str]
    artifact_sync_error: NotRequired[str | None]
    notice: NotRequired[Notice]
    notice_state: NotRequired[str]
    GSI1PK: NotRequired[str]
    GSI1SK: NotRequired[str]
    GSI2PK: NotRequired[str]
    GSI2SK: NotRequired[str]


# ---------------------------------------------------------------- file unit


class Baseline(TypedDict):
    """``unit["baseline"]``: the source state's entry an incremental run compares the fetched bytes with."""

    sha256: str | None
    size: int | None
    etag: str | None
    job_id: str | None
    unit_id: str | None
    output_path: str | None


class PointerFields(TypedDict, total=False):
    """Where the current output of a file that was not processed again lives."""

    current_job_id: str | None
    current_output_path: str | None


class UnitResult(PointerFields, total=False):
    """What a unit's end writes (``Table.record_unit_result``): its outcome, outputs and where its input is."""

    status: str  # a FileStatus value
    chunk_count: int
    detected_format: str | None
    file_hash: str | None
    error_type: str | None
    error_message: str | None
    stage_timings_ms: dict[str, float]
    output_path: str | None
    output_files: list[str]
    output_count: int
    warnings: list[str]
    input_key: str
    input_bucket: str


class UnitRecord(StoredKeys):
    """A file unit item (SK ``FILE#<unit_id>``): one input file of the job, with its latest result."""

    unit_id: str
    source_path: str
    input_bucket: str
    input_key: str
    size_bytes: int
    status: str  # a FileStatus value
    run: int
    retry_count: int
    chunk_count: int
    attempts: int
    updated_at: str
    etag: NotRequired[str]  # incremental runs over S3 inputs: the object's ETag at submit
    split_run: NotRequired[int]  # the run in which the file was split into page ranges (jobs/split.py)
    range_count: NotRequired[int]
    error_type: NotRequired[str | None]
    error_message: NotRequired[str | None]
    current_job_id: NotRequired[str | None]
    current_output_path: NotRequired[str | None]
    baseline: NotRequired[Baseline]
    detected_format: NotRequired[str | None]
    file_hash: NotRequired[str | None]
    stage_timings_ms: NotRequired[dict[str, float]]
    output_path: NotRequired[str | None]
    output_files: NotRequired[list[str]]
    output_count: NotRequired[int]
    warnings: NotRequired[list[str]]


# ---------------------------------------------------------------- run


class RunRecord(StoredKeys):
    """A run item (SK ``RUN#<nnn>``): the first processing of a job, or one retry of its failed files."""

    run: int
    kind: str  # process | retry
    session_id: str
    total_units: int
    done_units: int
    status: str
    started_at: str
    counter_shards: NotRequired[int]  # done_units is summed over this many shard items (absent: on the run item)
    finalize_state: NotRequired[str]  # claimed, then done
    finalize_claimed_at: NotRequired[str]
    finished_at: NotRequired[str]


# ---------------------------------------------------------------- source state


class SourcePathRecord(StoredKeys):
    """A source's state for one relative path (SK ``PATH#<path>``): the version whose output is current."""

    path: str
    sha256: str | None
    size: int | None
    etag: str | None
    job_id: str
    unit_id: str | None
    output_path: str | None
    options_digest: str
    updated_at: str


# ---------------------------------------------------------------- typed reads and writes


# The table layer knows no job types (it must not import this package), so its items come back as plain dicts;
# these readers name them. Each item was written by the code these records describe.
def job(store: Store, job_id: str) -> JobRecord | None:
    return cast("JobRecord | None", store.table.get_job(job_id))


def units(store: Store, job_id: str, limit: int | None = None) -> list[UnitRecord]:
    return cast("list[UnitRecord]", store.table.list_units(job_id, limit))


def run(store: Store, job_id: str, run_number: int) -> RunRecord | None:
    return cast("RunRecord | None", store.table.get_run(job_id, run_number))


def jobs_page(store: Store, limit: int, offset: int) -> list[JobRecord]:
    return cast("list[JobRecord]", store.table.list_jobs(limit, offset))


def source_paths(store: Store, digest: str) -> list[SourcePathRecord]:
    return cast("list[SourcePathRecord]", store.table.list_source_paths(digest))


def item(record: Mapping[str, Any]) -> dict[str, Any]:
    """A record as the plain item the table's write methods take."""
    return dict(record)
