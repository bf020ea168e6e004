"""The client against the real app in process: through ASGI and through the Lambda handler with API Gateway
events; presigned S3 URLs answered by moto's own HTTP application over the same in-process backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

APIGW_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def moto_http() -> httpx.Client:
    """An httpx client whose requests moto's server application answers (the in-process mock_aws state)."""
    from moto.server import DomainDispatcherApplication, create_backend_app

    return httpx.Client(transport=httpx.WSGITransport(app=DomainDispatcherApplication(create_backend_app)),
                        follow_redirects=True)


def api_http(kind: str) -> tuple[str, httpx.Client]:
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    if kind == "asgi":
        return "https://testserver", TestClient(create_app(), base_url="https://testserver")
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    return APIGW_URL, httpx.Client(transport=ApiGatewayTransport(api_handler.lambda_handler, version=kind))


@pytest.fixture(params=["asgi", "2.0"], ids=["asgi", "apigw-v2"])
def api(request: pytest.FixtureRequest, aws: dict[str, str]) -> Iterator[Any]:
    """A DataExtractClient on the app (ASGI, then the Lambda handler), auth off."""
    from data_extract.client import DataExtractClient

    url, http = api_http(request.param)
    storage = moto_http()
    with http, storage, DataExtractClient(url, http_client=http, storage_http_client=storage) as client:
        yield client


@pytest.fixture
def keyed(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """Auth on: DATA_EXTRACT_API_KEY set for the app."""
    from data_extract.api.deps import reset_auth_cache
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", "s3cret-key")
    get_settings.cache_clear()
    reset_auth_cache()
    return "s3cret-key"
