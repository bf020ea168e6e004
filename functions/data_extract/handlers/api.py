"""API Lambda: Mangum over the FastAPI app (HTTP API v2 and REST v1 events)."""

from __future__ import annotations

import re
from typing import Any

from aws_lambda_powertools import Logger
from mangum import Mangum

from data_extract.api.app import create_app
from data_extract.observability import correlated, make_tracer, route_package_logs

logger = Logger()
tracer = make_tracer()
app = create_app()
route_package_logs(logger)
_JOB_PATH = re.compile(r"/api/v1/jobs/([A-Za-z0-9_-]{1,64})(?:/|$)")
_adapters: dict[str, Mangum] = {}


def _adapter_for(event: dict[str, Any]) -> Mangum:
    # HTTP APIs put a named stage into the path ("/prod/api/v1/..."); "$default" and REST APIs do not.
    stage = event.get("requestContext", {}).get("stage") if event.get("version") == "2.0" else None
    base_path = f"/{stage}" if stage and stage != "$default" else "/"
    if base_path not in _adapters:
        _adapters[base_path] = Mangum(app, lifespan="off", api_gateway_base_path=base_path)
    return _adapters[base_path]


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # A request about one job (its detail, retry, artifacts, ...) logs under that job's id.
    job = _JOB_PATH.search(event.get("rawPath") or event.get("path") or "")
    with correlated(logger, job_id=job.group(1) if job else None):
        return _adapter_for(event)(event, context)
