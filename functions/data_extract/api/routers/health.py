"""Health: basic readiness (public) and a detailed view (authenticated, booleans only for security)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import HTTPException

from data_extract import __version__
from data_extract.api.deps import SettingsDep, StoreDep, auth_enabled, is_authenticated
from data_extract.api.responses import error_responses
from data_extract.contract import (
    DetailedHealthResponse,
    ExtractorReadiness,
    HealthResponse,
    QueueDepth,
    SecurityPosture,
    utc_now,
)
from data_extract.pipeline.formats import supported_formats
from data_extract.store import Store

router = APIRouter(tags=["health"])


def _depth(store: Store, url: str) -> QueueDepth:
    depth = store.queues.depth(url)
    return QueueDepth(reachable=False) if depth is None else QueueDepth(reachable=True, **depth)


@router.get(
    "/health",
    response_model=DetailedHealthResponse | HealthResponse,
    summary="Readiness; ?detailed=true adds queues, storage, extractors and security posture",
    responses=error_responses(401),
)
def health(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    detailed: Annotated[bool, Query(description="include queue, storage and extractor details (needs auth)")] = False,
) -> DetailedHealthResponse | HealthResponse:
    table_ok = store.table.reachable()
    bucket_ok = store.objects.reachable()
    work = _depth(store, store.queues.work_url)
    problems = [
        name for name, ok in (("table", table_ok), ("bucket", bucket_ok), ("work_queue", work.reachable)) if not ok
    ]
    status = "ok" if not problems else "error"
    if not detailed:
        return HealthResponse(status=status, ready=not problems, timestamp=utc_now())
    if not is_authenticated(request, store):
        raise HTTPException(status_code=401, detail="Unauthorized")
    dlq = _depth(store, store.queues.work_dlq_url)
    finalize = _depth(store, store.queues.finalize_url)
    readiness = store.table.get_worker_readiness() if table_ok else None
    if dlq.visible:
        problems.append("dead_letter_messages")
    if readiness is None:
        problems.append("worker_not_reported")
    if status == "ok" and problems:
        status = "degraded"
    return DetailedHealthResponse(
        status=status,
        ready=table_ok and bucket_ok and work.reachable,
        timestamp=utc_now(),
        version=__version__,
        work_queue=work,
        work_dead_letter=dlq,
        finalize_queue=finalize,
        table_reachable=table_ok,
        bucket_reachable=bucket_ok,
        extractors=ExtractorReadiness(
            formats=readiness["formats"] if readiness else supported_formats(),
            ocr_available=readiness.get("ocr_available") if readiness else None,
            reported_by_worker=readiness is not None,
            checked_at=readiness.get("checked_at") if readiness else None,
        ),
        security=SecurityPosture(
            api_key_configured=auth_enabled(),
            session_secret_configured=bool(settings.api_session_secret or settings.api_session_secret_id),
            session_revocation=True,
            input_roots_restricted=True,
            https_only_cookies=request.url.scheme == "https",
        ),
        problems=problems,
    )
