"""The client against the real app in process; presigned S3 URLs answered by moto's HTTP application."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.client import api_http, enable_api_key, moto_http


def _client(kind: str, pump) -> Iterator[Any]:
    from data_extract.client import DataExtractClient

    url, http = api_http(kind, before_poll=pump.run)
    storage = moto_http()
    with http, storage, DataExtractClient(url, http_client=http, storage_http_client=storage) as client:
        yield client


@pytest.fixture
def api(aws: dict[str, str], pump) -> Iterator[Any]:
    """A DataExtractClient on the app through ASGI, auth off; each poll of a job first delivers what the queues
    hold."""
    yield from _client("asgi", pump)


@pytest.fixture(params=["asgi", "2.0", "1.0"], ids=["asgi", "apigw-v2", "apigw-v1"])
def any_api(request: pytest.FixtureRequest, aws: dict[str, str], pump) -> Iterator[Any]:
    """The same client through ASGI and through the Lambda handler with HTTP API (v2) and REST API (v1) events."""
    yield from _client(request.param, pump)


@pytest.fixture
def keyed(aws: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    return enable_api_key(monkeypatch)
