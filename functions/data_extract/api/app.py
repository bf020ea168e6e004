"""create_app(): the FastAPI application (routers, error handlers). Served by Mangum in Lambda."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from data_extract import __version__
from data_extract.api.routers import auth, config, health, jobs, sessions, ui, uploads
from data_extract.jobs.errors import JobError, Overloaded
from data_extract.store import SecretUnavailable

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app() -> FastAPI:
    app = FastAPI(
        title="data-extract API",
        version=__version__,
        description="Extract text and tables with provenance from mixed documents; chunked, evaluated and stored "
                    "as downloadable artifacts.",
    )
    for module in (auth, jobs, sessions, config, health, uploads):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(ui.router)  # the operator page at "/"

    @app.exception_handler(JobError)
    async def job_error(_: Request, exc: JobError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=headers)

    @app.exception_handler(SecretUnavailable)
    async def secret_unavailable(_: Request, exc: SecretUnavailable) -> JSONResponse:
        logger.error("job secret could not be sealed", extra={"reason": str(exc)})
        return JSONResponse(status_code=503, headers={"Retry-After": "30"},
                            content={"detail": "The document password cannot be protected right now; try again later."})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Never leak internals in a 5xx body; the log has the traceback.
        logger.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(status_code=500, content={"detail": "Internal server error"})

    _document_manual_bodies(app)
    return app


def _document_manual_bodies(app: FastAPI) -> None:
    """POST /jobs/process parses its body itself (JSON or multipart); put its JSON model into the document."""
    from data_extract.contract import ProcessJobRequest

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = FastAPI.openapi(app)
            model = ProcessJobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in model.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components["ProcessJobRequest"] = model
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
