"""What the sync and async clients share: every API operation as a request description plus its parser.

Each public method of the clients builds a `Call` here and only sends it, so both clients cover the same API with
the same models (the server's contract models) and the same errors.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from data_extract import __version__
from data_extract.client.errors import ServerUnreachable, error_for
from data_extract.client.files import LocalFile
from data_extract.contract import (
    ArtifactListResponse,
    CleanupResponse,
    CreateUploadRequest,
    CreateUploadResponse,
    CurrentPreset,
    DetailedHealthResponse,
    EnqueueJobResponse,
    HealthResponse,
    JobDetail,
    JobOptions,
    JobSummary,
    PresetInfo,
    PresetPreview,
    ProcessJobRequest,
    SessionDetail,
    SessionStatusResponse,
    SessionSummary,
    UploadFileSpec,
)

API_PREFIX = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
USER_AGENT = f"data-extract-client/{__version__}"
# A multipart body reaches Lambda base64-encoded inside a 6 MB event: above this many raw bytes a submission goes
# through presigned S3 uploads instead.
MULTIPART_LIMIT_BYTES = 4 * 1024 * 1024

UploadMode = Literal["auto", "multipart", "presigned"]
Options = JobOptions | Mapping[str, Any] | None


def api_root(url: str) -> str:
    """The API's root URL from what a user gives: a host, a stage URL, or either with /api/v1 already on it."""
    root = url.strip().rstrip("/")
    if not root.startswith(("http://", "https://")):
        raise ValueError(f"server URL must start with http:// or https://: {url!r}")
    if root.endswith(API_PREFIX):
        root = root[: -len(API_PREFIX)]
    return root + API_PREFIX


@dataclass(frozen=True)
class Call[T]:
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    data: Mapping[str, Any] | None = None
    files: Sequence[LocalFile] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def _model[M: BaseModel](cls: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: cls.model_validate_json(response.content)


def _models[M: BaseModel](cls: type[M]) -> Callable[[httpx.Response], list[M]]:
    # The item type is a class known at run time; mypy takes a variable in a type expression for a mistake.
    adapter: TypeAdapter[list[M]] = TypeAdapter(list[cls])  # type: ignore[valid-type]
    return lambda response: adapter.validate_json(response.content)


def _json(response: httpx.Response) -> Any:
    return response.json()


def _segment(value: str) -> str:
    return quote(value, safe="")


def options_payload(options: Options) -> dict[str, Any]:
    """Options as JSON fields: a JobOptions model sends only the fields set on it; a mapping is sent as given, so a
    server that knows more fields than this client can still be asked for them (the server validates)."""
    if options is None:
        return {}
    if isinstance(options, JobOptions):
        return options.model_dump(mode="json", exclude_unset=True)
    return {k: v for k, v in dict(options).items() if v is not None}


def form_fields(options: Options) -> list[tuple[str, str]]:
    """The same options as multipart form fields (booleans as true/false, lists as repeated fields)."""
    out: list[tuple[str, str]] = []
    for key, value in options_payload(options).items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, bool):
                out.append((key, "true" if item else "false"))
            elif isinstance(item, dict):
                out.append((key, json.dumps(item)))
            else:
                out.append((key, str(item)))
    return out


def _idempotency(key: str | None) -> dict[str, str]:
    return {"Idempotency-Key": key} if key else {}


def choose_upload_mode(files: Sequence[LocalFile], mode: UploadMode, limit: int | None = None) -> str:
    if mode not in ("auto", "multipart", "presigned"):
        raise ValueError(f"upload mode must be auto, multipart or presigned, not {mode!r}")
    if mode != "auto":
        return mode
    return "presigned" if sum(f.size for f in files) > (limit or MULTIPART_LIMIT_BYTES) else "multipart"


