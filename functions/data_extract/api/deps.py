"""Typed FastAPI dependencies: settings, store, auth."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import HTTPException

from data_extract.api import security
from data_extract.settings import Settings, get_settings
from data_extract.store import Store, get_store

SESSION_COOKIE_NAME = "data_extract_session"


def settings_dep() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def store_dep() -> Store:
    return get_store()


StoreDep = Annotated[Store, Depends(store_dep)]


@lru_cache(maxsize=1)
def api_key() -> str:
    """The configured API key: from the environment, else from the named secret ('' = auth off)."""
    settings = get_settings()
    if settings.api_key:
        return settings.api_key
    if settings.api_key_secret_id:
        from data_extract.store import read_secret

        return read_secret(settings.api_key_secret_id)
    return ""


def session_secret() -> str:
    return get_settings().api_session_secret or api_key()


def reset_auth_cache() -> None:
    api_key.cache_clear()
    get_store.cache_clear()


def session_from_request(request: Request, store: Store) -> security.SessionToken | None:
    now = int(time.time())
    token = security.verify_token(session_secret(), request.cookies.get(SESSION_COOKIE_NAME), now)
    if token is None or not store.table.login_active(token.sid, now):
        return None
    return token


def is_authenticated(request: Request, store: Store) -> bool:
    key = api_key()
    if not key:
        return True
    if security.keys_match(request.headers.get("x-api-key"), key):
        return True
    return session_from_request(request, store) is not None


def require_auth(request: Request, store: StoreDep) -> None:
    if not is_authenticated(request, store):
        raise HTTPException(status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "ApiKey"})


Authenticated = Depends(require_auth)
