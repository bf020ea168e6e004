"""The API contract in code: request/response models and enums.

Field names are the ones existing clients and saved requests send, so they keep working;
values are validated here so bad options fail at submit time (422), not later
inside a worker.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime) -> str:
    """RFC 3339, UTC, with a trailing Z: the one timestamp format of the API."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_rfc3339() -> str:
    return rfc3339(utc_now())


Timestamp = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]


class OutputFormat(StrEnum):
    json = "json"
    txt = "txt"
    csv = "csv"


class OrganizeStrategy(StrEnum):
    by_document = "by_document"
    by_entity = "by_entity"
    flat = "flat"


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
    html = "html"


class GraphFormat(StrEnum):
    json = "json"
    csv = "csv"
    dot = "dot"


class PipelineProfile(StrEnum):
    """Pipeline routing, accepted from clients that choose one. One deterministic chunker serves every format,
    so every profile selects the same pipeline; the job's effective options say so."""

    auto = "auto"
    legacy = "legacy"
    advanced = "advanced"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    partial = "partial"
    failed = "failed"
    # Cancellation was asked for: queued files are skipped, running ones stop at their next stage boundary.
    cancelling = "cancelling"
    cancelled = "cancelled"


TERMINAL_JOB_STATUSES = frozenset({JobStatus.completed, JobStatus.partial, JobStatus.failed, JobStatus.cancelled})


class FileStatus(StrEnum):
    queued = "queued"
    running = "running"
    processed = "processed"
    failed = "failed"
    skipped = "skipped"


TERMINAL_FILE_STATUSES = frozenset({FileStatus.processed, FileStatus.failed, FileStatus.skipped})

DEFAULT_DELIMITER = "━━━ CHUNK {{n}} ━━━"

# Rules the API enforces, stated in the OpenAPI document too so that generated clients check them.
PRESET_NAME_PATTERN = r"^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]*$"
NO_CONTROL_CHARACTERS_PATTERN = r"^[^\x00-\x1f\x7f]*$"
UPLOAD_ID_PATTERN = r"^[A-Za-z0-9]{1,64}$"
UPLOAD_NAME_RULES = (
    "relative path, e.g. reports/a.pdf; no control characters; backslashes count as '/'; empty, '.', '..' and "
    "drive-letter (C:) segments are dropped; at most 900 bytes (UTF-8) once cleaned"
)


# Older spellings that clients still send, standing for other fields (see JobOptions._original_spellings).
LEGACY_ALIAS_SCHEMA: dict[str, dict[str, Any]] = {
    "semantic": {"type": "boolean", "description": "alias of include_semantic"},
    "export_graph": {
        "type": "string",
        "enum": ["json", "csv", "dot"],
        "description": "legacy field: semantic_export_graph=true with this graph format",
    },
}


def _add_legacy_aliases(schema: dict[str, Any]) -> None:
    schema.setdefault("properties", {}).update(LEGACY_ALIAS_SCHEMA)