class Operations:
    """Every operation of the API (base path /api/v1) as a Call."""

    # -- auth --
    @staticmethod
    def login(api_key: str) -> Call[SessionStatusResponse]:
        return Call("POST", "/auth/session", _model(SessionStatusResponse), json={"api_key": api_key})

    @staticmethod
    def session_status() -> Call[SessionStatusResponse]:
        return Call("GET", "/auth/session", _model(SessionStatusResponse))

    @staticmethod
    def logout() -> Call[SessionStatusResponse]:
        return Call("DELETE", "/auth/session", _model(SessionStatusResponse))

    # -- jobs --
    @staticmethod
    def submit_job(
        request: ProcessJobRequest | Mapping[str, Any], idempotency_key: str | None
    ) -> Call[EnqueueJobResponse]:
        body = (
            request.model_dump(mode="json", exclude_unset=True)
            if isinstance(request, ProcessJobRequest)
            else {k: v for k, v in dict(request).items() if v is not None}
        )
        return Call(
            "POST", "/jobs/process", _model(EnqueueJobResponse), json=body, headers=_idempotency(idempotency_key)
        )

    @staticmethod
    def submit_multipart(
        files: Sequence[LocalFile], options: Options, idempotency_key: str | None
    ) -> Call[EnqueueJobResponse]:
        return Call(
            "POST",
            "/jobs/process",
            _model(EnqueueJobResponse),
            data=dict(_group(form_fields(options))),
            files=files,
            headers=_idempotency(idempotency_key),
        )

    @staticmethod
    def create_upload(files: Sequence[LocalFile | UploadFileSpec]) -> Call[CreateUploadResponse]:
        specs = [
            f
            if isinstance(f, UploadFileSpec)
            else UploadFileSpec(name=f.name, size_bytes=f.size, content_type=f.content_type)
            for f in files
        ]
        body = CreateUploadRequest(files=specs).model_dump(mode="json", exclude_none=True)
        return Call("POST", "/uploads", _model(CreateUploadResponse), json=body)

    @staticmethod
    def list_jobs(limit: int, offset: int) -> Call[list[JobSummary]]:
        return Call("GET", "/jobs", _models(JobSummary), params={"limit": limit, "offset": offset})

    @staticmethod
    def get_job(job_id: str, file_limit: int, event_limit: int) -> Call[JobDetail]:
        return Call(
            "GET",
            f"/jobs/{_segment(job_id)}",
            _model(JobDetail),
            params={"file_limit": file_limit, "event_limit": event_limit},
        )

    @staticmethod
    def retry_failures(job_id: str) -> Call[EnqueueJobResponse]:
        return Call("POST", f"/jobs/{_segment(job_id)}/retry-failures", _model(EnqueueJobResponse))

    @staticmethod
    def cancel_job(job_id: str) -> Call[EnqueueJobResponse]:
        return Call("POST", f"/jobs/{_segment(job_id)}/cancel", _model(EnqueueJobResponse))

    @staticmethod
    def cleanup_artifacts(job_id: str) -> Call[CleanupResponse]:
        return Call("DELETE", f"/jobs/{_segment(job_id)}/artifacts", _model(CleanupResponse))

    @staticmethod
    def list_artifacts(job_id: str) -> Call[ArtifactListResponse]:
        return Call("GET", f"/jobs/{_segment(job_id)}/artifacts", _model(ArtifactListResponse))

    # -- sessions --
    @staticmethod
    def list_sessions(limit: int, offset: int) -> Call[list[SessionSummary]]:
        return Call("GET", "/sessions", _models(SessionSummary), params={"limit": limit, "offset": offset})

    @staticmethod
    def get_session(session_id: str) -> Call[SessionDetail]:
        return Call("GET", f"/sessions/{_segment(session_id)}", _model(SessionDetail))

    # -- config --
    @staticmethod
    def effective_config() -> Call[dict[str, Any]]:
        return Call("GET", "/config/effective", _json)

    @staticmethod
    def current_preset() -> Call[CurrentPreset]:
        return Call("GET", "/config/current-preset", _model(CurrentPreset))

    @staticmethod
    def list_presets() -> Call[list[PresetInfo]]:
        return Call("GET", "/config/presets", _models(PresetInfo))

    @staticmethod
    def preview_preset(name: str) -> Call[PresetPreview]:
        return Call("GET", f"/config/presets/{_segment(name)}/preview", _model(PresetPreview))

    @staticmethod
    def apply_preset(name: str) -> Call[PresetPreview]:
        return Call("POST", f"/config/presets/{_segment(name)}/apply", _model(PresetPreview))

    # -- health --
    @staticmethod
    def health() -> Call[HealthResponse]:
        return Call("GET", "/health", _model(HealthResponse))

    @staticmethod
    def health_detailed() -> Call[DetailedHealthResponse]:
        return Call("GET", "/health", _model(DetailedHealthResponse), params={"detailed": "true"})


def _group(fields: list[tuple[str, str]]) -> dict[str, str | list[str]]:
    grouped: dict[str, str | list[str]] = {}
    for key, value in fields:
        if key in grouped:
            existing = grouped[key]
            grouped[key] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            grouped[key] = value
    return grouped


def artifact_path(job_id: str, path: str) -> str:
    # Each segment quoted on its own: '/' stays a separator, anything else reaches the server's path guard as is.
    return f"/jobs/{_segment(job_id)}/artifacts/" + "/".join(_segment(p) for p in path.split("/"))


def check(response: httpx.Response) -> httpx.Response:
    """The response when it is a success; else its typed error (the body must have been read)."""
    if response.is_success:
        return response
    raise error_for(response)


def unreachable(url: str, exc: httpx.TransportError) -> ServerUnreachable:
    reason = str(exc) or type(exc).__name__
    return ServerUnreachable(url, reason)


def base_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if api_key:
        headers["X-API-Key"] = api_key
    return headers


def part_paths(dest: Any) -> tuple[Any, Any]:
    """Where a download in progress keeps its bytes and the validator (ETag) that a resume must match."""
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.etag")


@dataclass(frozen=True)
class DownloadResult:
    path: str
    dest: str
    bytes_written: int
    size: int
    resumed: bool = False
    skipped: bool = False


def announced_size(response: httpx.Response, start: int) -> int | None:
    """The whole object's size from Content-Range (206) or Content-Length (200)."""
    content_range = response.headers.get("content-range", "")
    if "/" in content_range and not content_range.endswith("/*"):
        try:
            return int(content_range.rsplit("/", 1)[1])
        except ValueError:
            return None
    length = response.headers.get("content-length")
    if length and length.isdigit() and not response.headers.get("content-encoding"):
        return start + int(length)
    return None


def finish_download(
    path: str, dest: Any, size: int, total: int | None, expected_size: int | None, written: int, resumed: bool
) -> DownloadResult:
    """Check the received size, then move dest.part into place."""
    from data_extract.client.errors import DownloadIncomplete

    part, etag_file = part_paths(dest)
    for wanted, what in ((total, "the server announced"), (expected_size, "the artifact listing gives")):
        if wanted is not None and size != wanted:
            raise DownloadIncomplete(
                f"{path}: received {size} of {wanted} bytes ({what}); run the download again to resume from {part}"
            )
    part.replace(dest)
    etag_file.unlink(missing_ok=True)
    return DownloadResult(path, str(dest), written, size, resumed=resumed)
