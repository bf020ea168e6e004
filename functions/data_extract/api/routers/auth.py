"""Auth: API key login to a signed, expiring, revocable session cookie."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response

from data_extract.api import security
from data_extract.api.deps import (
    SESSION_COOKIE_NAME,
    SettingsDep,
    StoreDep,
    api_keys,
    auth_enabled,
    key_in_header,
    session_from_request,
    session_secret,
)
from data_extract.api.responses import error_responses
from data_extract.contract import LoginRequest, SessionStatusResponse
from data_extract.jobs.errors import JobError

router = APIRouter(prefix="/auth", tags=["auth"])


def _expires(exp: int) -> datetime:
    return datetime.fromtimestamp(exp, tz=UTC)


def _set_cookie(response: Response, request: Request, token: str, ttl: int) -> None:
    response.set_cookie(
        SESSION_COOKIE_NAME,
        token,
        max_age=ttl,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _clear_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )


class Unauthorized(JobError):
    status_code = 401


@router.post(
    "/session",
    response_model=SessionStatusResponse,
    summary="Log in with the API key",
    responses=error_responses(400, 401, 422),
)
def login(
    body: LoginRequest, request: Request, response: Response, store: StoreDep, settings: SettingsDep
) -> SessionStatusResponse:
    if not auth_enabled():
        _clear_cookie(response, request)
        return SessionStatusResponse(authenticated=True, api_key_configured=False, expires_at=None)
    if not security.keys_match(body.api_key, api_keys()):
        raise Unauthorized("Unauthorized")
    ttl = settings.api_session_ttl_seconds
    token, claims = security.issue_token(session_secret(), int(time.time()), ttl)
    store.table.put_login(claims.sid, claims.exp)
    _set_cookie(response, request, token, ttl)
    return SessionStatusResponse(authenticated=True, api_key_configured=True, expires_at=_expires(claims.exp))


@router.get("/session", response_model=SessionStatusResponse, summary="Current authentication status")
def status(request: Request, store: StoreDep) -> SessionStatusResponse:
    if not auth_enabled():
        return SessionStatusResponse(authenticated=True, api_key_configured=False, expires_at=None)
    claims = session_from_request(request, store)
    if claims is not None:
        return SessionStatusResponse(authenticated=True, api_key_configured=True, expires_at=_expires(claims.exp))
    by_header = key_in_header(request)
    return SessionStatusResponse(authenticated=by_header, api_key_configured=True, expires_at=None)


@router.delete("/session", response_model=SessionStatusResponse, summary="Log out: revoke the session")
def logout(request: Request, response: Response, store: StoreDep) -> SessionStatusResponse:
    enabled = auth_enabled()
    if enabled:
        claims = security.verify_token(session_secret(), request.cookies.get(SESSION_COOKIE_NAME), int(time.time()))
        if claims is not None:
            store.table.delete_login(claims.sid)  # a copied token stops working too
    _clear_cookie(response, request)
    return SessionStatusResponse(authenticated=not enabled, api_key_configured=enabled, expires_at=None)