class JobOptions(BaseModel):
    """Processing options shared by JSON and multipart submissions."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_add_legacy_aliases)

    output_format: OutputFormat = OutputFormat.json
    chunk_size: int = Field(512, ge=16, le=8192, description="maximum tokens (words; CJK characters) per chunk")
    chunk_overlap: int | None = Field(
        None, ge=0, le=4096, description="tokens repeated from the previous chunk; default scales with chunk_size"
    )
    include_metadata: bool = False
    per_chunk: bool = False
    organize: bool = False
    strategy: OrganizeStrategy | None = None
    delimiter: str = Field(DEFAULT_DELIMITER, min_length=1, max_length=200)
    table_csv: bool = Field(
        False, description="also write every table of a file as its own CSV: <source>.tables/<table_id>.csv"
    )
    recursive: bool = Field(False, description="for input_path prefixes: include objects in sub-folders")
    preset: str | None = Field(
        None,
        max_length=64,
        json_schema_extra={"pattern": PRESET_NAME_PATTERN},
        description="letters, digits, '_', '-' and '.', starting with a letter or digit; no '..'",
    )
    include_semantic: bool = False
    semantic_report: bool | None = None
    semantic_report_format: ReportFormat | None = None
    semantic_export_graph: bool | None = None
    semantic_graph_format: GraphFormat | None = None
    semantic_duplicate_threshold: float | None = Field(None, ge=0.0, le=1.0)
    semantic_related_threshold: float | None = Field(None, ge=0.0, le=1.0)
    semantic_max_features: int | None = Field(None, ge=1, le=1_000_000)
    semantic_n_components: int | None = Field(None, ge=1, le=1000)
    semantic_min_quality: float | None = Field(None, ge=0.0, le=1.0)
    include_evaluation: bool = True
    evaluation_policy: str = Field("baseline_v1", max_length=64)
    evaluation_fail_on_bad: bool = False
    continue_on_error: bool = True
    source_files: list[Annotated[str, Field(min_length=1, max_length=1024)]] = Field(
        default_factory=list, max_length=1000, description="with input_path: only these keys (relative to it)"
    )
    idempotency_key: str | None = Field(None, min_length=1, max_length=128)
    password: str | None = Field(
        None, max_length=256, description="password for encrypted PDFs; write-only, never echoed back"
    )
    ocr: bool = Field(True, description="run OCR on image-only pages and images when the worker has Tesseract")
    callback_url: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="https URL that receives a signed POST (webhook-id, webhook-timestamp, webhook-signature "
        "headers) when the job ends; public addresses only, optionally limited by an allow-list",
    )

    # --- Fields existing clients and saved requests send: each one works (or is reported in ignored_fields) ---
    incremental: bool = Field(
        False,
        description="skip files whose content is unchanged since this source last processed them "
        "(skipped, error_type 'unchanged', with a pointer to the job holding the current output); "
        "files gone from the source are reported as deleted. Needs a source: the input_path "
        "location, or a `source` label for uploads",
    )
    force: bool = Field(
        False,
        description="with incremental: reprocess every file and refresh the source's state; without resume: "
        "earlier unfinished sessions of the source are no longer offered to resume=true",
    )
    resume: bool = Field(
        False,
        description="process only the files of the source that have no successful result yet in its "
        "newest unfinished session (failed, halted, cancelled, or the source grew since); the "
        "others are listed as skipped, error_type 'already_processed', with a pointer to their output",
    )
    resume_session: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="resume this session id (from GET /sessions or a job's session_id); unknown ids are a 404",
    )
    non_interactive: bool = Field(
        False, description="accepted for compatibility and ignored: every job here runs without prompts"
    )
    pipeline_profile: PipelineProfile | None = Field(
        None,
        description="auto | legacy | advanced (default: DATA_EXTRACT_PIPELINE_PROFILE, else auto). One "
        "deterministic chunker serves every format, so every profile selects the same pipeline",
    )
    output_path: str | None = Field(
        None,
        max_length=1024,
        description="accepted for compatibility and ignored: outputs always go to the job's own S3 prefix "
        "(output_dir)",
    )
    source: str | None = Field(
        None,
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="uploads only: a label naming where the files come from (e.g. 'finance/2026-q3'); with it, "
        "incremental and resume compare uploads of the same label by their relative paths",
    )

    @model_validator(mode="before")
    @classmethod
    def _original_spellings(cls, data: Any) -> Any:
        """Empty strings mean "not given" (form clients send every field); aliases map onto their fields."""
        if not isinstance(data, dict):
            return data
        # (input_path keeps its own, clearer error for an empty value.)
        data = {
            k: v
            for k, v in data.items()
            if k in ("input_path", "upload_id") or not (isinstance(v, str) and v.strip() == "")
        }
        if "semantic" in data:
            semantic = data.pop("semantic")
            if "include_semantic" in data and data["include_semantic"] != semantic:
                raise ValueError("semantic is an alias of include_semantic; send one of them, or the same value")
            data["include_semantic"] = semantic
        if "export_graph" in data:
            graph = data.pop("export_graph")
            if graph is not None:
                if data.get("semantic_graph_format") not in (None, graph):
                    raise ValueError("export_graph and semantic_graph_format differ; send one of them")
                if data.get("semantic_export_graph") in (False, "false", "0", "no", "off"):
                    raise ValueError(
                        "export_graph asks for the graph export that semantic_export_graph=false turns off"
                    )
                data["semantic_export_graph"] = True
                data["semantic_graph_format"] = graph
        return data

    @field_validator("preset", "idempotency_key", "callback_url", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value.strip() if isinstance(value, str) else value

    @field_validator("evaluation_policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        from data_extract.governance.evaluate import available_policies

        if value not in available_policies():
            raise ValueError(f"unknown evaluation policy '{value}'; available: {', '.join(available_policies())}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> JobOptions:
        if self.organize and self.strategy is None:
            raise ValueError("organize=true needs a strategy (by_document, by_entity or flat)")
        if self.strategy is not None and not self.organize:
            raise ValueError("strategy is only used with organize=true")
        if self.organize and self.per_chunk:
            raise ValueError("per_chunk and organize are exclusive; choose one output layout")
        if self.chunk_overlap is not None and self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunk_overlap must be smaller than chunk_size")
        return self


def _request_schema_extra(schema: dict[str, Any]) -> None:
    _add_legacy_aliases(schema)
    schema["oneOf"] = [
        {"required": ["input_path"], "properties": {"input_path": {"type": "string"}}},
        {"required": ["upload_id"], "properties": {"upload_id": {"type": "string"}}},
    ]


class ProcessJobRequest(JobOptions):
    """JSON submission: name the input in S3 (input_path) or a finished presigned upload (upload_id)."""

    # Exactly one of the two, stated for generated clients (the validator below enforces it).
    model_config = ConfigDict(json_schema_extra=_request_schema_extra)

    input_path: str | None = Field(
        None,
        max_length=2048,
        json_schema_extra={"pattern": NO_CONTROL_CHARACTERS_PATTERN},
        description="s3://bucket/prefix, a key, or a glob inside DATA_EXTRACT_API_ALLOWED_INPUT_ROOTS; no control "
        "characters, no '..' segments; exactly one of input_path and upload_id",
    )
    upload_id: str | None = Field(
        None,
        pattern=UPLOAD_ID_PATTERN,
        description="id returned by POST /api/v1/uploads once its files are PUT; exactly "
        "one of input_path and upload_id",
    )

    @field_validator("input_path")
    @classmethod
    def _printable_path(cls, value: str | None) -> str | None:
        if value is not None and re.search(r"[\x00-\x1f\x7f]", value):
            raise ValueError("input_path must not contain NUL or other control characters")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> ProcessJobRequest:
        if (self.input_path is None) == (self.upload_id is None):
            raise ValueError("provide exactly one of input_path or upload_id (or send files as multipart/form-data)")
        return self


class EnqueueJobResponse(BaseModel):
    job_id: str
    status: JobStatus


class CancelJobResponse(BaseModel):
    job_id: str
    status: JobStatus = Field(..., description="cancelling until the run's finalize ends the job as cancelled")
    cancel_requested_at: Timestamp | None = None


class UploadFileSpec(BaseModel):
    # Strict: a size is a JSON integer, never true, "12" or 1.0.
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = Field(
        ...,
        min_length=1,
        max_length=1024,
        json_schema_extra={"pattern": NO_CONTROL_CHARACTERS_PATTERN},
        description=UPLOAD_NAME_RULES,
    )
    size_bytes: int = Field(..., ge=0, description="exact size; the PUT must send exactly this many bytes")
    content_type: str | None = Field(None, max_length=255)


class CreateUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    files: list[UploadFileSpec] = Field(..., min_length=1)


class UploadTarget(BaseModel):
    name: str
    url: str
    method: str = "PUT"
    headers: dict[str, str] = Field(..., description="send these with the PUT (Content-Length is signed)")
    size_bytes: int


class CreateUploadResponse(BaseModel):
    upload_id: str
    expires_at: Timestamp
    files: list[UploadTarget]


class JobSummary(BaseModel):
    job_id: str
    status: JobStatus
    input_path: str
    output_dir: str
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    session_id: str | None = None


class JobFile(BaseModel):
    file_id: str
    source_path: str
    output_path: str | None = None
    status: FileStatus
    chunk_count: int = 0
    retry_count: int = 0
    size_bytes: int | None = None
    detected_format: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    stage_timings_ms: dict[str, float] = Field(default_factory=dict)
    updated_at: Timestamp | None = None
    current_job_id: str | None = Field(
        None, description="skipped as unchanged or already_processed: the job whose output for this file is current"
    )
    current_output_path: str | None = Field(None, description="that job's output key for this file")


class IncrementalSummary(BaseModel):
    """What an incremental run compared against: the source's state as the run found it."""

    source: str
    force: bool
    unchanged_count: int = Field(..., description="files skipped as unchanged")
    deleted_count: int = Field(..., description="files the source's state knew that are gone from the source")
    deleted_files: list[str]


