"""create_app(): the FastAPI application (routers, error handlers). Served by Mangum in Lambda."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data_extract import __version__
from data_extract.api.routers import auth, config, health, jobs, sessions, ui, uploads
from data_extract.jobs.errors import JobError, Overloaded
from data_extract.store import SecretUnavailable

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"

# Never let a browser guess a type from the bytes (an uploaded HTML file must not become a page).
_ALWAYS = ((b"x-content-type-options", b"nosniff"),)
# API answers are per caller and change with every job; no cache (shared or private) may keep one.
_NO_STORE = (b"cache-control", b"no-store")
# Validation errors echo only short, non-secret inputs (a 1 MB field must not come back as a 1 MB error).
_ECHO_INPUT_MAX_CHARS = 100
_SECRET_FIELDS = frozenset({"api_key", "password"})
_MESSAGE_MAX_CHARS = 500


class SecurityHeaders:
    """Adds the headers every response needs (pure ASGI, so streamed and redirect responses get them too)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        under_api = scope.get("path", "").startswith(API_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in _ALWAYS if h[0] not in present)
                if under_api and _NO_STORE[0] not in present:
                    headers.append(_NO_STORE)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _MethodsByPath:
    """Which methods each path of the app answers: Starlette's own 405 names only the first matching route's."""

    def __init__(self, routes: list[tuple[str, Any]]) -> None:
        self._routes = [
            (compile_path(path)[0], set(route.methods)) for path, route in routes if getattr(route, "methods", None)
        ]

    def allowed(self, path: str) -> list[str]:
        return sorted({m for regex, methods in self._routes if regex.match(path) for m in methods})


def _public_error(error: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "loc": list(error.get("loc", ())),
        "msg": str(error.get("msg", ""))[:_MESSAGE_MAX_CHARS],
        "type": error.get("type", ""),
    }
    secret = any(part in _SECRET_FIELDS for part in out["loc"])
    value = error.get("input")
    if not secret and value is not None and not isinstance(value, (dict, list, bytes)):
        text = jsonable_encoder(value)
        if len(str(text)) <= _ECHO_INPUT_MAX_CHARS:
            out["input"] = text
    if error.get("ctx") and not secret:
        out["ctx"] = {
            k: str(v)[:_MESSAGE_MAX_CHARS] if not isinstance(v, (int, float, bool)) else v
            for k, v in error["ctx"].items()
        }
    return out


def create_app() -> FastAPI:
    app = FastAPI(
        title="data-extract API",
        version=__version__,
        description="Extract text and tables with provenance from mixed documents; chunked, evaluated and stored "
        "as downloadable artifacts.",
    )
    modules = (auth, jobs, sessions, config, health, uploads)
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX)
    methods_by_path = _MethodsByPath([(API_PREFIX + r.path, r) for m in modules for r in m.router.routes])
    app.include_router(ui.router)  # the operator page at "/"

    @app.exception_handler(JobError)
    async def job_error(_: Request, exc: JobError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)

    @app.exception_handler(SecretUnavailable)
    async def secret_unavailable(_: Request, exc: SecretUnavailable) -> JSONResponse:
        logger.error("job secret could not be sealed", extra={"reason": str(exc)})
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": "30"},
            content={"detail": "The document password cannot be protected right now; try again later."},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": [_public_error(e) for e in exc.errors()]})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if exc.status_code == 405:
            allowed = methods_by_path.allowed(request.url.path.removeprefix(request.scope.get("root_path", "")))
            return JSONResponse(
                status_code=405, content={"detail": "Method Not Allowed"}, headers={"Allow": ", ".join(allowed)}
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never leak internals in a 5xx body; the log has the traceback. This answer leaves through Starlette's
        # outermost middleware, so it carries the security headers itself.
        logger.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(
            status_code=500,
            content={"detail": "Internal server error"},
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"},
        )

    app.add_middleware(SecurityHeaders)
    return app
