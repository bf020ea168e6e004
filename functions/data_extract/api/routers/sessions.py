"""Sessions: one record per processing run of a job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from data_extract.api.deps import Authenticated, StoreDep
from data_extract.api.responses import error_responses
from data_extract.contract import SessionDetail, SessionSummary
from data_extract.jobs import query

router = APIRouter(prefix="/sessions", tags=["sessions"], dependencies=[Authenticated])


@router.get(
    "",
    response_model=list[SessionSummary],
    summary="List sessions, most recently updated first",
    responses=error_responses(401, 422),
)
def list_sessions(
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SessionSummary]:
    return query.list_sessions(store, limit, offset)


@router.get(
    "/{session_id}",
    response_model=SessionDetail,
    summary="Session detail (any status)",
    responses=error_responses(401, 404),
)
def get_session(session_id: Annotated[str, Path(max_length=64)], store: StoreDep) -> SessionDetail:
    return query.session_detail(store, session_id)
