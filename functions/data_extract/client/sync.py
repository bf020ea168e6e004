"""DataExtractClient: the whole API over httpx, typed with the server's contract models."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin

import httpx

from data_extract.client import _core
from data_extract.client._core import Call, DownloadResult, Operations, Options, UploadMode
from data_extract.client.errors import DownloadIncomplete, WaitTimedOut, error_for
from data_extract.client.files import LocalFile
from data_extract.contract import (
    TERMINAL_JOB_STATUSES,
    ArtifactListResponse,
    CleanupResponse,
    CreateUploadResponse,
    CurrentPreset,
    DetailedHealthResponse,
    EnqueueJobResponse,
    HealthResponse,
    JobDetail,
    JobSummary,
    PresetInfo,
    PresetPreview,
    ProcessJobRequest,
    SessionDetail,
    SessionStatusResponse,
    SessionSummary,
)

T = TypeVar("T")
ProgressCallback = Callable[[int, int | None], None]


class DataExtractClient:
    """Synchronous client. `url` is the server (http://127.0.0.1:8000, or an API Gateway stage URL).

    `http_client` replaces the httpx client that talks to the API (tests pass one bound to the app in process);
    `storage_http_client` is the one used for presigned S3 URLs, which never receives the API key.
    """

    def __init__(
        self,
        url: str = _core.DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = _core.DEFAULT_TIMEOUT,
        http_client: httpx.Client | None = None,
        storage_http_client: httpx.Client | None = None,
    ) -> None:
        self.api_root = _core.api_root(url)
        self.api_key = api_key or None
        self._owns = [c is None for c in (http_client, storage_http_client)]
        self._http = http_client or httpx.Client(timeout=timeout)
        self._storage = storage_http_client or httpx.Client(timeout=timeout, follow_redirects=True)
        self._headers = _core.base_headers(self.api_key)

    def __enter__(self) -> DataExtractClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for owned, client in zip(self._owns, (self._http, self._storage), strict=True):
            if owned:
                client.close()

    # ------------------------------------------------------------------ plumbing
    def _url(self, path: str) -> str:
        return self.api_root + path

    def _send(self, method: str, url: str, *, redirect_ok: bool = False, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _core.unreachable(self.api_root, exc) from exc
        if redirect_ok and response.is_redirect:
            return response
        return _core.check(response)

    def _run(self, call: Call[T]) -> T:
        headers = {**self._headers, **call.headers}
        if call.files is None:
            response = self._send(
                call.method, self._url(call.path), params=call.params, json=call.json, headers=headers
            )
            return call.parse(response)
        with ExitStack() as stack:
            parts = [("files", (f.name, stack.enter_context(f.path.open("rb")), f.content_type)) for f in call.files]
            response = self._send(
                call.method, self._url(call.path), params=call.params, data=call.data, files=parts, headers=headers
            )
        return call.parse(response)

    # ------------------------------------------------------------------ auth
    def login(self, api_key: str | None = None) -> SessionStatusResponse:
        """Open a session (the cookie is kept by this client); with no argument, the client's API key."""
        return self._run(Operations.login(api_key or self.api_key or ""))

    def session_status(self) -> SessionStatusResponse:
        return self._run(Operations.session_status())

    def logout(self) -> SessionStatusResponse:
        return self._run(Operations.logout())

    # ------------------------------------------------------------------ jobs
    def submit_job(
        self, request: ProcessJobRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> EnqueueJobResponse:
        """JSON submission: `input_path` (objects already in S3) or `upload_id` (a finished presigned upload)."""
        return self._run(Operations.submit_job(request, idempotency_key))

    def submit_files(
        self,
        files: Sequence[LocalFile],
        options: Options = None,
        *,
        idempotency_key: str | None = None,
        upload: UploadMode = "auto",
        on_upload: ProgressCallback | None = None,
    ) -> EnqueueJobResponse:
        """Upload local files and queue one job for them: multipart when small, presigned S3 uploads when their
        total is beyond what an API Gateway request carries (or as `upload` says)."""
        if _core.choose_upload_mode(files, upload) == "multipart":
            return self._run(Operations.submit_multipart(files, options, idempotency_key))
        upload_id = self.upload_files(files, on_upload=on_upload)
        return self.submit_job(
            {**_core.options_payload(options), "upload_id": upload_id}, idempotency_key=idempotency_key
        )

    def create_upload(self, files: Sequence[LocalFile]) -> CreateUploadResponse:
        return self._run(Operations.create_upload(files))

    def upload_files(self, files: Sequence[LocalFile], *, on_upload: ProgressCallback | None = None) -> str:
        """PUT each file to its presigned URL; returns the upload_id to submit."""
        created = self.create_upload(files)
        by_name = {f.name: f for f in files}
        total, done = sum(f.size for f in files), 0
        for target in created.files:
            local = by_name[target.name]
            with local.path.open("rb") as handle:
                try:
                    response = self._storage.request(
                        target.method, target.url, content=handle, headers=target.headers
                    )
                except httpx.TransportError as exc:
                    raise _core.unreachable(target.url.split("?", 1)[0], exc) from exc
            _core.check(response)
            done += local.size
            if on_upload:
                on_upload(done, total)
        return created.upload_id

    def list_jobs(self, limit: int = 200, offset: int = 0) -> list[JobSummary]:
        return self._run(Operations.list_jobs(limit, offset))

    def get_job(self, job_id: str, *, file_limit: int = 1000, event_limit: int = 1000) -> JobDetail:
        return self._run(Operations.get_job(job_id, file_limit, event_limit))

    def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        on_update: Callable[[JobDetail], None] | None = None,
    ) -> JobDetail:
        """Poll until the job ends; `on_update` sees each state (progress counts, few files). Returns the final
        detail with all its files."""
        started = time.monotonic()
        while True:
            detail = self.get_job(job_id, file_limit=1, event_limit=1)
            if on_update:
                on_update(detail)
            if detail.status in TERMINAL_JOB_STATUSES:
                return self.get_job(job_id, file_limit=5000, event_limit=5000)
            if timeout is not None and time.monotonic() - started >= timeout:
                raise WaitTimedOut(job_id, timeout, detail)
            time.sleep(poll_interval)

    def retry_failures(self, job_id: str) -> EnqueueJobResponse:
        return self._run(Operations.retry_failures(job_id))

    def cancel_job(self, job_id: str) -> EnqueueJobResponse:
        return self._run(Operations.cancel_job(job_id))

    def cleanup_artifacts(self, job_id: str) -> CleanupResponse:
        return self._run(Operations.cleanup_artifacts(job_id))

    def list_artifacts(self, job_id: str) -> ArtifactListResponse:
        return self._run(Operations.list_artifacts(job_id))

    def download_artifact(self, job_id: str, path: str) -> bytes:
        """An artifact's bytes, following the redirect to a presigned URL that large artifacts answer with."""
        response = self._send(
            "GET",
            self._url(_core.artifact_path(job_id, path)),
            headers=self._headers,
            follow_redirects=False,
            redirect_ok=True,
        )
        if not response.is_redirect:
            return response.content
        location = urljoin(str(response.url), response.headers["location"])
        try:
            return _core.check(self._storage.get(location)).content
        except httpx.TransportError as exc:
            raise _core.unreachable(location.split("?", 1)[0], exc) from exc

    def download_artifact_to(
        self,
        job_id: str,
        path: str,
        dest: str | Path,
        *,
        expected_size: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
        """Stream an artifact to `dest`. Bytes arrive in `dest.part`, renamed when complete; an interrupted
        download resumes from the `.part` with a Range request (If-Range guards against a changed object); a
        `dest` already of `expected_size` is left as it is."""
        dest = Path(dest)
        if expected_size is not None and dest.is_file() and dest.stat().st_size == expected_size:
            return DownloadResult(path, str(dest), 0, expected_size, skipped=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        for _attempt in range(2):
            part, etag_file = _core.part_paths(dest)
            offset = part.stat().st_size if part.is_file() else 0
            etag = etag_file.read_text().strip() if offset and etag_file.is_file() else ""
            ranged = {"Range": f"bytes={offset}-", **({"If-Range": etag} if etag else {})} if offset else {}
            url = self._url(_core.artifact_path(job_id, path))
            try:
                with self._http.stream(
                    "GET", url, headers={**self._headers, **ranged}, follow_redirects=False
                ) as response:
                    if response.is_redirect:
                        location = urljoin(str(response.url), response.headers["location"])
                        with self._storage.stream("GET", location, headers=ranged) as stored:
                            outcome = _write_download(stored, path, dest, offset, expected_size, on_progress)
                    else:
                        outcome = _write_download(response, path, dest, offset, expected_size, on_progress)
            except httpx.TransportError as exc:
                raise _core.unreachable(self.api_root, exc) from exc
            if outcome is not None:
                return outcome
            # 416: the partial file does not fit the object (it changed, or is complete); start over once.
            part.unlink(missing_ok=True)
            etag_file.unlink(missing_ok=True)
        raise DownloadIncomplete(f"{path}: the server refused the byte range twice")

    # ------------------------------------------------------------------ sessions
    def list_sessions(self, limit: int = 200, offset: int = 0) -> list[SessionSummary]:
        return self._run(Operations.list_sessions(limit, offset))

    def get_session(self, session_id: str) -> SessionDetail:
        return self._run(Operations.get_session(session_id))

    # ------------------------------------------------------------------ config
    def effective_config(self) -> dict[str, Any]:
        return self._run(Operations.effective_config())

    def current_preset(self) -> CurrentPreset:
        return self._run(Operations.current_preset())

    def list_presets(self) -> list[PresetInfo]:
        return self._run(Operations.list_presets())

    def preview_preset(self, name: str) -> PresetPreview:
        return self._run(Operations.preview_preset(name))

    def apply_preset(self, name: str) -> PresetPreview:
        return self._run(Operations.apply_preset(name))

    # ------------------------------------------------------------------ health
    def health(self) -> HealthResponse:
        return self._run(Operations.health())

    def health_detailed(self) -> DetailedHealthResponse:
        return self._run(Operations.health_detailed())


def _write_download(
    response: httpx.Response,
    path: str,
    dest: Path,
    offset: int,
    expected_size: int | None,
    on_progress: ProgressCallback | None,
) -> DownloadResult | None:
    """Write a download response into dest.part (appending to it for a 206); None for 416 (start over)."""
    if response.status_code == 416:
        return None
    if not response.is_success:
        response.read()
        raise error_for(response)
    part, etag_file = _core.part_paths(dest)
    resumed = response.status_code == 206 and offset > 0
    start = offset if resumed else 0
    total = _core.announced_size(response, start)
    if etag := response.headers.get("etag"):
        etag_file.write_text(etag)
    written = 0
    with part.open("ab" if resumed else "wb") as handle:
        for chunk in response.iter_bytes(1024 * 1024):
            handle.write(chunk)
            written += len(chunk)
            if on_progress:
                on_progress(start + written, total)
    return _core.finish_download(path, dest, start + written, total, expected_size, written, resumed)
