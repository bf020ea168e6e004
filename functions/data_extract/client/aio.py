"""AsyncDataExtractClient: the async twin of DataExtractClient (same operations, models and errors)."""

from __future__ import annotations

import asyncio
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
from data_extract.client.sync import ProgressCallback
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


class AsyncDataExtractClient:
    """Asynchronous client; see DataExtractClient for the arguments."""

    def __init__(
        self,
        url: str = _core.DEFAULT_URL,
        api_key: str | None = None,
        *,
        timeout: httpx.Timeout | float = _core.DEFAULT_TIMEOUT,
        http_client: httpx.AsyncClient | None = None,
        storage_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.api_root = _core.api_root(url)
        self.api_key = api_key or None
        self._owns = [c is None for c in (http_client, storage_http_client)]
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._storage = storage_http_client or httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        self._headers = _core.base_headers(self.api_key)

    async def __aenter__(self) -> AsyncDataExtractClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for owned, client in zip(self._owns, (self._http, self._storage), strict=True):
            if owned:
                await client.aclose()

    # ------------------------------------------------------------------ plumbing
    def _url(self, path: str) -> str:
        return self.api_root + path

    async def _send(self, method: str, url: str, *, redirect_ok: bool = False, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            raise _core.unreachable(self.api_root, exc) from exc
        if redirect_ok and response.is_redirect:
            return response
        return _core.check(response)

    async def _run(self, call: Call[T]) -> T:
        headers = {**self._headers, **call.headers}
        if call.files is None:
            response = await self._send(
                call.method, self._url(call.path), params=call.params, json=call.json, headers=headers
            )
            return call.parse(response)
        with ExitStack() as stack:
            parts = [("files", (f.name, stack.enter_context(f.path.open("rb")), f.content_type)) for f in call.files]
            response = await self._send(
                call.method, self._url(call.path), params=call.params, data=call.data, files=parts, headers=headers
            )
        return call.parse(response)

    # ------------------------------------------------------------------ auth
    async def login(self, api_key: str | None = None) -> SessionStatusResponse:
        return await self._run(Operations.login(api_key or self.api_key or ""))

    async def session_status(self) -> SessionStatusResponse:
        return await self._run(Operations.session_status())

    async def logout(self) -> SessionStatusResponse:
        return await self._run(Operations.logout())

    # ------------------------------------------------------------------ jobs
    async def submit_job(
        self, request: ProcessJobRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> EnqueueJobResponse:
        return await self._run(Operations.submit_job(request, idempotency_key))

    async def submit_files(
        self,
        files: Sequence[LocalFile],
        options: Options = None,
        *,
        idempotency_key: str | None = None,
        upload: UploadMode = "auto",
        on_upload: ProgressCallback | None = None,
    ) -> EnqueueJobResponse:
        if _core.choose_upload_mode(files, upload) == "multipart":
            return await self._run(Operations.submit_multipart(files, options, idempotency_key))
        upload_id = await self.upload_files(files, on_upload=on_upload)
        return await self.submit_job(
            {**_core.options_payload(options), "upload_id": upload_id}, idempotency_key=idempotency_key
        )

    async def create_upload(self, files: Sequence[LocalFile]) -> CreateUploadResponse:
        return await self._run(Operations.create_upload(files))

    async def upload_files(self, files: Sequence[LocalFile], *, on_upload: ProgressCallback | None = None) -> str:
        created = await self.create_upload(files)
        by_name = {f.name: f for f in files}
        total, done = sum(f.size for f in files), 0
        for target in created.files:
            local = by_name[target.name]
            # Read in a worker thread: the event loop stays free while a large file comes off the disk.
            data = await asyncio.to_thread(local.path.read_bytes)
            try:
                response = await self._storage.request(
                    target.method, target.url, content=data, headers=target.headers
                )
            except httpx.TransportError as exc:
                raise _core.unreachable(target.url.split("?", 1)[0], exc) from exc
            _core.check(response)
            done += local.size
            if on_upload:
                on_upload(done, total)
        return created.upload_id

    async def list_jobs(self, limit: int = 200, offset: int = 0) -> list[JobSummary]:
        return await self._run(Operations.list_jobs(limit, offset))

    async def get_job(self, job_id: str, *, file_limit: int = 1000, event_limit: int = 1000) -> JobDetail:
        return await self._run(Operations.get_job(job_id, file_limit, event_limit))

    async def wait_for_job(
        self,
        job_id: str,
        *,
        poll_interval: float = 1.0,
        timeout: float | None = None,
        on_update: Callable[[JobDetail], None] | None = None,
    ) -> JobDetail:
        started = time.monotonic()
        while True:
            detail = await self.get_job(job_id, file_limit=1, event_limit=1)
            if on_update:
                on_update(detail)
            if detail.status in TERMINAL_JOB_STATUSES:
                return await self.get_job(job_id, file_limit=5000, event_limit=5000)
            if timeout is not None and time.monotonic() - started >= timeout:
                raise WaitTimedOut(job_id, timeout, detail)
            await asyncio.sleep(poll_interval)

    async def retry_failures(self, job_id: str) -> EnqueueJobResponse:
        return await self._run(Operations.retry_failures(job_id))

    async def cancel_job(self, job_id: str) -> EnqueueJobResponse:
        return await self._run(Operations.cancel_job(job_id))

    async def cleanup_artifacts(self, job_id: str) -> CleanupResponse:
        return await self._run(Operations.cleanup_artifacts(job_id))

    async def list_artifacts(self, job_id: str) -> ArtifactListResponse:
        return await self._run(Operations.list_artifacts(job_id))

    async def download_artifact(self, job_id: str, path: str) -> bytes:
        response = await self._send(
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
            return _core.check(await self._storage.get(location)).content
        except httpx.TransportError as exc:
            raise _core.unreachable(location.split("?", 1)[0], exc) from exc

    async def download_artifact_to(
        self,
        job_id: str,
        path: str,
        dest: str | Path,
        *,
        expected_size: int | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> DownloadResult:
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
                async with self._http.stream(
                    "GET", url, headers={**self._headers, **ranged}, follow_redirects=False
                ) as response:
                    if response.is_redirect:
                        location = urljoin(str(response.url), response.headers["location"])
                        async with self._storage.stream("GET", location, headers=ranged) as stored:
                            outcome = await _write_download(stored, path, dest, offset, expected_size, on_progress)
                    else:
                        outcome = await _write_download(response, path, dest, offset, expected_size, on_progress)
            except httpx.TransportError as exc:
                raise _core.unreachable(self.api_root, exc) from exc
            if outcome is not None:
                return outcome
            part.unlink(missing_ok=True)
            etag_file.unlink(missing_ok=True)
        raise DownloadIncomplete(f"{path}: the server refused the byte range twice")

    # ------------------------------------------------------------------ sessions
    async def list_sessions(self, limit: int = 200, offset: int = 0) -> list[SessionSummary]:
        return await self._run(Operations.list_sessions(limit, offset))

    async def get_session(self, session_id: str) -> SessionDetail:
        return await self._run(Operations.get_session(session_id))

    # ------------------------------------------------------------------ config
    async def effective_config(self) -> dict[str, Any]:
        return await self._run(Operations.effective_config())

    async def current_preset(self) -> CurrentPreset:
        return await self._run(Operations.current_preset())

    async def list_presets(self) -> list[PresetInfo]:
        return await self._run(Operations.list_presets())

    async def preview_preset(self, name: str) -> PresetPreview:
        return await self._run(Operations.preview_preset(name))

    async def apply_preset(self, name: str) -> PresetPreview:
        return await self._run(Operations.apply_preset(name))

    # ------------------------------------------------------------------ health
    async def health(self) -> HealthResponse:
        return await self._run(Operations.health())

    async def health_detailed(self) -> DetailedHealthResponse:
        return await self._run(Operations.health_detailed())


async def _write_download(
    response: httpx.Response,
    path: str,
    dest: Path,
    offset: int,
    expected_size: int | None,
    on_progress: ProgressCallback | None,
) -> DownloadResult | None:
    if response.status_code == 416:
        return None
    if not response.is_success:
        await response.aread()
        raise error_for(response)
    part, etag_file = _core.part_paths(dest)
    resumed = response.status_code == 206 and offset > 0
    start = offset if resumed else 0
    total = _core.announced_size(response, start)
    if etag := response.headers.get("etag"):
        etag_file.write_text(etag)
    written = 0
    with part.open("ab" if resumed else "wb") as handle:
        async for chunk in response.aiter_bytes(1024 * 1024):
            handle.write(chunk)
            written += len(chunk)
            if on_progress:
                on_progress(start + written, total)
    return _core.finish_download(path, dest, start + written, total, expected_size, written, resumed)
