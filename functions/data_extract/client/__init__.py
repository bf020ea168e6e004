"""Python client of the data-extract API: sync (DataExtractClient) and async (AsyncDataExtractClient).

    from data_extract.client import DataExtractClient, collect_files

    with DataExtractClient("http://127.0.0.1:8000", api_key="...") as client:
        job = client.submit_files(collect_files(["docs/"]), {"output_format": "json"})
        detail = client.wait_for_job(job.job_id)
        for artifact in client.list_artifacts(job.job_id).artifacts:
            client.download_artifact_to(job.job_id, artifact.path, f"out/{artifact.path}")

Responses are the server's own contract models (data_extract.contract); errors are the typed exceptions of
data_extract.client.errors, each carrying the API's `detail`. Only the CLI and users import this package; no
Lambda function does.
"""

import httpx

from data_extract.client._core import DEFAULT_TIMEOUT, DownloadResult
from data_extract.client.aio import AsyncDataExtractClient
from data_extract.client.config import ConfigError, resolve
from data_extract.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    DataExtractError,
    DownloadIncomplete,
    NotFound,
    Overloaded,
    PayloadTooLarge,
    ServerError,
    ServerUnreachable,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    WaitTimedOut,
)
from data_extract.client.files import FileSelectionError, LocalFile, collect_files
from data_extract.client.sync import DataExtractClient


def from_config(
    profile: str | None = None,
    *,
    timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    http_client: httpx.Client | None = None,
    storage_http_client: httpx.Client | None = None,
) -> DataExtractClient:
    """A client for the URL and key the CLI would use (flags aside): environment, then the profile."""
    settings = resolve(profile=profile)
    return DataExtractClient(
        settings.url,
        settings.api_key,
        timeout=timeout,
        http_client=http_client,
        storage_http_client=storage_http_client,
    )


__all__ = [
    "ApiError",
    "AsyncDataExtractClient",
    "BadRequest",
    "ConfigError",
    "Conflict",
    "DataExtractClient",
    "DataExtractError",
    "DownloadIncomplete",
    "DownloadResult",
    "FileSelectionError",
    "LocalFile",
    "NotFound",
    "Overloaded",
    "PayloadTooLarge",
    "ServerError",
    "ServerUnreachable",
    "Unauthorized",
    "UnsupportedMediaType",
    "ValidationFailed",
    "WaitTimedOut",
    "collect_files",
    "from_config",
    "resolve",
]
