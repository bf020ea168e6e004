"""httpx clients for the Python client and the CLI in tests: the app in process (ASGI, or the Lambda handler with
API Gateway events), and moto's own HTTP application for presigned S3 URLs (same in-process mock_aws state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

ASGI_URL = "https://testserver"
APIGW_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def moto_http() -> httpx.Client:
    from moto.server import DomainDispatcherApplication, create_backend_app

    return httpx.Client(transport=httpx.WSGITransport(app=DomainDispatcherApplication(create_backend_app)),
                        follow_redirects=True)


def api_http(kind: str, before_poll: Callable[[], Any] | None = None) -> tuple[str, httpx.Client]:
    """(server URL, httpx client) for `kind` "asgi" or an API Gateway event version ("2.0", "1.0").

    `before_poll` runs before each GET of a job: the test's stand-in for Lambda's event source mapping, which in
    production delivers the queued work while a client waits."""
    from fastapi.testclient import TestClient

    from data_extract.api.app import create_app

    hooks: dict[str, list[Callable[[httpx.Request], None]]] = {}
    if before_poll is not None:
        def deliver(request: httpx.Request) -> None:
            parts = request.url.path.rstrip("/").split("/")
            if request.method == "GET" and len(parts) >= 2 and parts[-2] == "jobs":
                before_poll()
        hooks["request"] = [deliver]
    if kind == "asgi":
        client = TestClient(create_app(), base_url=ASGI_URL)
        client.event_hooks = hooks
        return ASGI_URL, client
    from data_extract.handlers import api as api_handler
    from tests.support.apigw import ApiGatewayTransport

    return APIGW_URL, httpx.Client(transport=ApiGatewayTransport(api_handler.lambda_handler, version=kind),
                                   event_hooks=hooks)
