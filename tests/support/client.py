"""httpx clients for the Python client and the CLI in tests: the app in process (ASGI, or the Lambda handler with
API Gateway events), and moto's own HTTP application for presigned S3 URLs (same in-process mock_aws state)."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx

ASGI_URL = "https://testserver"
APIGW_URL = "https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"


def moto_http() -> httpx.Client:
    from moto.server import DomainDispatcherApplication, create_backend_app

    return httpx.Client(
        transport=httpx.WSGITransport(app=DomainDispatcherApplication(create_backend_app)), follow_redirects=True
    )


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

    return APIGW_URL, httpx.Client(
        transport=ApiGatewayTransport(api_handler.lambda_handler, version=kind), event_hooks=hooks
    )


def enable_api_key(monkeypatch: Any, key: str = "s3cret-key") -> str:
    """Turn auth on in the app of this test (DATA_EXTRACT_API_KEY)."""
    from data_extract.api.deps import reset_auth_cache
    from data_extract.settings import get_settings

    monkeypatch.setenv("DATA_EXTRACT_API_KEY", key)
    get_settings.cache_clear()
    reset_auth_cache()
    return key


@contextlib.contextmanager
def handler_output_kept_aside() -> Iterator[Callable[[Callable[[], Any]], Callable[[], None]]]:
    """Keep the functions' log lines and metrics out of the command output under test (in Lambda they go to
    CloudWatch, not to the client's terminal). Yields `quietly(deliver)`, which runs a delivery with stdout and
    stderr sent aside too. The sink is a real file: the extraction guard's forked child points faulthandler at
    sys.stderr, which needs a file descriptor (pytest's capture has none)."""
    handlers = [h for h in logging.getLogger("data-extract").handlers if isinstance(h, logging.StreamHandler)]
    with tempfile.TemporaryFile("w+") as sink:
        saved = [h.stream for h in handlers]
        for handler in handlers:
            handler.stream = sink  # not setStream: it flushes the old stream, which may be a closed capture
        try:

            def quietly(deliver: Callable[[], Any]) -> Callable[[], None]:
                def run() -> None:
                    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
                        deliver()

                return run

            yield quietly
        finally:
            for handler, stream in zip(handlers, saved, strict=True):
                handler.stream = stream
