"""The API contract in code: request/response models and enums.

Field names follow the original service so existing clients keep working;
values are validated here so bad options fail at submit time (422), not later
inside a worker.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def rfc3339(value: datetime) -> str:
    """RFC 3339, UTC, with a trailing Z: the one timestamp format of the API."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    partial = "partial"
    failed = "failed"


TERMINAL_JOB_STATUSES = frozenset({JobStatus.completed, JobStatus.partial, JobStatus.failed})


class FileStatus(StrEnum):
    queued = "queued"
    running = "running"
    processed = "processed"
    failed = "failed"
    skipped = "skipped"


TERMINAL_FILE_STATUSES = frozenset({FileStatus.processed, FileStatus.failed, FileStatus.skipped})

DEFAULT_DELIMITER = "━━━ CHUNK {{n}} ━━━"


class JobOptions(BaseModel):
    """Processing options shared by JSON and multipart submissions."""

    model_config = ConfigDict(extra="forbid")

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
    preset: str | None = Field(None, max_length=64)
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

    @field_validator("preset", "idempotency_key", mode="before")
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


class ProcessJobRequest(JobOptions):
    """JSON submission: name the input in S3 (input_path) or a finished presigned upload (upload_id)."""

    input_path: str | None = Field(
        None, description="s3://bucket/prefix, a key, or a glob inside DATA_EXTRACT_API_ALLOWED_INPUT_ROOTS"
    )
    upload_id: str | None = Field(None, description="id returned by POST /api/v1/uploads once its files are PUT")

    @model_validator(mode="after")
    def _one_source(self) -> ProcessJobRequest:
        if (self.input_path is None) == (self.upload_id is None):
            raise ValueError("provide exactly one of input_path or upload_id (or send files as multipart/form-data)")
        return self


class EnqueueJobResponse(BaseModel):
    job_id: str
    status: JobStatus


class UploadFileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=1024, description="relative path, e.g. reports/a.pdf")
    size_bytes: int = Field(..., ge=0)
    content_type: str | None = Field(None, max_length=255)


class CreateUploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[UploadFileSpec] = Field(..., min_length=1)


class UploadTarget(BaseModel):
    name: str
    url: str
    method: str = "PUT"
    headers: dict[str, str]


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
    api_key: str = Field(..., max_length=4096)


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
