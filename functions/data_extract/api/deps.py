"""Typed FastAPI dependencies: settings, store, auth."""

from __future__ import annotations

import logging
import secrets
import time
from functools import lru_cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import HTTPException

from data_extract.api import security
from data_extract.settings import Settings, get_settings
from data_extract.store import Store, get_store

logger = logging.getLogger(__name__)

SESSION_COOKIE_NAME = "data_extract_session"


def settings_dep() -> Settings:
    return get_settings()


SettingsDep = Annotated[Settings, Depends(settings_dep)]


def store_dep() -> Store:
    return get_store()


StoreDep = Annotated[Store, Depends(store_dep)]


@lru_cache(maxsize=1)
def api_keys() -> tuple[str, ...]:
    """The valid API keys: from the environment, else from the named secret (none = auth off)."""
    settings = get_settings()
    if settings.api_key:
        return security.parse_keys(settings.api_key)
    if settings.api_key_secret_id:
        from data_extract.store import read_secret

        return security.parse_keys(read_secret(settings.api_key_secret_id))
    return ()


def auth_enabled() -> bool:
    return bool(api_keys())


@lru_cache(maxsize=1)
def session_secret() -> str:
    """The secret session tokens are signed with: configured, else from its secret, else random per process."""
    settings = get_settings()
    secret = settings.api_session_secret
    if not secret and settings.api_session_secret_id:
        from data_extract.store import read_secret

        secret = read_secret(settings.api_session_secret_id)
    if secret and secret in api_keys():
        # Whoever holds that key could forge sessions that outlive the key's removal.
        logger.error("the session secret equals an API key; signing sessions with a random secret instead")
        secret = ""
    if not secret:
        if api_keys():
            logger.warning("no session secret configured: sessions are valid only on the process that issued them")
        secret = secrets.token_urlsafe(32)
    return secret


def reset_auth_cache() -> None:
    api_keys.cache_clear()
    session_secret.cache_clear()
    get_store.cache_clear()


def session_from_request(request: Request, store: Store) -> security.SessionToken | None:
    now = int(time.time())
    token = security.verify_token(session_secret(), request.cookies.get(SESSION_COOKIE_NAME), now)
    if token is None or not store.table.login_active(token.sid, now):
        return None
    return token


def key_in_header(request: Request) -> bool:
    """Whether the request's X-API-Key is one of the valid keys; logs which one (by fingerprint), never the key."""
    keys = api_keys()
    index = security.matching_key_index(request.headers.get("x-api-key"), keys)
    if index is None:
        return False
    logger.debug("authenticated by API key", extra={"api_key_fingerprint": security.key_fingerprint(keys[index])})
    return True


def is_authenticated(request: Request, store: Store) -> bool:
    if not auth_enabled():
        return True
    if key_in_header(request):
        return True
    return session_from_request(request, store) is not None


def require_auth(request: Request, store: StoreDep) -> None:
    if not is_authenticated(request, store):
        raise HTTPException(status_code=401, detail="Unauthorized", headers={"WWW-Authenticate": "ApiKey"})


Authenticated = Depends(require_auth)