class ResumeLink(BaseModel):
    session_id: str
    job_id: str


class JobEvent(BaseModel):
    event_type: str
    message: str
    payload: dict[str, Any] = Field(default_factory=dict)
    event_time: Timestamp


class JobProgress(BaseModel):
    total: int
    queued: int
    running: int
    processed: int
    failed: int
    skipped: int
    pending: int = Field(..., description="queued + running")


class JobDetail(BaseModel):
    job_id: str
    status: JobStatus
    input_path: str
    output_dir: str
    requested_format: str
    chunk_size: int
    effective_format: str
    effective_chunk_size: int
    effective_chunk_overlap: int
    preset: str | None = None
    request_hash: str
    dispatch_state: str
    dispatch_attempts: int
    artifact_dir: str
    artifact_sync_state: str
    artifact_sync_attempts: int
    artifact_sync_error: str | None = None
    result_checksum: str | None = None
    created_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    updated_at: Timestamp
    session_id: str | None = None
    request_payload: dict[str, Any]
    result_payload: dict[str, Any] | None = None
    progress: JobProgress
    files: list[JobFile]
    events: list[JobEvent]
    pipeline_profile: PipelineProfile = Field(
        PipelineProfile.auto, description="the profile the job ran with; every profile selects the same pipeline here"
    )
    source: str | None = Field(
        None, description="the source identity incremental runs and resume compare by (S3 location or upload label)"
    )
    incremental: IncrementalSummary | None = None
    resumes: ResumeLink | None = Field(None, description="the session this job resumes")
    ignored_fields: dict[str, str] = Field(
        default_factory=dict,
        description="request fields accepted for compatibility that change nothing here, and why",
    )
    notes: list[str] = Field(default_factory=list, description="how the request's options were applied")


