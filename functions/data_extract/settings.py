"""One settings object: every environment variable, its default and its limits.

Lambda functions and the local stack read the same variables, all named
``DATA_EXTRACT_*``, the prefix existing deployments already set.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATA_EXTRACT_", extra="ignore", populate_by_name=True)

    # --- AWS resources (names or URLs; template.yaml passes them to every function) ---
    table_name: str = Field("data-extract", description="DynamoDB table holding jobs, files, events, sessions")
    bucket_name: str = Field("data-extract-artifacts", description="S3 bucket for inputs, outputs and records")
    work_queue_url: str = Field("", description="SQS queue with one message per file unit")
    finalize_queue_url: str = Field("", description="SQS queue with one message per finished run")
    work_dlq_url: str = Field("", description="dead-letter queue of the work queue (for health)")
    notify_queue_url: str = Field("", description="SQS queue with one message per job-finished notice")
    event_bus_name: str = Field("", description="EventBridge bus that receives a 'Job Finished' event per job")
    semantic_queue_url: str = Field(
        "",
        description="SQS queue with one message per run that asked for the "
        "corpus semantic stage (finalize hands it over)",
    )
    dispatch_queue_url: str = Field(
        "", description="SQS queue with one message per slice of a large job's fan-out (the dispatch function)"
    )
    secrets_key_id: str = Field("", description="KMS key that seals job secrets (document passwords)")
    # Local stack and tests point boto3 at moto with this; empty in AWS.
    aws_endpoint_url: str = Field("", validation_alias="AWS_ENDPOINT_URL")

    # --- Auth ---
    api_key: str = Field(
        "",
        description="enables auth when set (X-API-Key header or session cookie); several keys, comma-separated, "
        "are all valid at once (rotation without downtime)",
    )
    api_key_secret_id: str = Field(
        "",
        description="Secrets Manager id/ARN holding the API key(s), comma- or newline-separated; read once per "
        "container when api_key is empty",
    )
    api_session_secret: str = Field(
        "",
        description="signing secret for session tokens, never an API key; without it (and without "
        "api_session_secret_id) each process signs with a random secret of its own",
    )
    api_session_secret_id: str = Field(
        "",
        description="Secrets Manager id/ARN holding the session signing secret; read once per container when "
        "api_session_secret is empty",
    )
    api_session_ttl_seconds: int = Field(900, description="session token lifetime, clamped to 1..86400")

    # --- Inputs and limits ---
    api_allowed_input_roots: str = Field(
        "", description="comma-separated s3://bucket/prefix roots a job's input_path may name; empty allows none"
    )
    api_max_upload_file_bytes: int = Field(100 * MIB, ge=1)
    api_max_upload_total_bytes: int = Field(500 * MIB, ge=1)
    api_max_upload_files: int = Field(1000, ge=1)
    # API Gateway caps payloads near 10 MB (6 MB for Lambda); larger files use presigned uploads.
    api_inline_download_max_bytes: int = Field(5 * MIB, ge=1)
    presigned_url_ttl_seconds: int = Field(900, ge=1, le=604800)
    api_queue_high_watermark: int = Field(
        50_000, ge=1, description="visible work-queue messages at which new jobs get 503 + Retry-After"
    )
    api_queue_retry_hint_seconds: int = Field(5, ge=1)

    # --- Per-file extraction limits ---
    max_file_bytes: int = Field(200 * MIB, ge=1)
    max_pages: int = Field(2000, ge=1)
    max_chars: int = Field(20_000_000, ge=1)
    extract_timeout_seconds: float = Field(120.0, gt=0)
    extract_memory_mb: int = Field(1536, ge=64)
    ocr_enabled: bool = True
    ocr_languages: str = "eng"
    # --- Large PDFs split into page-range units (docs/service-benchmarks.md, "Big documents") ---
    split_text_pages_per_unit: int = Field(250, ge=1, description="pages per unit of a split text PDF")
    split_ocr_pages_per_unit: int = Field(10, ge=1, description="pages per unit of a split scanned PDF (OCR)")
    max_split_pages: int = Field(10_000, ge=1, description="page limit of a PDF split into page-range units")

    # --- Completion notices (callback_url) ---
    callback_secret_id: str = Field(
        "", description="Secrets Manager id/ARN of the HMAC-SHA256 key that signs callback notices (notifier only)"
    )
    callback_allowed_hosts: str = Field(
        "",
        description="comma-separated hosts a callback_url may name ('.example.com' allows its subdomains); "
        "empty allows any public host",
    )
    callback_local_mode: bool = Field(
        False, description="local stack only: callbacks may use http and loopback/private addresses"
    )
    callback_max_attempts: int = Field(6, ge=1, le=20, description="delivery attempts per notice, the first included")
    callback_backoff_seconds: int = Field(
        30, ge=0, le=900, description="delay before the second attempt; doubles per attempt, capped at 900 s"
    )
    callback_timeout_seconds: float = Field(10.0, gt=0, le=60)

    # --- Run counter ---
    run_counter_shards: int = Field(
        16,
        ge=1,
        le=64,
        description="shard items of a new run's done counter (kept on the run): each takes at most 1,000 WCU/s, "
        "a unit's result costs 2, so 16 shards hold about 8,000 unit results per second (docs/capacity.md)",
    )

    # --- Fan-out ---
    dispatch_inline_max_units: int = Field(
        500,
        ge=1,
        description="a job with at most this many files to process writes its units and messages in the "
        "submitting request (about 70 calls); a larger one is fanned out by the dispatch function in slices",
    )
    dispatch_slice_units: int = Field(
        500,
        ge=10,
        le=5000,
        description="file units one dispatch message writes and queues (about 5 transactions and 50 "
        "SendMessageBatch calls per 500)",
    )

    # --- Sweeper ---
    sweep_grace_seconds: int = Field(
        300,
        ge=1,
        description="a job that has shown no progress for this long is inspected (never dispatched, "
        "finalize never claimed)",
    )
    sweep_dispatch_resumes: int = Field(
        3,
        ge=0,
        le=20,
        description="times the sweeper sends a stalled fan-out's slice message again before it fails the files "
        "of the slices left (dispatch_failed, retryable)",
    )
    unit_lease_seconds: int = Field(
        7200,
        ge=1,
        description="a file unit running this long is failed as lease_expired; longer than SQS "
        "redelivers it (work queue visibility 1200 s x 5 receives)",
    )
    sweep_max_jobs: int = Field(200, ge=1, le=5000, description="jobs one sweep inspects at most")

    # --- Retention ---
    retention_days: int = Field(30, ge=1, description="TTL for job records; S3 lifecycle mirrors it")
    max_retries_per_file: int = Field(3, ge=0)

    # --- Compatibility ---
    pipeline_profile: Literal["auto", "legacy", "advanced"] = Field(
        "auto", description="profile of jobs that name none; every profile selects the same pipeline here"
    )

    @field_validator("api_session_ttl_seconds", mode="before")
    @classmethod
    def _clamp_ttl(cls, value: object) -> int:
        try:
            ttl = int(str(value).strip())
        except (TypeError, ValueError):
            return 900
        return max(1, min(ttl, 86400))

    @field_validator("api_key", "api_session_secret", mode="after")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @property
    def callback_hosts(self) -> list[str]:
        return [h.strip().lower().rstrip(".") for h in self.callback_allowed_hosts.split(",") if h.strip()]

    @property
    def allowed_input_roots(self) -> list[str]:
        return [r.strip() for r in self.api_allowed_input_roots.split(",") if r.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
