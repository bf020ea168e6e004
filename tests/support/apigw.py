"""An httpx transport that sends requests through the API Lambda handler as real API Gateway events.

The event shapes start from the JSON files in tests/events (the same files `sam local invoke -e` takes),
so the tests exercise exactly what API Gateway would deliver: HTTP API (v2) or REST API (v1) events,
base64 bodies for binary payloads, cookies, query strings and stage prefixes.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

from tests.support.lambda_context import LambdaContext

EVENTS = Path(__file__).resolve().parents[1] / "events"
_TEXT_TYPES = ("application/json", "text/", "application/x-www-form-urlencoded")


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def _body_fields(request: httpx.Request) -> tuple[str | None, bool]:
    body = request.read()
    if not body:
        return None, False
    ctype = request.headers.get("content-type", "")
    if any(t in ctype for t in _TEXT_TYPES):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def build_v2_event(request: httpx.Request, stage: str = "$default") -> dict[str, Any]:
    event = load_event("api_http_v2_get_health.json")
    path = request.url.raw_path.decode("ascii").split("?", 1)[0]
    full_path = path if stage == "$default" else f"/{stage}{path}"
    headers = {k.lower(): v for k, v in request.headers.items() if k.lower() != "cookie"}
    headers.setdefault("host", event["headers"]["host"])
    headers["x-forwarded-proto"] = "https"
    headers["x-forwarded-port"] = "443"
    body, is_b64 = _body_fields(request)
    event.update(
        {
            "rawPath": full_path,
            "rawQueryString": request.url.query.decode("ascii"),
            "headers": headers,
            "isBase64Encoded": is_b64,
        }
    )
    cookie = request.headers.get("cookie")
    if cookie:
        event["cookies"] = [c.strip() for c in cookie.split(";")]
    if body is not None:
        event["body"] = body
    ctx = event["requestContext"]
    ctx["http"]["method"] = request.method
    ctx["http"]["path"] = full_path
    ctx["stage"] = stage
    if request.url.query:
        params: dict[str, str] = {}
        for k, v in parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True):
            params[k] = f"{params[k]},{v}" if k in params else v
        event["queryStringParameters"] = params
    return event


def build_v1_event(request: httpx.Request) -> dict[str, Any]:
    event = load_event("api_rest_v1_get_health.json")
    path = request.url.raw_path.decode("ascii").split("?", 1)[0]
    headers: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for k, v in request.headers.multi_items():
        headers[k] = v
        multi.setdefault(k, []).append(v)
    headers["X-Forwarded-Proto"] = "https"
    multi["X-Forwarded-Proto"] = ["https"]
    body, is_b64 = _body_fields(request)
    query = parse_qsl(request.url.query.decode("ascii"), keep_blank_values=True)
    mvq: dict[str, list[str]] = {}
    for k, v in query:
        mvq.setdefault(k, []).append(v)
    # API Gateway REST delivers the path percent-decoded once; keep what the client sent otherwise.
    from urllib.parse import unquote

    event.update(
        {
            "path": unquote(path),
            "httpMethod": request.method,
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": {k: v[-1] for k, v in mvq.items()} or None,
            "multiValueQueryStringParameters": mvq or None,
            "pathParameters": {"proxy": unquote(path).lstrip("/")},
            "body": body,
            "isBase64Encoded": is_b64,
        }
    )
    event["requestContext"]["httpMethod"] = request.method
    event["requestContext"]["path"] = f"/{event['requestContext']['stage']}{unquote(path)}"
    return event


class ApiGatewayTransport(httpx.BaseTransport):
    """Turns each httpx request into an API Gateway event for the Lambda handler, and its answer back."""

    def __init__(self, handler: Any, version: str = "2.0", stage: str = "$default") -> None:
        self.handler = handler
        self.version = version
        self.stage = stage
        self.last_event: dict[str, Any] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        event = build_v2_event(request, self.stage) if self.version == "2.0" else build_v1_event(request)
        self.last_event = copy.deepcopy(event)
        out = self.handler(event, LambdaContext(function_name="data-extract-api"))
        headers: list[tuple[str, str]] = list((out.get("headers") or {}).items())
        for k, values in (out.get("multiValueHeaders") or {}).items():
            headers.extend((k, v) for v in values)
        for cookie in out.get("cookies") or []:
            headers.append(("set-cookie", cookie))
        body = out.get("body") or ""
        content = base64.b64decode(body) if out.get("isBase64Encoded") else body.encode("utf-8")
        return httpx.Response(out["statusCode"], headers=headers, content=content, request=request)
