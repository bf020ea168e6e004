"""API key checks and signed session tokens (pure functions; the revocation list lives in the table)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def keys_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of an offered API key with the configured one."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True)
class SessionToken:
    sid: str
    exp: int


def issue_token(secret: str, now: int, ttl: int) -> tuple[str, SessionToken]:
    token = SessionToken(sid=secrets.token_urlsafe(16), exp=now + ttl)
    payload = _b64(json.dumps({"exp": token.exp, "sid": token.sid, "v": 2}, sort_keys=True,
                              separators=(",", ":")).encode())
    sig = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{sig}", token


def verify_token(secret: str, raw: str | None, now: int) -> SessionToken | None:
    """The token's claims when its signature is valid and it has not expired; else None."""
    if not raw or raw.count(".") != 1 or len(raw) > 512:
        return None
    payload, sig = raw.split(".")
    expected = _b64(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(sig, expected):
        return None
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(claims, dict) or claims.get("v") != 2:
        return None
    exp, sid = claims.get("exp"), claims.get("sid")
    if not isinstance(exp, int) or not isinstance(sid, str) or exp <= now:
        return None
    return SessionToken(sid=sid, exp=exp)
