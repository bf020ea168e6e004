"""API key checks and signed session tokens (pure functions; the revocation list lives in the table).

Several API keys may be valid at once, so a key can be rotated without downtime: add the new one, move the
clients, remove the old one. Session tokens are signed with itsdangerous under a session secret of their own,
never with an API key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer

# Separates session signatures from anything else signed with the same secret.
_SESSION_SALT = "data-extract.session.v3"
# Longer cookies are never tokens this service issued: refused before any decoding.
MAX_TOKEN_CHARS = 512


def parse_keys(raw: str) -> tuple[str, ...]:
    """Configured API keys: comma- or newline-separated, blanks dropped, order kept, duplicates once."""
    keys: list[str] = []
    for part in raw.replace("\n", ",").split(","):
        key = part.strip()
        if key and key not in keys:
            keys.append(key)
    return tuple(keys)


def _digest(value: str) -> bytes:
    # Comparing digests keeps the comparison's time independent of the keys' lengths too.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()


def matching_key_index(given: str | None, keys: Sequence[str]) -> int | None:
    """Index of the configured key the offered one equals, or None.

    Every configured key is compared, each in constant time, so the answer's timing tells nothing about which
    key (or how much of one) matched.
    """
    if not given or not keys:
        return None
    offered = _digest(given.strip())
    found: int | None = None
    for index, key in enumerate(keys):
        if hmac.compare_digest(offered, _digest(key)) and found is None:
            found = index
    return found


def keys_match(given: str | None, keys: Sequence[str]) -> bool:
    return matching_key_index(given, keys) is not None


def key_fingerprint(key: str) -> str:
    """A short, one-way name for a key, for logs and audits: which key a client used, never the key."""
    return hashlib.sha256(b"data-extract api key\x00" + key.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class SessionToken:
    sid: str
    exp: int


def _serializer(secret: str) -> URLSafeTimedSerializer:
    if not secret:
        raise ValueError("a session secret is required to sign session tokens")
    return URLSafeTimedSerializer(secret, salt=_SESSION_SALT)


def issue_token(secret: str, now: int, ttl: int) -> tuple[str, SessionToken]:
    token = SessionToken(sid=secrets.token_urlsafe(16), exp=now + ttl)
    signer = _serializer(secret)
    # itsdangerous stamps the signing time from the clock; the claims carry the expiry the caller decided.
    raw = signer.dumps({"sid": token.sid, "exp": token.exp})
    return raw, token


def verify_token(secret: str, raw: str | None, now: int) -> SessionToken | None:
    """The token's claims when its signature is valid and it has not expired; else None. Never raises on input."""
    if not raw or len(raw) > MAX_TOKEN_CHARS or not raw.isascii():
        return None
    try:
        claims = _serializer(secret).loads(raw)
    except (BadData, ValueError, UnicodeError):
        return None
    if not isinstance(claims, dict):
        return None
    exp, sid = claims.get("exp"), claims.get("sid")
    if type(exp) is not int or not isinstance(sid, str) or not sid or exp <= now:
        return None
    return SessionToken(sid=sid, exp=exp)