class ArtifactInfo(BaseModel):
    path: str
    size_bytes: int
    modified_at: Timestamp


class ArtifactListResponse(BaseModel):
    job_id: str
    artifacts: list[ArtifactInfo]


class CleanupResponse(BaseModel):
    job_id: str
    removed: bool
    removed_count: int = 0


class SessionSummary(BaseModel):
    session_id: str
    job_id: str
    run: int
    status: str
    source_directory: str
    total_files: int
    processed_count: int
    failed_count: int
    skipped_count: int = 0
    updated_at: Timestamp


class SessionDetail(SessionSummary):
    schema_version: str
    started_at: Timestamp | None = None
    configuration: dict[str, Any]
    processed_files: list[dict[str, Any]]
    failed_files: list[dict[str, Any]]
    skipped_files: list[dict[str, Any]] = Field(default_factory=list)
    statistics: dict[str, int]


class LoginRequest(BaseModel):
    model_config = ConfigDict(strict=True)
    api_key: str = Field(..., min_length=1, max_length=4096)


class SessionStatusResponse(BaseModel):
    authenticated: bool
    api_key_configured: bool
    expires_at: Timestamp | None = None


class PresetInfo(BaseModel):
    name: str
    category: str
    description: str | None = None
    is_builtin: bool


class PresetPreview(BaseModel):
    preset: str
    category: str
    description: str | None = None
    effective_config: dict[str, Any]


class CurrentPreset(BaseModel):
    preset: str | None = None


class HealthResponse(BaseModel):
    status: str = Field(..., description="ok | degraded | error")
    ready: bool
    timestamp: Timestamp


class QueueDepth(BaseModel):
    visible: int | None = None
    in_flight: int | None = None
    delayed: int | None = None
    reachable: bool


class SecurityPosture(BaseModel):
    api_key_configured: bool
    session_secret_configured: bool
    session_revocation: bool
    input_roots_restricted: bool
    https_only_cookies: bool


class ExtractorReadiness(BaseModel):
    formats: list[str]
    ocr_available: bool | None = None
    reported_by_worker: bool
    checked_at: Timestamp | None = None


class DetailedHealthResponse(HealthResponse):
    version: str
    work_queue: QueueDepth
    work_dead_letter: QueueDepth
    finalize_queue: QueueDepth
    table_reachable: bool
    bucket_reachable: bool
    extractors: ExtractorReadiness
    security: SecurityPosture
    problems: list[str]


class ErrorResponse(BaseModel):
    detail: Any
